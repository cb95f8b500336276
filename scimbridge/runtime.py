"""The composition root: ``build_runtime(settings)`` builds every part of one process, once.

Does: take the typed configuration (``scimbridge.configuration``), open the store, build the
metrics, the authenticator and the token endpoint, decide whether the sync runs (real Twilio, an
in-process fake Flex for ``--fake-flex``, or off), build its parts (rate limiter, retry policy,
TaskRouter and Flex Users clients, reconciler, outbox drainer) and the background services.
Every hook (the drainer's wake-up on enqueue, whether group changes queue their members, the
metrics' outcome counter) is passed in at construction.
Does not: make the HTTP application (``app.create_app``), parse arguments or print (``cli``), or
check a configuration for an operator (``config_check``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import Settings, TwilioSettings
from scimbridge.configuration import Configuration, configuration_of
from scimbridge.flex.mapping.config import FlexMapping
from scimbridge.flex.sync.drainer import OutcomeHook, SyncWorker
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter
from scimbridge.flex.twilio.transport import TwilioCalls
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.ops.health import Report, readiness
from scimbridge.ops.metrics import Metrics
from scimbridge.ops.readiness_metric import ReadinessCollector
from scimbridge.scim.auth import Authenticator
from scimbridge.scim.auth_config import AuthConfig
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.jwt_auth import EntraJwtVerifier, signing_keys
from scimbridge.scim.routes import ScimApi
from scimbridge.scim.throttle import FailureThrottle
from scimbridge.scim.token_endpoint import TokenEndpoint
from scimbridge.store.database import Database, create_db_engine, create_inline_engine
from scimbridge.store.objects import Store
from scimbridge.store.tokens import Tokens

if TYPE_CHECKING:
    from scimbridge.testing.fakeflex.server import FakeFlexServer

log = logging.getLogger("scimbridge")


class BackgroundService(Protocol):
    """Something the process runs for as long as it serves (e.g. the sync worker)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


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


@dataclass(frozen=True)
class Runtime:
    """Everything one process runs on, built by :func:`build_runtime`.

    ``services`` are started and stopped by whoever runs the process (the application's
    lifespan, or ``scimbridge worker``), in order and in reverse. ``reconciler`` is set whenever
    the settings name a Twilio account (or a fake runs), ``drainer`` only when this process
    drains the outbox.
    """

    settings: Settings
    store: Store
    models: ResourceModels
    metrics: Metrics
    mapping: FlexMapping
    auth: AuthConfig
    authenticator: Authenticator
    scim_api: ScimApi
    token_endpoint: TokenEndpoint | None
    twilio: TwilioSettings | None = None
    reconciler: Reconciler | None = None
    drainer: SyncWorker | None = None
    fake_flex: FakeFlexServer | None = None
    services: tuple[BackgroundService, ...] = field(default=())

    def readiness(self) -> Report:
        """The report ``/readyz`` and ``scimbridge_readiness_check`` show."""
        return readiness_report(self.settings, self.store)


def readiness_report(settings: Settings, store: Store) -> Report:
    """The readiness of the process ``settings`` describe, read from ``store``."""
    return readiness(
        store,
        sync_expected=settings.twilio is not None or settings.fake_flex,
        thresholds=settings.readiness,
    )


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


def sync_target(settings: Settings, mapping: FlexMapping, *, drain: bool) -> bool:
    """Whether this process syncs to a Twilio account (or a fake); logs why not.

    Raises :class:`ConfigError` when the settings contradict each other.
    """
    if not settings.sync.enabled:
        log.warning("no sync worker in this process (SCIMBRIDGE_SYNC=false); serving SCIM only")
        return False
    if settings.twilio and settings.fake_flex:
        raise ConfigError(
            "--fake-flex (SCIMBRIDGE_FAKE_FLEX) and TWILIO_ACCOUNT_SID are both set; choose one"
        )
    if not settings.twilio and not settings.fake_flex:
        log.warning("sync is off: no Twilio settings (TWILIO_ACCOUNT_SID…); serving SCIM only")
        return False
    if not drain:
        log.info("no sync worker in this process; run `scimbridge worker` to drain the outbox")
        return False
    if settings.twilio and mapping.mode == "users_api" and not settings.twilio.flex_instance_sid:
        raise ConfigError('[flex] mode = "users_api" needs SCIMBRIDGE_FLEX_INSTANCE_SID')
    return True


def build_reconciler(
    store: Store,
    twilio: TwilioSettings,
    mapping: FlexMapping,
    metrics: Metrics,
    *,
    retry: RetryPolicy | None = None,
) -> Reconciler:
    """A :class:`Reconciler` for ``twilio``, its clients sharing one process-wide rate limiter."""
    # No burst: after an idle moment N replicas would each send max_rps at once.
    limiter = RateLimiter(twilio.max_rps)
    retry = retry or RetryPolicy()
    calls = TwilioCalls(twilio, limiter=limiter, retry=retry, on_request=metrics.twilio_request)
    taskrouter = TaskRouter(calls)
    flex_users = FlexUsers(calls) if mapping.mode == "users_api" else None
    return Reconciler(
        store.directory, store.links, store.outbox, taskrouter, mapping, flex_users=flex_users
    )


def build_drainer(
    runtime: Runtime,
    *,
    threads: int = 1,
    owner: str | None = None,
    on_outcome: OutcomeHook | None = None,
    retry: RetryPolicy | None = None,
) -> SyncWorker:
    """Another drainer of the runtime's outbox, with its own Twilio clients (tests, benchmarks).

    It is not woken by enqueues; it polls every ``[sync] poll_interval``.
    """
    if runtime.twilio is None:
        raise ConfigError("the sync needs Twilio settings (TWILIO_ACCOUNT_SID…)")
    reconciler = build_reconciler(
        runtime.store, runtime.twilio, runtime.mapping, runtime.metrics, retry=retry
    )
    return _sync_worker(
        runtime.settings,
        runtime.store,
        reconciler,
        threads=threads,
        on_outcome=on_outcome or runtime.metrics.sync_outcome,
        owner=owner,
    )


def _sync_worker(
    settings: Settings,
    store: Store,
    reconciler: Reconciler,
    *,
    threads: int,
    on_outcome: OutcomeHook,
    owner: str | None = None,
    wake: threading.Event | None = None,
) -> SyncWorker:
    return SyncWorker(
        settings.sync,
        store,
        reconciler,
        heartbeat_retention_seconds=settings.readiness.heartbeat_retention_seconds,
        owner=owner,
        threads=threads,
        on_outcome=on_outcome,
        wake=wake,
    )


def _authentication(
    bearer_token: str | None, tokens: Tokens, config: AuthConfig
) -> tuple[Authenticator, TokenEndpoint | None]:
    throttle = FailureThrottle.from_config(config.throttle)
    entra_jwt = (
        EntraJwtVerifier(config.entra_jwt, signing_keys(config.entra_jwt.jwks))
        if config.entra_jwt
        else None
    )
    authenticator = Authenticator(tokens, bearer_token, entra_jwt=entra_jwt, throttle=throttle)
    if not config.token_endpoint_enabled:
        return authenticator, None
    identity = config.workload_identity
    keys = signing_keys(identity.jwks) if identity else None
    return authenticator, TokenEndpoint(tokens, config, keys, throttle)


def build_runtime(
    settings: Settings | Configuration,
    *,
    database: Database | None = None,
    engine: Engine | None = None,
    mapping: FlexMapping | None = None,
    sync_threads: int = 1,
    reconcile_only: bool = False,
    on_outcome: OutcomeHook | None = None,
    retry: RetryPolicy | None = None,
    metrics: type[Metrics] = Metrics,
) -> Runtime:
    """Build the process: store, auth, metrics, sync and background services.

    ``settings`` is the typed configuration (``cli``), or settings whose ``[flex]`` and ``[auth]``
    tables are typed here (tests, benchmarks). ``database`` is the database to run on, opened
    already (``cli``, with its inline engine); else ``engine`` is the engine to open it on (tests
    and benchmarks that tune it; default: one opened from ``settings.database_url``). ``mapping``
    replaces the parsed ``[flex]`` table (``resync --remove-skill``); ``metrics`` is the class
    of the process's metrics (a benchmark's subclass also times Twilio requests).
    ``sync_threads`` is the drainer's thread count; 0 only queues changes for a separate
    ``scimbridge worker``. ``reconcile_only`` builds the reconciler for ``settings.twilio``
    and no drainer (``resync``). Raises :class:`ConfigError` naming every problem when the
    settings cannot be used; nothing is left running then.
    """
    configuration = settings if isinstance(settings, Configuration) else configuration_of(settings)
    settings = configuration.settings
    mapping = mapping or configuration.mapping
    auth = configuration.auth
    draining = not reconcile_only and sync_target(settings, mapping, drain=sync_threads > 0)
    if database is None:
        engine = engine or create_db_engine(settings.database_url)
        database = Database(engine, create_inline_engine(engine))
    services: list[BackgroundService] = []
    checkpointer = database.checkpointer()
    if checkpointer is not None:
        # Commits on the event loop leave the WAL to this thread (see store.checkpoint).
        services.append(checkpointer)
    fake: FakeFlexServer | None = None
    twilio = settings.twilio
    if draining and twilio is None:
        fake, twilio = _start_fake_flex(settings.fake_flex_port)
        services.append(FakeFlexService(fake))
    try:
        return _assemble(
            settings,
            database,
            mapping,
            auth,
            twilio,
            fake,
            services,
            sync_threads=sync_threads if draining else 0,
            on_outcome=on_outcome,
            retry=retry,
            metrics_class=metrics,
        )
    except BaseException:
        if fake is not None:
            FakeFlexService(fake).stop()
        raise


def _assemble(
    settings: Settings,
    database: Database,
    mapping: FlexMapping,
    auth: AuthConfig,
    twilio: TwilioSettings | None,
    fake: FakeFlexServer | None,
    services: list[BackgroundService],
    *,
    sync_threads: int,
    on_outcome: OutcomeHook | None,
    retry: RetryPolicy | None,
    metrics_class: type[Metrics],
) -> Runtime:
    # The drainer and the directory share its wake-up: a commit that queues a change wakes it.
    wake = threading.Event() if twilio is not None and sync_threads > 0 else None
    store = Store.of(
        database,
        # Queue membership changes whenever the mapping reads groups, even where no worker runs
        # in this process: a separate `scimbridge worker` drains the same outbox.
        sync_groups=reads_groups(mapping),
        on_enqueue=wake.set if wake is not None else None,
    )
    metrics = metrics_class(
        store, collectors=[ReadinessCollector(lambda: readiness_report(settings, store))]
    )
    models = ResourceModels(settings.extensions)
    authenticator, token_endpoint = _authentication(settings.bearer_token, store.tokens, auth)
    reconciler: Reconciler | None = None
    drainer: SyncWorker | None = None
    if twilio is not None:
        reconciler = build_reconciler(store, twilio, mapping, metrics, retry=retry)
        if wake is not None:
            drainer = _sync_worker(
                settings,
                store,
                reconciler,
                threads=sync_threads,
                on_outcome=on_outcome or metrics.sync_outcome,
                wake=wake,
            )
            services.append(drainer)
    return Runtime(
        settings=settings,
        store=store,
        models=models,
        metrics=metrics,
        mapping=mapping,
        auth=auth,
        authenticator=authenticator,
        scim_api=ScimApi(settings.limits, store.directory, models, authenticator),
        token_endpoint=token_endpoint,
        twilio=twilio,
        reconciler=reconciler,
        drainer=drainer,
        fake_flex=fake,
        services=tuple(services),
    )
