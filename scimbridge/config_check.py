"""``check-config`` as a pure function: every problem with the settings, in a typed report.

Does: type the ``[flex]`` and ``[auth]`` tables (``scimbridge.configuration``, as every command
does) keeping every problem of them, check the
mapping's sources against the declared extensions, the sync settings against each other, the
Twilio credentials and activities against the account, and, for ``--user``, work out the worker
that stored user would get; return all of it as a :class:`ConfigReport`.
Does not: print (``cli`` prints the report) or change anything anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimbridge.config.settings import Settings, TwilioSettings
from scimbridge.config.tables import Problems, toml_key
from scimbridge.configuration import read_sections
from scimbridge.flex.mapping.config import FlexMapping
from scimbridge.flex.mapping.desired import desired_worker, explain
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.mapping.sources import source_problems
from scimbridge.flex.twilio.errors import AttributesTooLarge, FlexApiError
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter, encode_attributes
from scimbridge.flex.twilio.transport import TwilioCalls
from scimbridge.store.database import Database
from scimbridge.store.directory import Directory
from scimbridge.store.errors import DATABASE_FAILURES


@dataclass(frozen=True)
class WorkerRow:
    """One worker key of an explained user: its value (``None``: left off) and its origin."""

    target: str
    value: object
    origin: str


@dataclass(frozen=True)
class WorkerExplanation:
    """The worker a stored user would get, key by key."""

    user_name: str
    rows: tuple[WorkerRow, ...]


@dataclass(frozen=True)
class ConfigReport:
    """What ``check-config`` found: ``problems`` (empty: valid), ``notes`` worth saying anyway,
    and the explained worker of ``--user``."""

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    worker: WorkerExplanation | None = None

    @property
    def valid(self) -> bool:
        return not self.problems


def mapping_sources(mapping: FlexMapping) -> list[tuple[str, str]]:
    """(TOML key, source) of every SCIM path the mapping reads directly."""
    found = [("flex.friendly_name", mapping.friendly_name_source)]
    found.extend(
        (toml_key("flex.attributes", rule.target) + ".source", rule.source)
        for rule in mapping.rules
        if rule.source is not None
    )
    return found


def check_configuration(settings: Settings, user: str | None = None) -> ConfigReport:
    """Every problem with the settings, the mapping and the Twilio account, fit for an operator.

    With ``user`` (a userName), also the worker that stored user would get.
    """
    found = Problems()
    sections = read_sections(settings, found)
    problems = list(found.found)
    notes: list[str] = []
    # A mapping read with problems is not the operator's: check nothing more against it.
    mapping: FlexMapping | None = None if found.in_table("flex") else sections.mapping
    if mapping is not None:
        problems.extend(source_problems(mapping_sources(mapping), settings.extensions))
    if settings.twilio and settings.fake_flex:
        problems.append("SCIMBRIDGE_FAKE_FLEX and TWILIO_ACCOUNT_SID are both set; choose one")
    if settings.twilio is None:
        notes.append(
            "no Twilio settings: the sync is off"
            + (" (--fake-flex syncs to an in-memory fake)" if settings.fake_flex else "")
        )
    elif mapping is not None:
        problems.extend(_check_twilio(settings.twilio, mapping))
    worker: WorkerExplanation | None = None
    if user is not None and mapping is not None:
        worker, explained = _explain_user(settings, mapping, user)
        problems.extend(explained)
    return ConfigReport(problems=tuple(problems), notes=tuple(notes), worker=worker)


def _check_twilio(twilio: TwilioSettings, mapping: FlexMapping) -> list[str]:
    problems: list[str] = []
    if mapping.mode == "users_api" and not twilio.flex_instance_sid:
        problems.append('[flex] mode = "users_api" needs SCIMBRIDGE_FLEX_INSTANCE_SID')
    retry = RetryPolicy(max_attempts=2, base=0.2, cap=1.0)
    # The configured cap, like a replica: check-config runs beside them on one account budget.
    taskrouter = TaskRouter(TwilioCalls(twilio, limiter=RateLimiter(twilio.max_rps), retry=retry))
    try:
        taskrouter.verify_credentials()
    except FlexApiError as exc:
        return [*problems, f"Twilio: {exc.message}"]
    policy = mapping.deprovision_policy
    for key, name in (
        ("unavailable_activity", policy.unavailable_activity),
        ("available_activity", policy.available_activity),
    ):
        if name is None:
            continue
        try:
            taskrouter.activity_sid(name)
        except FlexApiError as exc:
            problems.append(f"flex.{key}: {exc.message}")
    return problems


def _explain_user(
    settings: Settings, mapping: FlexMapping, user_name: str
) -> tuple[WorkerExplanation | None, list[str]]:
    database = Database.open(settings.database_url)
    try:
        directory = Directory(database)
        found = directory.user_by_name(user_name)
        if found is None:
            return None, [f"no stored user has userName {user_name!r}"]
        document = found.document
        groups = [name for _group_id, name in directory.user_groups(found.id)]
    except DATABASE_FAILURES as exc:
        return None, [f"database: {type(exc).__name__} (run `scimbridge migrate`?)"]
    finally:
        database.dispose()
    rows = tuple(
        WorkerRow(target, value, origin)
        for target, value, origin in explain(document, groups, mapping)
    )
    explanation = WorkerExplanation(user_name, rows)
    try:
        desired = desired_worker(document, groups, mapping)
        encode_attributes(desired.attributes)
    except IdentityError as exc:
        return explanation, [f"user {user_name!r} cannot sync: {exc.reason}"]
    except AttributesTooLarge as exc:
        return explanation, [f"user {user_name!r} cannot sync: {exc.message}"]
    return explanation, []
