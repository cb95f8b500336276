"""The only room that imports ``twilio``: transport, TaskRouter, Flex Users API, errors, rate limit.

Does: build the ``twilio`` client, run every request through the shared rate cap and the retry
policy, and offer the few TaskRouter and Flex Users API calls the sync needs, failing with typed
errors.
Does not: know SCIM, the store, or what a worker should look like (``flex.mapping``).
"""
