"""scimbridge: a SCIM 2.0 service provider for Microsoft Entra ID that keeps Twilio Flex
TaskRouter workers converged to the directory.

Packages: ``config`` (settings, read once), ``scim`` (HTTP and the SCIM protocol), ``store``
(persistence), ``flex`` (the Twilio side), ``ops`` (health, metrics, logging), ``testing`` (the
fake Flex server). ``scim`` and ``flex`` never import each other; ``runtime`` (the composition
root) builds the parts, ``app`` makes the HTTP application over them and ``cli`` runs commands.
"""

__version__ = "0.1.0"
