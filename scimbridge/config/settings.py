"""One typed settings object, read from environment variables and an optional TOML file.

Does: read ``SCIMBRIDGE_*`` / ``TWILIO_*`` variables and the TOML file named by
``SCIMBRIDGE_CONFIG``, check their types with :class:`~scimbridge.config.tables.TableReader`,
note every problem in one :class:`~scimbridge.config.tables.Problems` (``read_settings``) or raise
them all at once (``load_settings``), and hand every other module a frozen :class:`Settings` of
typed parts (``SyncSettings``, ``TwilioSettings``, ``ReadinessThresholds``, ``Limits``,
extensions).
Does not: open connections, parse the database URL (``store.location`` does, for
``scimbridge.configuration``), or type the ``[flex]`` and ``[auth]`` tables: their types live above
this layer, and ``scimbridge.configuration`` reads them with these, into the same problems.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from scimbridge.config.errors import ConfigError
from scimbridge.config.tables import Problems, TableReader, toml_key

DEFAULT_DATABASE_URL = "sqlite:///scimbridge.db"
URL_VARIABLE = "SCIMBRIDGE_DATABASE_URL"
# The peers whose X-Forwarded-For serve believes unless told otherwise: this host only.
LOOPBACK_PROXIES = "127.0.0.1,::1"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A worker silent for 10 heartbeat windows crashed or was killed long ago (a clean stop removes
# its heartbeat at once); until then its silence is reported as a stalled sync.
HEARTBEAT_RETENTION_FACTOR = 10
CUSTOM_EXTENSION_PREFIX = "urn:ietf:params:scim:schemas:extension:"
EXTENSION_ATTRIBUTE_TYPES = ("string", "boolean", "integer", "decimal", "dateTime", "reference")


@dataclass(frozen=True)
class ExtensionAttribute:
    """One attribute of a declared custom extension schema."""

    name: str
    type: str = "string"
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class ExtensionSchema:
    """A custom extension declared in the TOML file (``[[scim.extensions]]``)."""

    urn: str
    name: str
    attributes: tuple[ExtensionAttribute, ...]
    description: str = ""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one SCIM request may ask for; advertised where SCIM has a place."""

    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_filter_length: int = 2048
    max_filter_terms: int = 50
    max_results: int = 1000
    default_count: int = 100
    max_patch_operations: int = 500


@dataclass(frozen=True)
class TwilioSettings:
    """Credentials and addresses of the Twilio account the sync writes to. Secrets inside."""

    account_sid: str
    auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    workspace_sid: str | None = None
    flex_instance_sid: str | None = None
    base_url: str | None = None
    max_rps: float = 10.0

    @property
    def username(self) -> str:
        return self.api_key or self.account_sid

    @property
    def password(self) -> str:
        return (self.api_secret if self.api_key else self.auth_token) or ""

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.auth_token, self.api_secret) if s)


@dataclass(frozen=True)
class SyncSettings:
    """How the outbox drainer paces itself."""

    enabled: bool = True
    max_attempts: int = 8
    lease_seconds: float = 60.0
    poll_interval: float = 0.5
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    batch_size: int = 20


@dataclass(frozen=True)
class ReadinessThresholds:
    """When ``/readyz`` and ``scimbridge status`` stop calling a component healthy (``[ops]``)."""

    heartbeat_seconds: float = 60.0
    max_backlog: int = 10_000
    # Every dead letter is a worker that differs from the directory until someone acts.
    max_dead_letters: int = 0
    credentials_minutes: float = 30.0
    # Changes waiting while no sync has succeeded for longer than this: an outage.
    stalled_sync_seconds: float = 180.0

    @property
    def heartbeat_retention_seconds(self) -> float:
        """A heartbeat older than this is a worker gone for good: ignored, then removed."""
        return self.heartbeat_seconds * HEARTBEAT_RETENTION_FACTOR


# The settings dataclasses whose TOML table holds exactly their fields.
_Section = TypeVar("_Section", Limits, ReadinessThresholds)


def _dataclass_section(
    doc: Mapping[str, Any], path: str, kind: type[_Section], problems: Problems, *, minimum: int = 1
) -> _Section:
    """The table at ``path``, whose keys are the fields of the settings dataclass ``kind``, each
    read as its default's type (:meth:`TableReader.dataclass_values`); unknown keys refused."""
    table = TableReader.section(doc, path, problems, [f.name for f in fields(kind)])
    return kind(**table.dataclass_values(kind(), minimum=minimum))


@dataclass(frozen=True)
class Settings:
    """Everything scimbridge reads from its environment. Build it with :func:`load_settings`."""

    database_url: str = DEFAULT_DATABASE_URL
    bearer_token: str | None = field(default=None, repr=False)
    config_path: str | None = None
    limits: Limits = field(default_factory=Limits)
    extensions: tuple[ExtensionSchema, ...] = ()
    twilio: TwilioSettings | None = None
    sync: SyncSettings = field(default_factory=SyncSettings)
    # The raw, read-only [flex] and [auth] tables. Their typed forms live above this layer
    # (``flex.mapping.config.FlexMapping``, ``scim.auth_config.AuthConfig``, which must not import
    # each other); ``scimbridge.configuration`` is the one place that reads them.
    flex: Mapping[str, Any] = field(default_factory=dict)
    auth: Mapping[str, Any] = field(default_factory=dict)
    readiness: ReadinessThresholds = field(default_factory=lambda: ReadinessThresholds())
    log_format: str = "plain"
    log_level: str = "INFO"
    metrics_token: str | None = field(default=None, repr=False)
    # Explicit opt-out: /metrics without a token even when serve listens beyond loopback.
    metrics_public: bool = False
    fake_flex: bool = False
    fake_flex_port: int = 0  # 0: any free port (``serve --fake-flex-port`` sets it)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this process knows, so logs can be scrubbed of them."""
        values: list[str] = [s for s in (self.bearer_token, self.metrics_token) if s]
        if self.twilio:
            values.extend(self.twilio.secrets())
        return tuple(values)


def _extensions(scim: TableReader) -> tuple[ExtensionSchema, ...]:
    raw = scim.raw.get("extensions", [])
    if not isinstance(raw, list):
        scim.note("[[scim.extensions]]", "must be an array of tables")
        return ()
    # One extension's first problem makes the rest of it unreadable; go on with the next.
    found = (
        scim.problems.first_only(partial(_extension, i, item), "scim") for i, item in enumerate(raw)
    )
    return tuple(extension for extension in found if extension is not None)


def _extension(i: int, item: Any, problems: Problems) -> ExtensionSchema:
    where = f"scim.extensions[{i}]"
    if not isinstance(item, Mapping):
        problems.add(f"{where} must be a table")
        item = {}
    table = TableReader(item, where, problems)
    urn = item.get("urn")
    if not isinstance(urn, str) or not urn.startswith(CUSTOM_EXTENSION_PREFIX):
        table.say("urn", f"must start with {CUSTOM_EXTENSION_PREFIX}")
        urn = ""
    name = item.get("name") or urn.removeprefix(CUSTOM_EXTENSION_PREFIX).split(":")[0]
    attrs = item.get("attributes", {})
    if not isinstance(attrs, Mapping) or not attrs:
        table.say("attributes", "must be a non-empty table")
        attrs = {}
    attributes = []
    for attr_name, spec in attrs.items():
        at = toml_key(table.name("attributes"), str(attr_name))
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            table.note(at, "must be a type name or table")
            continue
        attr_type = spec.get("type", "string")
        if attr_type not in EXTENSION_ATTRIBUTE_TYPES:
            table.note(f"{at}.type", f"must be one of {', '.join(EXTENSION_ATTRIBUTE_TYPES)}")
        attributes.append(
            ExtensionAttribute(
                name=str(attr_name),
                type=attr_type,
                description=str(spec.get("description", "")),
                required=table.flag_value(spec.get("required", False), f"{at}.required", False),
            )
        )
    return ExtensionSchema(
        urn=urn,
        name=str(name),
        attributes=tuple(attributes),
        description=str(item.get("description", "")),
    )


def _twilio(env: Mapping[str, str], problems: Problems) -> TwilioSettings | None:
    account_sid = env.get("TWILIO_ACCOUNT_SID")
    if not account_sid:
        return None
    auth_token = env.get("TWILIO_AUTH_TOKEN") or None
    api_key = env.get("TWILIO_API_KEY") or None
    api_secret = env.get("TWILIO_API_SECRET") or None
    if not auth_token and not (api_key and api_secret):
        problems.add(
            "TWILIO_ACCOUNT_SID is set: also set TWILIO_AUTH_TOKEN, "
            "or TWILIO_API_KEY and TWILIO_API_SECRET"
        )
    environment = TableReader(env, "environment", problems)
    return TwilioSettings(
        account_sid=account_sid,
        auth_token=auth_token,
        api_key=api_key,
        api_secret=api_secret,
        workspace_sid=env.get("SCIMBRIDGE_TWILIO_WORKSPACE_SID") or None,
        flex_instance_sid=env.get("SCIMBRIDGE_FLEX_INSTANCE_SID") or None,
        base_url=(env.get("SCIMBRIDGE_TWILIO_BASE_URL") or "").rstrip("/") or None,
        max_rps=environment.number(
            "SCIMBRIDGE_TWILIO_MAX_RPS", 10.0, name="SCIMBRIDGE_TWILIO_MAX_RPS"
        ),
    )


def _sync(doc: Mapping[str, Any], env: Mapping[str, str], problems: Problems) -> SyncSettings:
    raw = dict(TableReader.section(doc, "sync", problems).raw)
    if "SCIMBRIDGE_SYNC" in env:
        raw["enabled"] = env["SCIMBRIDGE_SYNC"]
    table = TableReader(raw, "sync", problems, SyncSettings.__dataclass_fields__)
    return SyncSettings(**table.dataclass_values(SyncSettings()))


def read_toml(path: str) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"SCIMBRIDGE_CONFIG names {path}, which does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def read_document(env: Mapping[str, str]) -> Mapping[str, Any]:
    """The TOML file ``SCIMBRIDGE_CONFIG`` names (empty without one); :class:`ConfigError` when
    it is missing or not TOML."""
    config_path = env.get("SCIMBRIDGE_CONFIG") or None
    return read_toml(config_path) if config_path else {}


def load_settings(
    env: Mapping[str, str] | None = None, document: Mapping[str, Any] | None = None
) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``) and the TOML it names.

    ``document`` stands in for the TOML file (tests pass a dict instead of writing a file).
    Raises :class:`ConfigError` listing every problem found, each fit for an operator. The
    ``[flex]`` and ``[auth]`` tables and the database URL's shape are checked a layer up, with
    these, by ``scimbridge.configuration.load_configuration``.
    """
    env = os.environ if env is None else env
    problems = Problems()
    settings = read_settings(env, read_document(env) if document is None else document, problems)
    problems.raise_any()
    return settings


def read_settings(env: Mapping[str, str], doc: Mapping[str, Any], problems: Problems) -> Settings:
    """The settings of ``env`` and ``doc``, every problem noted in ``problems`` (a value with a
    problem is left at its default, so reading goes on)."""
    scim = TableReader.section(doc, "scim", problems)
    log_format = env.get("SCIMBRIDGE_LOG_FORMAT", "plain").lower()
    if log_format not in ("plain", "json"):
        problems.add("SCIMBRIDGE_LOG_FORMAT must be plain or json")
    log_level = env.get("SCIMBRIDGE_LOG_LEVEL", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        problems.add(
            f"SCIMBRIDGE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
            f"got {env['SCIMBRIDGE_LOG_LEVEL']!r}"
        )
    environment = TableReader(env, "environment", problems)
    return Settings(
        database_url=env.get(URL_VARIABLE) or DEFAULT_DATABASE_URL,
        bearer_token=env.get("SCIMBRIDGE_BEARER_TOKEN") or None,
        config_path=env.get("SCIMBRIDGE_CONFIG") or None,
        limits=_dataclass_section(doc, "scim.limits", Limits, problems),
        extensions=_extensions(scim),
        twilio=_twilio(env, problems),
        sync=_sync(doc, env, problems),
        flex=MappingProxyType(dict(TableReader.section(doc, "flex", problems).raw)),
        auth=MappingProxyType(dict(TableReader.section(doc, "auth", problems).raw)),
        readiness=_dataclass_section(doc, "ops", ReadinessThresholds, problems, minimum=0),
        log_format=log_format,
        log_level=log_level,
        metrics_token=env.get("SCIMBRIDGE_METRICS_TOKEN") or None,
        metrics_public=environment.flag(
            "SCIMBRIDGE_METRICS_PUBLIC", False, name="SCIMBRIDGE_METRICS_PUBLIC"
        ),
        fake_flex=environment.flag("SCIMBRIDGE_FAKE_FLEX", False, name="SCIMBRIDGE_FAKE_FLEX"),
    )
