"""``scimbridge resync``: list the workers, diff them against the store, converge the drift.

Does: build the reconciler (``runtime`` with ``reconcile_only``), plan with a progress bar, print
the plan (counts, what differs, orphans), apply it unless ``--dry-run``, prune orphans when asked,
and print the outcome; exit 1 when a user failed. Every user-derived cell is escaped.
Does not: decide what differs or how to converge (``flex.sync.resync``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scimbridge.cli import context
from scimbridge.cli.context import command_configuration, command_runtime, fail

if TYPE_CHECKING:
    from scimbridge.flex.sync.resync import Outcome, Plan


def resync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the drift; change nothing.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="Only the user with this userName.")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove orphan workers (offline, then delete).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Prune without asking.")] = False,
    remove_skill: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-skill",
            help="Also take this skill, no longer in [flex.group_skills], off every user's "
            "worker (routing and disabled_skills). Repeatable.",
        ),
    ] = None,
) -> None:
    """List the workers, diff them against the store, converge the drift; 1 if a user failed."""
    from dataclasses import replace

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from scimbridge.flex.sync.resync import Resync
    from scimbridge.flex.twilio.errors import FlexApiError

    configuration = command_configuration()
    settings = configuration.settings
    if settings.twilio is None:
        raise fail(
            "resync needs Twilio settings (TWILIO_ACCOUNT_SID…); for a fake Flex: "
            'eval "$(scimbridge fake-flex --print-env --port PORT)"'
        )
    mapping = configuration.mapping
    if remove_skill:
        try:
            mapping = replace(mapping, skills=mapping.skills.retiring(remove_skill))
        except ValueError as exc:
            raise fail(str(exc)) from exc
    runtime = command_runtime(
        configuration, "resync", create=False, mapping=mapping, reconcile_only=True
    )
    assert runtime.reconciler is not None  # settings.twilio is set
    resyncer = Resync(runtime.store, runtime.reconciler)

    def progress() -> Progress:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        return Progress(
            *columns, console=context.err, transient=True, disable=not context.err.is_terminal
        )

    try:
        with progress() as bar:
            task = bar.add_task("listing workers", total=None)
            plan = resyncer.plan(
                user_name=user, on_listed=lambda count: bar.update(task, completed=count)
            )
    except LookupError as exc:
        context.err.print(f"[red]{escape(str(exc.args[0]))}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    except FlexApiError as exc:
        context.err.print(f"[red]Twilio:[/red] {escape(exc.message)}", highlight=False)
        raise typer.Exit(1) from exc
    _print_resync_plan(plan, prune=prune)
    if dry_run:
        context.console.print("dry run: nothing was changed")
        return
    with progress() as bar:
        task = bar.add_task("converging", total=plan.converging)
        outcome = resyncer.apply(plan, on_done=lambda _entry: bar.advance(task))
    if prune and plan.orphans:
        if not plan.complete:
            context.err.print(
                "[yellow]--prune needs a full resync (without --user); nothing pruned[/yellow]"
            )
        elif yes or typer.confirm(f"Delete {len(plan.orphans)} orphan worker(s)?", err=True):
            with progress() as bar:
                task = bar.add_task("pruning", total=len(plan.orphans))
                resyncer.prune(plan, outcome, on_done=lambda _worker: bar.advance(task))
    _print_resync_outcome(outcome)
    raise typer.Exit(0 if outcome.ok else 1)


RESYNC_ROWS = (
    ("create", "to create"),
    ("update", "to update"),
    ("make_unavailable", "to make unavailable"),
    ("delete", "to delete"),
    ("unchanged", "unchanged"),
)


def _print_resync_plan(plan: Plan, *, prune: bool) -> None:
    counts = plan.counts()
    source = f"{plan.listed} worker(s) listed" if plan.complete else "one user looked up"
    context.console.print(f"resync plan ({source})")
    table = Table("", "users")
    for key, label in RESYNC_ROWS:
        table.add_row(label, str(counts[key]))
    table.add_row("orphans", str(counts["orphans"]) if plan.complete else "-")
    context.console.print(table)
    if plan.fetched:  # counts only below: each user-derived cell is escaped
        context.console.print(
            f"{plan.fetched} worker(s) listed without attributes were fetched to diff"
        )
    drifted = [entry for entry in plan.entries if entry.action != "unchanged"]
    if drifted:
        detail = Table("user", "action", "what differs", "skills")
        for entry in drifted[:50]:
            detail.add_row(
                escape(entry.label),
                entry.action.replace("_", " "),
                escape("; ".join(entry.differences)),
                escape(", ".join(entry.skills)),
            )
        context.console.print(detail)
        if len(drifted) > 50:
            context.console.print(f"… and {len(drifted) - 50} more")
    if plan.orphans:
        orphans = Table("orphan worker", "sid", "activity")
        for orphan in plan.orphans[:50]:
            orphans.add_row(
                escape(orphan.friendly_name), escape(orphan.sid), escape(orphan.activity_name)
            )
        context.console.print(orphans)
        if not prune:
            context.console.print("orphans are kept; `--prune` removes them")
    for failure in plan.failures:
        context.err.print(
            f"[red]✗[/red] {escape(f'{failure.label}: {failure.reason}')}", highlight=False
        )


def _print_resync_outcome(outcome: Outcome) -> None:
    by_outcome: dict[str, int] = {}
    for result in outcome.converged:
        by_outcome[result.outcome] = by_outcome.get(result.outcome, 0) + 1
    summary = ", ".join(f"{name} {count}" for name, count in sorted(by_outcome.items()))
    context.console.print(
        f"converged {len(outcome.converged)} user(s)" + (f": {summary}" if summary else "")
    )
    failed = {failure.user_id for failure in outcome.failures}
    for user_id in outcome.retried:
        verdict = "[red]failed again[/red]" if user_id in failed else "[green]ok[/green]"
        context.console.print(f"dead-lettered user {escape(user_id)} retried: {verdict}")
    if outcome.pruned:
        context.console.print(f"pruned {len(outcome.pruned)} orphan worker(s)")
    for worker, reason in outcome.prune_failures:
        text = f"orphan {worker.friendly_name} ({worker.sid}) not pruned: {reason}"
        context.err.print(f"[red]✗[/red] {escape(text)}", highlight=False)
    for failure in outcome.failures:
        text = f"{failure.label} ({failure.user_id}): {failure.reason}"
        context.err.print(f"[red]✗[/red] {escape(text)}", highlight=False)
    if outcome.failures:
        context.err.print(
            f"{len(outcome.failures)} user(s) failed; they are queued for the sync worker"
        )
