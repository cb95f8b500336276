"""Composition of the Flex side with the store: which background services ``serve`` runs.

Does: decide from the settings whether the sync runs (real Twilio, an in-process fake Flex, or
off), build its parts, and validate the whole configuration for ``check-config``.
Does not: implement the sync (``flex``) or the SCIM API (``scim``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.console import Console

from scimbridge.config import Settings

if TYPE_CHECKING:
    from scimbridge.app import BackgroundService, Components

log = logging.getLogger("scimbridge")


def sync_services(
    settings: Settings, components: Components, *, run_worker: bool = True
) -> list[BackgroundService]:
    if not settings.twilio and not settings.fake_flex:
        log.warning(
            "sync is off: no Twilio settings (TWILIO_ACCOUNT_SID…); serving SCIM only"
        )
        return []
    return []


def check_configuration(settings: Settings, user: str | None, console: Console) -> list[str]:
    problems: list[str] = []
    return problems
