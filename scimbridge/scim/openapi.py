"""The OpenAPI 3 description of the SCIM API, served as it is written at ``GET /openapi.json``.

Does: read the static ``openapi.json`` that ships beside this module (once, at app build) and
answer it without authentication, so clients, gateways and API fuzzers can read the contract.
Does not: generate the description from the routes, or reflect the configured limits (the
document states the defaults and names the ``[scim.limits]`` keys; ``/ServiceProviderConfig``
advertises the live ``filter.maxResults``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

PATH = "/openapi.json"


def openapi_document() -> bytes:
    """The description as shipped (UTF-8 JSON)."""
    return files("scimbridge.scim").joinpath("openapi.json").read_bytes()


def openapi_endpoint() -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering the description; the file is read once, here."""
    document = openapi_document()

    async def endpoint(request: Request) -> Response:
        return Response(document, media_type="application/json")

    return endpoint
