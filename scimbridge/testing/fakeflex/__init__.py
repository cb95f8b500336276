"""A faithful, stateful fake of Twilio TaskRouter and the Flex APIs the sync uses.

Does: serve over real HTTP (``server``, ``app``, ``routes/``) what the live APIs document: worker
rules and shapes (``state``, ``render``, ``records``), Flex users and SSO logins (``users``),
reservations, faults, recording, and the page a person looks at during a demo.
Does not: import the product it fakes (it computes what Flex computes from its own reading of
Twilio's rules), or talk to Twilio.
"""
