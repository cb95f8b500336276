"""What the unit tests of the everyday paths share: resource models with a declared extension,
and the user Entra's provisioning tutorial creates."""

from __future__ import annotations

from typing import Any

from scimbridge.config.settings import ExtensionAttribute, ExtensionSchema
from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN, ResourceModels

ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
# The built-in models plus one declared custom extension (a string ``team``).
ACME_MODELS = ResourceModels(
    [ExtensionSchema(urn=ACME, name="Acme", attributes=(ExtensionAttribute("team", "string"),))]
)

# The POST of Entra's SCIM validation tutorial: ``meta`` sent, ``roles`` empty.
ENTRA_TUTORIAL_POST: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE_URN],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": True,
    "emails": [{"primary": True, "type": "work", "value": "Test_User@testuser.com"}],
    "meta": {"resourceType": "User"},
    "name": {"formatted": "givenName familyName", "familyName": "f", "givenName": "g"},
    "roles": [],
}
