"""The ``[auth]`` table of the TOML file: which ways of authenticating are on, and their limits.

Does: check ``[auth.entra_jwt]``, ``[auth.workload_identity]``, ``[auth.client_credentials]`` and
``[auth.throttle]`` (unknown keys, types, ranges, GUIDs, https key URLs) through
:class:`~scimbridge.config.tables.TableReader` and return a frozen :class:`AuthConfig`, noting
each problem with its key path in the document's :class:`~scimbridge.config.tables.Problems`.
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
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from scimbridge.config.tables import Problems, TableReader

NON_GALLERY_AUDIENCE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
TOKEN_LIFETIME_MINUTES = (60, 360)
DEFAULT_LEEWAY_SECONDS = 60.0
MAX_CLIENT_ID_LENGTH = 100
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


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


def _tenant(table: TableReader) -> str:
    value = table.text("tenant_id", required=True, strip=True)
    if value is None:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        table.say("tenant_id", f"must be the directory (tenant) GUID, got {value!r}")
        return ""


def _client_id(table: TableReader) -> str:
    value = table.text("client_id", required=True, strip=True) or ""
    if value and (len(value) > MAX_CLIENT_ID_LENGTH or not value.isprintable() or ":" in value):
        table.say(
            "client_id",
            f"must be at most {MAX_CLIENT_ID_LENGTH} printable characters without ':'",
        )
    return value


def _jwks(table: TableReader, tenant_id: str) -> JwksSource:
    if "jwks_file" in table and "jwks_url" in table:
        table.note(table.path + ":", "set jwks_file or jwks_url, not both")
        return JwksSource()
    if "jwks_file" in table:
        return JwksSource(file=table.text("jwks_file", required=True, strip=True))
    url = table.text("jwks_url", tenant_keys_url(tenant_id), strip=True) or ""
    parts = urlsplit(url)
    if not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname))):
        table.say("jwks_url", f"must be an https URL, got {url!r}")
    return JwksSource(url=url)


def _lifetime(table: TableReader) -> int:
    low, high = TOKEN_LIFETIME_MINUTES
    return table.integer("token_lifetime_minutes", low, minimum=low, maximum=high)


def _leeway(table: TableReader) -> float:
    return table.number("leeway_seconds", DEFAULT_LEEWAY_SECONDS, minimum=0.0)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


JWT_KEYS = ("tenant_id", "audiences", "accept_v2_issuer", "app_ids", "jwks_file", "jwks_url")
WORKLOAD_IDENTITY_KEYS = (
    "tenant_id", "client_id", "audience", "subject", "jwks_file", "jwks_url", "leeway_seconds",
    "token_lifetime_minutes",
)  # fmt: skip


def _entra_jwt(table: TableReader) -> EntraJwtConfig:
    tenant = _tenant(table)
    issuers = [v1_issuer(tenant)]
    if table.flag("accept_v2_issuer", False):
        issuers.append(v2_issuer(tenant))
    audiences = table.texts("audiences", (NON_GALLERY_AUDIENCE,))
    if not audiences:
        table.say("audiences", "must name at least one audience")
    config = EntraJwtConfig(
        tenant_id=tenant,
        audiences=audiences,
        issuers=tuple(issuers),
        app_ids=table.texts("app_ids"),
        jwks=_jwks(table, tenant),
        leeway_seconds=_leeway(table),
    )
    if not config.app_ids:
        # The default audience is shared by every non-gallery app in the tenant: without an
        # app allow-list, any app that can get a token for it could call the SCIM API.
        table.say(
            "app_ids",
            "must list the application id(s) allowed to call (the token's appid/azp): without "
            "it, any app in the tenant that holds a token for the shared audience could call "
            "the SCIM API. A refused token's app id is logged.",
        )
    return config


def _workload_identity(table: TableReader) -> WorkloadIdentityConfig:
    tenant = _tenant(table)
    return WorkloadIdentityConfig(
        tenant_id=tenant,
        client_id=_client_id(table),
        audience=table.text("audience", required=True, strip=True) or "",
        subject=table.text("subject", required=True, strip=True) or "",
        jwks=_jwks(table, tenant),
        leeway_seconds=_leeway(table),
        token_lifetime_minutes=_lifetime(table),
    )


def _client_credentials(table: TableReader) -> ClientSecretConfig:
    hashes = tuple(h.lower() for h in table.texts("client_secret_sha256"))
    if not hashes or not all(_SHA256_HEX.match(h) for h in hashes):
        table.say(
            "client_secret_sha256",
            'must list one or more SHA-256 hex digests (printf %s "$SECRET" | sha256sum)',
        )
    return ClientSecretConfig(
        client_id=_client_id(table), secret_sha256=hashes, token_lifetime_minutes=_lifetime(table)
    )


def _throttle(table: TableReader) -> ThrottleConfig:
    return ThrottleConfig(
        enabled=table.flag("enabled", True),
        max_failures=table.integer("max_failures", 20, minimum=1),
        window_seconds=table.number("window_seconds", 60.0, minimum=1.0),
        cooldown_seconds=table.number("cooldown_seconds", 60.0, minimum=1.0),
        max_clients=table.integer("max_clients", 10_000, minimum=100),
    )


# Each sub-table: its keys, its reader.
_SUB_TABLES: dict[str, tuple[tuple[str, ...], Callable[[TableReader], Any]]] = {
    "entra_jwt": ((*JWT_KEYS, "leeway_seconds"), _entra_jwt),
    "workload_identity": (WORKLOAD_IDENTITY_KEYS, _workload_identity),
    "client_credentials": (
        ("client_id", "client_secret_sha256", "token_lifetime_minutes"),
        _client_credentials,
    ),
    "throttle": (tuple(ThrottleConfig.__dataclass_fields__), _throttle),
}


def _sub_table(
    raw: Any, name: str, known: tuple[str, ...], read: Callable[[TableReader], Any], own: Problems
) -> Any:
    return read(TableReader(raw, f"auth.{name}", own, known, strict=True))


def read_auth_config(raw: Any, problems: Problems) -> AuthConfig:
    """The ``[auth]`` table ``raw`` (``Settings.auth``) as what it turns on; every problem noted
    in ``problems``: each sub-table's first one (its later keys often depend on that one)."""
    auth = TableReader(raw, "auth", problems, _SUB_TABLES, strict=True)
    parsed: dict[str, Any] = {}
    for name, (known, read) in _SUB_TABLES.items():
        if name not in auth:
            continue
        value = problems.first_only(partial(_sub_table, auth.raw[name], name, known, read), "auth")
        if value is not None:
            parsed[name] = value
    return AuthConfig(**parsed)


def parse_auth_config(raw: Mapping[str, Any]) -> AuthConfig:
    """The ``[auth]`` table alone (tests): :func:`read_auth_config`, raising
    :class:`~scimbridge.config.errors.ConfigError` with every problem."""
    problems = Problems()
    config = read_auth_config(raw, problems)
    problems.raise_any()
    return config
