"""Entra-signed JWTs: the tenant's signing keys, and the checks a token must pass.

Does: load a JWKS from a file or an https URL (timeout, size cap, cache; refetched on an unknown
``kid`` or after a day, at most once per ``min_refresh_seconds`` so forged ``kid`` values cannot
make us hammer Microsoft); verify RS256 signatures only (``none``, HS* and every other algorithm
are refused before any key is touched, which closes the RSA-public-key-as-HMAC-secret confusion);
check ``iss`` exactly, ``aud``, ``tid``, optionally ``sub`` and ``appid``, and ``exp``/``nbf``/
``iat`` with leeway. Used both for Entra-issued bearer tokens and for workload identity client
assertions.
Does not: log or return any token, decide which principal a token maps to beyond naming it, or
keep track of token ids seen (a replayed, still-valid token passes; see ``scim.token_endpoint``).
Blocking: a refetch does network I/O; callers run verification in a worker thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from scimbridge.config.errors import ConfigError
from scimbridge.scim.auth_config import EntraJwtConfig, JwksSource

log = logging.getLogger("scimbridge.auth")

ALGORITHM = "RS256"
MAX_TOKEN_CHARS = 16_384
MAX_JWKS_BYTES = 1024 * 1024
MIN_RSA_BITS = 2048
FETCH_TIMEOUT_SECONDS = 5.0
MIN_REFRESH_SECONDS = 60.0
MAX_KEY_AGE_SECONDS = 24 * 3600.0
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "tid"]


class JwksError(ValueError):
    """A key set could not be read or holds no usable RSA signing key."""


class JwtRefused(Exception):
    """A token failed a check. ``reason`` is fixed wording safe to tell the caller; ``detail``
    adds the offending value (a claim, never the token) for the operator's log."""

    def __init__(self, reason: str, value: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = f"{reason}: {value}" if value else reason


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """Return ``kid`` → RSA public key for each usable signing key in a JWKS document."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError('a JWKS is a JSON object with a "keys" array')
    keys: dict[str, RSAPublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(dict(entry), algorithm=ALGORITHM).key
        except jwt.PyJWTError as exc:
            log.warning("skipping signing key %r: %s", kid[:64], exc)
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    if not keys:
        raise JwksError("the JWKS holds no RSA signing key of at least 2048 bits")
    return keys


def fetch_jwks(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> Any:
    """GET ``url`` and decode it as JSON; ``timeout`` bounds the connect and each read."""
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "scimbridge"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
    return json.loads(body)


def read_jwks_file(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class SigningKeys:
    """A cached key set, reloaded through ``load`` when a ``kid`` is unknown or the set is old.

    Reloads happen at most once per ``min_refresh_seconds`` (failed ones too), one at a time;
    a failed reload keeps the keys already held. Thread-safe.
    """

    def __init__(
        self,
        load: Callable[[], Any],
        *,
        describe: str,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
        max_age_seconds: float = MAX_KEY_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.describe = describe
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def load_now(self) -> None:
        """Load the keys at once, raising :class:`JwksError` if that fails (startup check)."""
        with self._lock:
            self._attempted_at = self._clock()
            self._install(parse_jwks(self._load()))

    def key_for(self, kid: str) -> RSAPublicKey | None:
        now = self._clock()
        key = self._keys.get(kid)
        fresh = self._loaded_at is not None and now - self._loaded_at < self._max_age
        if key is not None and fresh:
            return key
        self._refresh(now)
        return self._keys.get(kid)

    def _install(self, keys: dict[str, RSAPublicKey]) -> None:
        self._keys = keys
        self._loaded_at = self._clock()

    def _refresh(self, now: float) -> None:
        with self._lock:
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh:
                return
            self._attempted_at = now
            try:
                self._install(parse_jwks(self._load()))
            except (OSError, ValueError) as exc:
                log.warning("could not load signing keys from %s: %s", self.describe, exc)


def signing_keys(source: JwksSource, **options: Any) -> SigningKeys:
    """Keys for ``source``. A file is read now (a bad file is a :class:`ConfigError`); a URL is
    fetched on first use, so startup never waits on, or fails because of, the network."""
    if source.file is not None:
        path = source.file
        keys = SigningKeys(lambda: read_jwks_file(path), describe=path, **options)
        try:
            keys.load_now()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot use the JWKS file {path}: {exc}") from exc
        return keys
    assert source.url is not None
    url = source.url
    return SigningKeys(lambda: fetch_jwks(url), describe=url, **options)


@dataclass(frozen=True)
class ClaimRules:
    """What a token must say about itself. ``subject`` None means any ``sub``."""

    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    tenant_id: str
    leeway_seconds: float = 60.0
    subject: str | None = None


def _quote(value: Any) -> str:
    return repr(value)[:120]


def verify_jwt(token: str, keys: SigningKeys, rules: ClaimRules) -> dict[str, Any]:
    """Return the claims of ``token`` if it passes every check, else raise :class:`JwtRefused`."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise JwtRefused("not a JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise JwtRefused("not a JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise JwtRefused("algorithm not accepted", f"algorithm {_quote(header.get('alg'))}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwtRefused("no key id")
    key = keys.key_for(kid)
    if key is None:
        raise JwtRefused("unknown signing key", f"key id {_quote(kid)} is not in {keys.describe}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            leeway=rules.leeway_seconds,
            options={"require": REQUIRED_CLAIMS, "verify_aud": False, "verify_iss": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise JwtRefused("bad signature") from exc
    except jwt.ExpiredSignatureError as exc:
        raise JwtRefused("expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise JwtRefused("not yet valid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise JwtRefused("missing claim", exc.claim) from exc
    except jwt.PyJWTError as exc:
        raise JwtRefused("invalid token", str(exc)) from exc
    _check_claims(claims, rules)
    return claims


def _check_claims(claims: Mapping[str, Any], rules: ClaimRules) -> None:
    if claims["iss"] not in rules.issuers:
        raise JwtRefused("wrong issuer", _quote(claims["iss"]))
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(a in rules.audiences for a in audiences if isinstance(a, str)):
        raise JwtRefused("wrong audience", _quote(claims["aud"]))
    tid = claims["tid"]
    if not isinstance(tid, str) or tid.lower() != rules.tenant_id.lower():
        raise JwtRefused("wrong tenant", _quote(tid))
    if rules.subject is not None and claims.get("sub") != rules.subject:
        raise JwtRefused("wrong subject", _quote(claims.get("sub")))


@dataclass(frozen=True)
class JwtCaller:
    """Who a verified token names, and until when (seconds since the epoch) it is valid."""

    name: str
    expires_at: float


class EntraJwtVerifier:
    """Accepts an Entra-issued access token as the SCIM bearer token (``[auth.entra_jwt]``)."""

    def __init__(self, config: EntraJwtConfig, keys: SigningKeys) -> None:
        self.config = config
        self.keys = keys
        self.rules = ClaimRules(
            issuers=config.issuers,
            audiences=config.audiences,
            tenant_id=config.tenant_id,
            leeway_seconds=config.leeway_seconds,
        )

    def check(self, token: str) -> JwtCaller | None:
        """The caller (``entra-jwt:<app id>``) if ``token`` passes, else None (reason logged)."""
        try:
            claims = verify_jwt(token, self.keys, self.rules)
        except JwtRefused as exc:
            log.info("Entra JWT refused: %s", exc.detail)
            return None
        app = claims.get("appid") or claims.get("azp")
        if self.config.app_ids and app not in self.config.app_ids:
            log.info("Entra JWT refused: app %s is not in auth.entra_jwt.app_ids", _quote(app))
            return None
        caller = app or claims.get("oid") or claims.get("sub") or "unknown"
        return JwtCaller(f"entra-jwt:{str(caller)[:100]}", float(claims["exp"]))


def looks_like_jwt(token: str) -> bool:
    """True for a compact JWS (three base64url parts, JSON header); cheap, no decoding."""
    return token.startswith("eyJ") and token.count(".") == 2
