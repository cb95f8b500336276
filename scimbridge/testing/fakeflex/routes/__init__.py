"""The fake's routes: TaskRouter v1, the Flex APIs, the test-control API and the demo page.

Does: map each live API path and its parameters onto the fake's state, in the live status codes.
Does not: hold state (``fakeflex.state``, ``fakeflex.users``) or decide faults
(``fakeflex.faults``).
"""
