"""User → desired worker: what a stored SCIM user's TaskRouter worker should look like.

Does: parse the ``[flex]`` mapping (attributes, expressions, roles, skills, OIDC claim sources,
identity) and evaluate it on a stored user document and its groups into a desired worker; merge
the owned keys into a worker's current attributes; translate a Flex SSO claims-mapping policy.
Does not: call Twilio (``flex.twilio``), read the store, or decide when to sync (``flex.sync``).
"""
