"""How a failed convergence is judged: transient, worth a few more tries, or permanent.

Does: say whether a failure passes on its own however long it lasts (:func:`is_transient`: 429,
5xx, timeouts, refused or dropped connections, the database gone), and give each failure an
operator's reason and whether it is permanent (:func:`classify`: a 4xx that sending again cannot
change, a user that cannot be mapped). A transient failure's reason starts with its cause
(``store.outbox.OUTAGE_CAUSES``), by which ``status`` and ``/readyz`` name an outage. Reasons
carry no secrets or user data.
Does not: retry, back off or dead-letter anything (``flex.sync.retries`` does).
"""

from __future__ import annotations

from scimbridge.flex.sync.name_conflicts import WaitingForName
from scimbridge.flex.sync.outcome import PermanentSyncError
from scimbridge.flex.twilio.errors import (
    FlexApiError,
    InvalidRequest,
    PreconditionFailed,
    RateLimited,
    TwilioNotFound,
    Unauthorized,
    Unavailable,
    WorkerBusy,
    WorkerNotFound,
)
from scimbridge.store.errors import DATABASE_FAILURES
from scimbridge.store.outbox import DATABASE_UNAVAILABLE, TWILIO_THROTTLING, TWILIO_UNREACHABLE


def is_database_error(error: Exception) -> bool:
    """The database failed (went away, timed out, refused): nothing about the user is wrong."""
    return isinstance(error, DATABASE_FAILURES)


def is_transient(error: Exception) -> bool:
    """Whether ``error`` passes on its own however long it lasts (retried without limit)."""
    return isinstance(error, RateLimited | Unavailable) or is_database_error(error)


def classify(error: Exception) -> tuple[bool, str]:
    """(permanent?, reason) for a failed convergence. Reasons carry no secrets or user data."""
    if isinstance(error, PermanentSyncError):
        return True, error.reason
    if isinstance(error, WaitingForName):
        return False, error.reason
    if isinstance(error, Unauthorized):
        return True, f"Twilio refused the credentials ({error.message}); fix them, then resync"
    if isinstance(error, WorkerBusy):
        return False, f"{error.message} (retried while the reservations time out)"
    if isinstance(error, WorkerNotFound | PreconditionFailed):
        return False, error.message
    if isinstance(error, InvalidRequest | TwilioNotFound):
        return True, error.message
    if isinstance(error, Unavailable):
        return False, f"{TWILIO_UNREACHABLE}: {error.message}"
    if isinstance(error, RateLimited):
        return False, f"{TWILIO_THROTTLING}: {error.message}"
    if isinstance(error, FlexApiError):
        return False, error.message
    if is_database_error(error):
        # Driver messages can quote row values; the class name is enough to act on.
        return False, f"{DATABASE_UNAVAILABLE} ({type(error).__name__})"
    return False, f"unexpected {type(error).__name__}"
