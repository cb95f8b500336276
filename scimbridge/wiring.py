"""Composition of the Flex side with the store: which background services ``serve`` runs.

Does: decide from the settings whether the sync runs (real Twilio, an in-process fake Flex, or
off), build its parts (mapping, rate limiter, retry policy, TaskRouter and Flex Users clients, the
outbox drainer), and validate the whole configuration for ``check-config``.
Does not: implement the sync (``flex``) or the SCIM API (``scim``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scimbridge.config import ConfigError, Settings, TwilioSettings
from scimbridge.flex.mapping.attributes import AttributesTooLarge, attributes_json
from scimbridge.flex.mapping.config import FlexMapping, parse_mapping
from scimbridge.flex.mapping.desired import desired_worker, explain
from scimbridge.flex.mapping.expressions import MappingError
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.mapping.roles import toml_key
from scimbridge.flex.mapping.sources import source_problems
from scimbridge.flex.sync.drainer import OutcomeHook, SyncWorker
from scimbridge.flex.twilio.errors import FlexApiError
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter
from scimbridge.flex.twilio.transport import TwilioCalls
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.scim.auth_config import parse_auth_config

if TYPE_CHECKING:
    from scimbridge.app import BackgroundService, Components
    from scimbridge.testing.fakeflex.server import FakeFlexServer

log = logging.getLogger("scimbridge")


@dataclass
class FakeFlexService:
    """Keeps an in-process fake Flex running while the application serves (started already, so
    its address is known before the sync is built); ``stop()`` shuts it down."""

    server: FakeFlexServer

    def start(self) -> None:
        log.warning(
            "FAKE FLEX: TaskRouter workers are going to a fake, in-memory Flex at %s, NOT to "
            "Twilio; they vanish when this process stops",
            self.server.url,
        )

    def stop(self) -> None:
        with _uvicorn_quiet():
            self.server.stop()


def reads_groups(mapping: FlexMapping) -> bool:
    """Whether workers depend on group membership (so membership changes must be synced)."""
    if mapping.role_map.group_roles or mapping.skills.group_skills:
        return True
    return any(
        rule.expression is not None and "[groups]" in rule.expression.text.casefold()
        for rule in mapping.rules
    ) or any((rule.source or "").casefold() == "groups" for rule in mapping.rules)


@contextmanager
def _uvicorn_quiet() -> Iterator[None]:
    """The in-process fake's uvicorn shares uvicorn's loggers with the SCIM server: its own
    "Uvicorn running on …" and shutdown lines would read as the SCIM server's, so keep them
    unsaid."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        uvicorn_log.setLevel(level)


def _start_fake_flex(port: int) -> tuple[FakeFlexServer, TwilioSettings]:
    from scimbridge.testing.fakeflex.server import FakeFlexServer

    try:
        with _uvicorn_quiet():
            server = FakeFlexServer(port=port, log_level=None).start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"the fake Flex cannot listen on 127.0.0.1:{port} ({reason}); "
            "choose another --fake-flex-port"
        ) from None
    twilio = TwilioSettings(
        account_sid=server.account_sid,
        auth_token=server.auth_token,
        workspace_sid=server.workspace_sid,
        flex_instance_sid=server.flex_instance_sid,
        base_url=server.url,
    )
    return server, twilio


def sync_services(
    settings: Settings,
    components: Components,
    *,
    run_worker: bool = True,
    threads: int = 1,
    on_outcome: OutcomeHook | None = None,
) -> list[BackgroundService]:
    """The background services that keep workers in sync, for ``serve`` or ``worker`` to run.

    Empty when the sync is off (no Twilio settings and no fake, or ``SCIMBRIDGE_SYNC=false``).
    Raises :class:`ConfigError` when the settings contradict each other or the mapping is bad.
    """
    # Queue membership changes whenever the mapping reads groups, even where no worker runs in
    # this process: a separate `scimbridge worker` drains the same outbox.
    mapping = parse_mapping(settings.flex)
    components.repository.sync_groups = reads_groups(mapping)
    if not settings.sync.enabled:
        log.warning("no sync worker in this process (SCIMBRIDGE_SYNC=false); serving SCIM only")
        return []
    if settings.twilio and settings.fake_flex:
        raise ConfigError(
            "--fake-flex (SCIMBRIDGE_FAKE_FLEX) and TWILIO_ACCOUNT_SID are both set; choose one"
        )
    if not settings.twilio and not settings.fake_flex:
        log.warning("sync is off: no Twilio settings (TWILIO_ACCOUNT_SID…); serving SCIM only")
        return []
    if not run_worker:
        log.info("no sync worker in this process; run `scimbridge worker` to drain the outbox")
        return []
    services: list[BackgroundService] = []
    twilio = settings.twilio
    if twilio is None:
        server, twilio = _start_fake_flex(settings.fake_flex_port)
        services.append(FakeFlexService(server))
    elif mapping.mode == "users_api" and not twilio.flex_instance_sid:
        raise ConfigError('[flex] mode = "users_api" needs SCIMBRIDGE_FLEX_INSTANCE_SID')
    worker = build_sync_worker(
        settings, components, twilio, mapping, threads=threads, on_outcome=on_outcome
    )
    services.append(worker)
    return services


def build_sync_worker(
    settings: Settings,
    components: Components,
    twilio: TwilioSettings,
    mapping: FlexMapping,
    *,
    threads: int = 1,
    on_outcome: OutcomeHook | None = None,
    retry: RetryPolicy | None = None,
) -> SyncWorker:
    """A :class:`SyncWorker` for ``twilio`` sharing one process-wide rate limiter."""
    components.repository.sync_groups = reads_groups(mapping)
    # No burst: after an idle moment N replicas would each send max_rps at once.
    limiter = RateLimiter(twilio.max_rps)
    retry = retry or RetryPolicy()
    count_request = components.metrics.twilio_request
    calls = TwilioCalls(twilio, limiter=limiter, retry=retry, on_request=count_request)
    taskrouter = TaskRouter(calls)
    flex_users = FlexUsers(calls) if mapping.mode == "users_api" else None
    worker = SyncWorker(
        settings,
        components.engine,
        components.repository,
        taskrouter,
        mapping,
        threads=threads,
        flex_users=flex_users,
        on_outcome=on_outcome or components.metrics.sync_outcome,
    )
    components.repository.on_enqueue = worker.notify
    return worker


def mapping_sources(mapping: FlexMapping) -> list[tuple[str, str]]:
    """(TOML key, source) of every SCIM path the mapping reads directly."""
    found = [("flex.friendly_name", mapping.friendly_name_source)]
    found.extend(
        (toml_key("flex.attributes", rule.target) + ".source", rule.source)
        for rule in mapping.rules
        if rule.source is not None
    )
    return found


def check_configuration(settings: Settings, user: str | None, console: Console) -> list[str]:
    """Every problem with the settings, the mapping and the Twilio account, fit for an operator.

    With ``user`` (a userName), also print the worker that stored user would get.
    """
    problems: list[str] = []
    mapping: FlexMapping | None = None
    try:
        mapping = parse_mapping(settings.flex)
    except MappingError as exc:
        problems.extend(exc.problems or [str(exc)])
    if mapping is not None:
        problems.extend(source_problems(mapping_sources(mapping), settings.extensions))
    try:
        parse_auth_config(settings.auth)
    except ConfigError as exc:
        problems.append(str(exc))
    if settings.twilio and settings.fake_flex:
        problems.append("SCIMBRIDGE_FAKE_FLEX and TWILIO_ACCOUNT_SID are both set; choose one")
    if settings.twilio is None:
        console.print(
            "[yellow]no Twilio settings: the sync is off"
            + (" (--fake-flex syncs to an in-memory fake)" if settings.fake_flex else "")
            + "[/yellow]"
        )
    elif mapping is not None:
        problems.extend(_check_twilio(settings.twilio, mapping))
    if user is not None and mapping is not None:
        problems.extend(_explain_user(settings, mapping, user, console))
    return problems


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
    settings: Settings, mapping: FlexMapping, user_name: str, console: Console
) -> list[str]:
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from scimbridge.store.database import create_db_engine
    from scimbridge.store.repository import Repository, comparison_key
    from scimbridge.store.tables import users

    engine = create_db_engine(settings.database_url)
    try:
        repository = Repository(engine)
        with engine.connect() as conn:
            user_id = conn.scalar(
                select(users.c.id).where(users.c.user_name_key == comparison_key(user_name))
            )
        if user_id is None:
            return [f"no stored user has userName {user_name!r}"]
        document = repository.get_user(user_id).document
        groups = [name for _group_id, name in repository.user_groups(user_id)]
    except SQLAlchemyError as exc:
        return [f"database: {type(exc).__name__} (run `scimbridge migrate`?)"]
    finally:
        engine.dispose()
    table = Table("worker key", "value", "from", title=f"worker of {escape(user_name)}")
    for target, value, origin in explain(document, groups, mapping):
        table.add_row(escape(target), "" if value is None else escape(repr(value)), escape(origin))
    console.print(table)
    try:
        desired = desired_worker(document, groups, mapping)
        attributes_json(desired.attributes)
    except IdentityError as exc:
        return [f"user {user_name!r} cannot sync: {exc.reason}"]
    except AttributesTooLarge as exc:
        return [f"user {user_name!r} cannot sync: {exc.reason}"]
    return []
