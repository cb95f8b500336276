"""The ``[auth]`` table of the TOML file: which ways of authenticating are on, and their limits.

Does: check ``[auth.entra_jwt]``, ``[auth.workload_identity]``, ``[auth.client_credentials]`` and
``[auth.throttle]`` (unknown keys, types, ranges, GUIDs, https key URLs) and return a frozen
:class:`AuthConfig`, raising :class:`~scimbridge.config.errors.ConfigError` with an operator's
message.
Does not: load keys, open connections or authenticate anyone (``scim.jwt_auth``, ``scim.auth``
and ``scim.token_endpoint`` do).

Shape (every table optional; the static and stored bearer tokens need none of it)::

    [auth.entra_jwt]            # Entra-issued JWT as the bearer token (Entra calls it test-only)
    tenant_id = "<GUID>"
    audiences = ["8adf8e6e-67b2-4cf2-a259-e3dc5476c621"]   # default: non-gallery apps
    accept_v2_issuer = false    # also accept https://login.microsoftonline.com/<tid>/v2.0
    app_ids = ["<GUID>"]        # required: the token's appid/azp must be one of these
    jwks_url = "…" | jwks_file = "…"   # default: the tenant's v2.0 discovery keys
    leeway_seconds = 60

    [auth.workload_identity]    # POST /oauth2/token with an Entra-signed client assertion
    tenant_id, client_id, audience ("api://<appId>"), subject (object id), jwks_*, leeway_seconds
    token_lifetime_minutes = 60 # 60 to 360

    [auth.client_credentials]   # POST /oauth2/token with a client secret
    client_id = "…"
    client_secret_sha256 = ["<hex>", …]   # several at once for rotation
    token_lifetime_minutes = 60

    [auth.throttle]
    enabled = true, max_failures = 20, window_seconds = 60, cooldown_seconds = 60,
    max_clients = 10000
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from scimbridge.config.errors import ConfigError
from scimbridge.config.tables import Problems

NON_GALLERY_AUDIENCE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
TOKEN_LIFETIME_MINUTES = (60, 360)
DEFAULT_LEEWAY_SECONDS = 60.0
MAX_CLIENT_ID_LENGTH = 100
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_Parsed = TypeVar("_Parsed")


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def v2_issuer(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def tenant_keys_url(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys"


@dataclass(frozen=True)
class JwksSource:
    """Where signing keys come from: exactly one of a local file or an https URL."""

    file: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class EntraJwtConfig:
    tenant_id: str
    audiences: tuple[str, ...]
    issuers: tuple[str, ...]
    app_ids: tuple[str, ...]
    jwks: JwksSource
    leeway_seconds: float


@dataclass(frozen=True)
class WorkloadIdentityConfig:
    tenant_id: str
    client_id: str
    audience: str
    subject: str
    jwks: JwksSource
    leeway_seconds: float
    token_lifetime_minutes: int

    @property
    def issuer(self) -> str:
        return v2_issuer(self.tenant_id)


@dataclass(frozen=True)
class ClientSecretConfig:
    client_id: str
    secret_sha256: tuple[str, ...] = field(repr=False)
    token_lifetime_minutes: int


@dataclass(frozen=True)
class ThrottleConfig:
    enabled: bool = True
    max_failures: int = 20
    window_seconds: float = 60.0
    cooldown_seconds: float = 60.0
    max_clients: int = 10_000


@dataclass(frozen=True)
class AuthConfig:
    entra_jwt: EntraJwtConfig | None = None
    workload_identity: WorkloadIdentityConfig | None = None
    client_credentials: ClientSecretConfig | None = None
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)

    @property
    def token_endpoint_enabled(self) -> bool:
        return self.workload_identity is not None or self.client_credentials is not None


class _Table:
    """One sub-table being read: remembers its name for messages and refuses unknown keys."""

    def __init__(self, raw: Any, name: str, known: set[str]) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"[{name}] must be a table")
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"unknown [{name}] keys: {', '.join(sorted(unknown))}")
        self.raw = raw
        self.name = name

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.name}.{key} must be a non-empty string")
        return value.strip()

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.raw.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.name}.{key} must be a string or a list of strings")
        return tuple(v.strip() for v in value)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ConfigError(f"{self.name}.{key} must be a number of at least {minimum:g}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.name}.{key} must be an integer")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{self.name}.{key} must be {bounds}, got {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.name}.{key} must be true or false")
        return value

    def tenant(self) -> str:
        value = self.text("tenant_id")
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise ConfigError(
                f"{self.name}.tenant_id must be the directory (tenant) GUID, got {value!r}"
            ) from exc

    def client_id(self) -> str:
        value = self.text("client_id")
        if len(value) > MAX_CLIENT_ID_LENGTH or not value.isprintable() or ":" in value:
            raise ConfigError(
                f"{self.name}.client_id must be at most {MAX_CLIENT_ID_LENGTH} printable "
                "characters without ':'"
            )
        return value

    def jwks(self, tenant_id: str) -> JwksSource:
        has_file, has_url = "jwks_file" in self.raw, "jwks_url" in self.raw
        if has_file and has_url:
            raise ConfigError(f"{self.name}: set jwks_file or jwks_url, not both")
        if has_file:
            return JwksSource(file=self.text("jwks_file"))
        url = self.text("jwks_url", tenant_keys_url(tenant_id))
        parts = urlsplit(url)
        if not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname))):
            raise ConfigError(f"{self.name}.jwks_url must be an https URL, got {url!r}")
        return JwksSource(url=url)

    def lifetime(self) -> int:
        low, high = TOKEN_LIFETIME_MINUTES
        return self.integer("token_lifetime_minutes", low, low, high)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _entra_jwt(raw: Any) -> EntraJwtConfig:
    table = _Table(
        raw,
        "auth.entra_jwt",
        {"tenant_id", "audiences", "accept_v2_issuer", "app_ids", "jwks_file", "jwks_url"}
        | {"leeway_seconds"},
    )
    tenant = table.tenant()
    issuers = [v1_issuer(tenant)]
    if table.flag("accept_v2_issuer", False):
        issuers.append(v2_issuer(tenant))
    audiences = table.texts("audiences", (NON_GALLERY_AUDIENCE,))
    if not audiences:
        raise ConfigError("auth.entra_jwt.audiences must name at least one audience")
    config = EntraJwtConfig(
        tenant_id=tenant,
        audiences=audiences,
        issuers=tuple(issuers),
        app_ids=table.texts("app_ids"),
        jwks=table.jwks(tenant),
        leeway_seconds=table.number("leeway_seconds", DEFAULT_LEEWAY_SECONDS),
    )
    if not config.app_ids:
        # The default audience is shared by every non-gallery app in the tenant: without an
        # app allow-list, any app that can get a token for it could call the SCIM API.
        raise ConfigError(
            "auth.entra_jwt.app_ids must list the application id(s) allowed to call (the "
            "token's appid/azp): without it, any app in the tenant that holds a token for the "
            "shared audience could call the SCIM API. A refused token's app id is logged."
        )
    return config


def _workload_identity(raw: Any) -> WorkloadIdentityConfig:
    table = _Table(
        raw,
        "auth.workload_identity",
        {"tenant_id", "client_id", "audience", "subject", "jwks_file", "jwks_url"}
        | {"leeway_seconds", "token_lifetime_minutes"},
    )
    tenant = table.tenant()
    return WorkloadIdentityConfig(
        tenant_id=tenant,
        client_id=table.client_id(),
        audience=table.text("audience"),
        subject=table.text("subject"),
        jwks=table.jwks(tenant),
        leeway_seconds=table.number("leeway_seconds", DEFAULT_LEEWAY_SECONDS),
        token_lifetime_minutes=table.lifetime(),
    )


def _client_credentials(raw: Any) -> ClientSecretConfig:
    table = _Table(
        raw,
        "auth.client_credentials",
        {"client_id", "client_secret_sha256", "token_lifetime_minutes"},
    )
    hashes = tuple(h.lower() for h in table.texts("client_secret_sha256"))
    if not hashes or not all(_SHA256_HEX.match(h) for h in hashes):
        raise ConfigError(
            "auth.client_credentials.client_secret_sha256 must list one or more SHA-256 hex "
            'digests (printf %s "$SECRET" | sha256sum)'
        )
    return ClientSecretConfig(
        client_id=table.client_id(), secret_sha256=hashes, token_lifetime_minutes=table.lifetime()
    )


def _throttle(raw: Any) -> ThrottleConfig:
    table = _Table(raw, "auth.throttle", set(ThrottleConfig.__dataclass_fields__))
    return ThrottleConfig(
        enabled=table.flag("enabled", True),
        max_failures=table.integer("max_failures", 20, 1),
        window_seconds=table.number("window_seconds", 60.0, minimum=1.0),
        cooldown_seconds=table.number("cooldown_seconds", 60.0, minimum=1.0),
        max_clients=table.integer("max_clients", 10_000, 100),
    )


def parse_auth_config(raw: Mapping[str, Any]) -> AuthConfig:
    """Check the raw ``[auth]`` table (``Settings.auth``) and return what it turns on.

    Every sub-table is checked, so one :class:`ConfigError` names the problem of each (the first
    one within a sub-table: its later keys often depend on that one).
    """
    problems = Problems()

    def read(name: str, parse: Callable[[Any], _Parsed], default: _Parsed) -> _Parsed:
        if name not in raw:
            return default
        try:
            return parse(raw[name])
        except ConfigError as exc:
            problems.found.extend(exc.problems)
            return default

    try:
        _Table(raw, "auth", {"entra_jwt", "workload_identity", "client_credentials", "throttle"})
    except ConfigError as exc:
        problems.found.extend(exc.problems)
    config = AuthConfig(
        entra_jwt=read("entra_jwt", _entra_jwt, None),
        workload_identity=read("workload_identity", _workload_identity, None),
        client_credentials=read("client_credentials", _client_credentials, None),
        throttle=read("throttle", _throttle, ThrottleConfig()),
    )
    problems.raise_any()
    return config
