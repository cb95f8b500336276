"""The whole configuration, typed: the one place the ``[flex]`` and ``[auth]`` tables are parsed.

Does: read the environment and the TOML file once into a frozen :class:`Configuration` (the
``Settings`` of ``config``, the ``FlexMapping`` of ``[flex]``, the ``AuthConfig`` of ``[auth]``),
checking the database URL's shape with the store's reader of URLs, every reader noting its
problems in one :class:`~scimbridge.config.tables.Problems`, so one
:class:`~scimbridge.config.errors.ConfigError` names every problem of the environment and the file
at once (``load_configuration``); type the sections of settings read already
(``configuration_of``, for ``Settings`` built by ``load_settings`` in tests and benchmarks).
Does not: open the database, build parts (``runtime``), or check the configuration against the
Twilio account or the declared extensions (``config_check``).

Why here: ``config`` is the bottom layer and cannot import the types of ``flex`` or ``scim``, which
must not import each other; this module sits just above them, below the composition root, so
``runtime``, ``config_check`` and ``cli`` all take the typed parts from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import Settings, read_document, read_settings
from scimbridge.config.tables import Problems
from scimbridge.flex.mapping.config import FlexMapping, read_mapping
from scimbridge.scim.auth_config import AuthConfig, read_auth_config
from scimbridge.store.location import parse_database_url


@dataclass(frozen=True)
class Configuration:
    """Everything the environment and the file say, each part typed; build it with
    :func:`load_configuration` or :func:`configuration_of`."""

    settings: Settings
    mapping: FlexMapping
    auth: AuthConfig


def load_configuration(
    env: Mapping[str, str] | None = None, document: Mapping[str, Any] | None = None
) -> Configuration:
    """The configuration of ``env`` (default: ``os.environ``) and the TOML file it names.

    ``document`` stands in for the file. Raises :class:`ConfigError` naming every problem of the
    variables, the database URL and every table, each with its variable or TOML key path.
    """
    env = os.environ if env is None else env
    doc = read_document(env) if document is None else document
    problems = Problems()
    settings = read_settings(env, doc, problems)
    try:
        parse_database_url(settings.database_url)
    except ConfigError as exc:
        problems.add(str(exc))
    configuration = read_sections(settings, problems)
    problems.raise_any()
    return configuration


def configuration_of(settings: Settings) -> Configuration:
    """``settings`` with its ``[flex]`` and ``[auth]`` tables typed; :class:`ConfigError` naming
    every problem of them."""
    problems = Problems()
    configuration = read_sections(settings, problems)
    problems.raise_any()
    return configuration


def read_sections(settings: Settings, problems: Problems) -> Configuration:
    """``settings`` with its sections typed, every problem of them noted in ``problems`` (a
    section with a problem is not to be used)."""
    return Configuration(
        settings=settings,
        mapping=read_mapping(settings.flex, problems),
        auth=read_auth_config(settings.auth, problems),
    )
