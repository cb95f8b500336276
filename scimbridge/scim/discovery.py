"""The three discovery endpoints of RFC 7644 §4: ServiceProviderConfig, Schemas, ResourceTypes.

Does: describe what this service supports (PATCH, filter with its result limit, sort, ETags; no
bulk, no password change), the limits it enforces, and the schemas it serves, including the
custom extensions declared in the configuration.
Does not: serve resources or read the database.
"""

from __future__ import annotations

from typing import Any

from scimbridge.config.settings import Limits
from scimbridge.scim.extensions import ResourceModels

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
DOCUMENTATION_URI = "https://github.com/scimbridge/scimbridge#readme"


def service_provider_config(limits: Limits, base_url: str) -> dict[str, Any]:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": DOCUMENTATION_URI,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": limits.max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token issued by scimbridge "
                "(the Secret Token in Entra's provisioning settings).",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def schemas(models: ResourceModels, base_url: str) -> list[dict[str, Any]]:
    result = []
    for schema in models.schemas():
        schema = dict(schema)
        schema["meta"] = {
            "resourceType": "Schema",
            "location": f"{base_url}/Schemas/{schema['id']}",
        }
        result.append(schema)
    return result


def resource_types(models: ResourceModels, base_url: str) -> list[dict[str, Any]]:
    result = []
    for resource_type in models.resource_types():
        resource_type = dict(resource_type)
        resource_type["meta"] = {
            "resourceType": "ResourceType",
            "location": f"{base_url}/ResourceTypes/{resource_type['id']}",
        }
        result.append(resource_type)
    return result
