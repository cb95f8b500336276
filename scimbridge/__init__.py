"""scimbridge: a SCIM 2.0 service provider for Microsoft Entra ID that keeps Twilio Flex
TaskRouter workers converged to the directory.

Packages: ``scim`` (HTTP and the SCIM protocol), ``store`` (persistence), ``flex`` (the
Twilio side), ``ops`` (health, metrics, logging), ``testing`` (the fake Flex server).
``scim`` and ``flex`` never import each other; ``app``, ``cli`` and ``wiring`` connect them.
"""

__version__ = "0.1.0"
