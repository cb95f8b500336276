"""The OpenAPI 3 description of the SCIM API, served as it is written at ``GET /openapi.json``.

Does: read the static ``openapi.json`` that ships beside this module (once, at app build) and
answer it without authentication, so clients, gateways and API fuzzers can read the contract.
Does not: generate the description from the routes, or reflect the configured limits (the
document states the defaults and names the ``[scim.limits]`` keys; ``/ServiceProviderConfig``
advertises the live ``filter.maxResults``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim.errors import error_response

PATH = "/openapi.json"
log = logging.getLogger("scimbridge")


def openapi_document() -> bytes:
    """The description as shipped (UTF-8 JSON). Raises OSError when it was not installed."""
    return files("scimbridge.scim").joinpath("openapi.json").read_bytes()


def openapi_endpoint() -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering the description; the file is read once, here.

    An installation without the file still serves SCIM; this endpoint then answers 404.
    """
    try:
        document: bytes | None = openapi_document()
    except OSError:
        log.warning("openapi.json is not installed; GET %s answers 404", PATH)
        document = None

    async def endpoint(request: Request) -> Response:
        if document is None:
            return error_response(404, "the OpenAPI description is not installed")
        return Response(document, media_type="application/json")

    return endpoint
