"""Who is calling: bearer tokens (hashed at rest, several live at once, plus a static one).

Does: read ``Authorization: Bearer …``, compare a static token in constant time, look stored
tokens up by hash (with a short cache so revocation takes effect within seconds), and name the
caller for the audit log.
Does not: log or echo any token, or create tokens (``store.tokens`` and the CLI do).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from scimbridge.store.tokens import find_live_token, token_hash

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
    """Checks presented bearer tokens. Thread-safe."""

    def __init__(
        self,
        engine: Engine,
        static_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._static = static_token.encode() if static_token else None
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

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
        """Return the caller for ``token``, or None when it is not a live token."""
        answered, principal = self.known(token)
        if answered:
            return principal
        key = token_hash(token)
        now = self._clock()
        name = find_live_token(self._engine, token)
        principal = Principal(f"token:{name}") if name else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + CACHE_SECONDS, principal)
        return principal
