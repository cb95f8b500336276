"""What one convergence reports: its outcome, or why retrying cannot help.

Does: name the outcomes a convergence can have (:data:`OUTCOMES`), carry one convergence's result
(:class:`SyncResult`), record what a convergence did to the worker so that its outcome can be
named (:class:`Changes`), and define the failure no retry can cure (:class:`PermanentSyncError`).
Does not: converge anything (``flex.sync.reconciler`` does) or judge Twilio's errors
(``flex.sync.failures`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# "partial": converged, except mapped keys whose value could not be produced (they keep theirs).
OUTCOMES = (
    "created", "updated", "unchanged", "renamed", "disabled", "enabled", "deleted", "partial",
)  # fmt: skip


class PermanentSyncError(Exception):
    """Retrying cannot help until the user, the mapping or the worker changes; ``reason`` says
    what to fix, fit for an operator (no attribute values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SyncResult:
    """What one convergence did. ``outcome`` is one of :data:`OUTCOMES`."""

    outcome: str
    user_id: str
    friendly_name: str | None = None
    worker_sid: str | None = None
    problems: tuple[str, ...] = ()


@dataclass
class Changes:
    """What the convergence did to the worker, to name the outcome."""

    created: bool = False
    renamed: bool = False
    written: bool = False
    flags: set[str] = field(default_factory=set)

    held: bool = False

    def outcome(self) -> str:
        if self.held:
            return "partial"
        for name in ("deleted", "enabled", "disabled"):
            if name in self.flags:
                return name
        if self.created:
            return "created"
        if self.renamed:
            return "renamed"
        return "updated" if self.written else "unchanged"
