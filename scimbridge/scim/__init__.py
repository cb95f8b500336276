"""HTTP ⇄ SCIM. Knows no Twilio.

Does: serve the SCIM 2.0 endpoints (routes, auth, errors, discovery), normalize Entra ID's dialect
in one place (``dialect``, ``roles``), build the scim2-models classes for the configured extensions
(``extensions``) and turn requests into stored documents and documents into responses
(``documents``).
Does not: write rows itself (``store.directory`` does), or know anything of Twilio or Flex.
"""
