"""Who is calling: bearer tokens (hashed at rest, several live at once, plus a static one).

Does: read ``Authorization: Bearer …``, compare a static token in constant time, look stored
tokens up by hash, verify an Entra-issued JWT when ``[auth.entra_jwt]`` is set (results of both
cached briefly, so revocation and expiry take effect within seconds), then throttle failures
only: a valid credential is always admitted, and only a further *failed* attempt from a client
address that failed too often gets 429 with ``Retry-After`` instead of 401 (so a stranger's
failures from a shared address can never lock a valid token out); note when a stored token was
last used; name the caller for the audit log.
Does not: log or echo any token, or create tokens (``store.tokens``, the CLI and
``scim.token_endpoint`` do).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim.errors import error_response
from scimbridge.scim.jwt_auth import EntraJwtVerifier, looks_like_jwt
from scimbridge.scim.throttle import FailureThrottle, client_key
from scimbridge.store.tokens import Tokens, token_hash

log = logging.getLogger("scimbridge.auth")

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the audit log names it."""

    name: str


STATIC_PRINCIPAL = Principal("static-token")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class Authenticator:
    """Checks presented bearer tokens. Thread-safe.

    ``entra_jwt`` adds Entra-issued JWTs (tried for JWT-shaped tokens only, which no stored
    token is); ``throttle`` adds the per-address failure limit that :meth:`admit` applies.
    """

    def __init__(
        self,
        tokens: Tokens,
        static_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        entra_jwt: EntraJwtVerifier | None = None,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._tokens = tokens
        self._static = static_token.encode() if static_token else None
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        self.entra_jwt = entra_jwt
        self.throttle = throttle

    async def admit(self, request: Request) -> Principal | Response:
        """The caller of ``request``, or the SCIM error to answer with: 401, or 429 for a failed
        attempt while its client address is cooling down. The credential is checked first (a
        hash and an indexed lookup), so a valid one is never refused because of anyone's
        failures. Only a database or key lookup leaves the event loop."""
        token = bearer_token(request.headers.get("authorization"))
        principal = None
        if token:
            answered, principal = self.known(token)
            if not answered:
                principal = await run_in_threadpool(self.authenticate, token)
        if principal is not None:
            return principal
        if self.throttle is not None:
            address = client_key(request.client.host if request.client else None)
            wait = self.throttle.retry_after(address)
            if wait is not None:
                return error_response(
                    429,
                    f"too many failed authentications from this address; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
            if self.throttle.record_failure(address):
                log.warning(
                    "refusing failed authentications from %s for %.0f s after %d of them",
                    address,
                    self.throttle.cooldown,
                    self.throttle.max_failures,
                )
        return error_response(
            401,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="scimbridge"'},
        )

    def known(self, token: str) -> tuple[bool, Principal | None]:
        """Answer from memory only: ``(True, caller or None)``, or ``(False, None)`` when only
        the database can tell (then call :meth:`authenticate`). Never blocks on I/O."""
        if self._static is not None and hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self._static
        ):
            return True, STATIC_PRINCIPAL
        with self._lock:
            cached = self._cache.get(token_hash(token))
        if cached and cached[0] > self._clock():
            return True, cached[1]
        return False, None

    def authenticate(self, token: str) -> Principal | None:
        """Return the caller for ``token``, or None when it is not a live token. May block."""
        answered, principal = self.known(token)
        if answered:
            return principal
        now = self._clock()
        lifetime = CACHE_SECONDS
        if self.entra_jwt is not None and looks_like_jwt(token):
            caller = self.entra_jwt.check(token)
            principal = Principal(caller.name) if caller else None
            if caller:
                # Never remember a JWT past its own expiry.
                lifetime = min(lifetime, max(0.0, caller.expires_at - time.time()))
        else:
            name = self._tokens.find_live_token(token)
            principal = Principal(f"token:{name}") if name else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token_hash(token)] = (now + lifetime, principal)
        return principal
