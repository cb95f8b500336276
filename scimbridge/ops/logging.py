"""Logging: plain or JSON lines, a request id on each, and no secret ever written.

Does: configure the root logger once per process, stamp records with the current request id,
scrub every known secret (SCIM tokens, Twilio auth token and API secret, metrics token, and
anything that looks like a bearer token or Basic credentials) from each line, and escape
control characters (a newline is written ``\\x0a``) in the message and the structured fields,
in both formats, so a caller's path, user agent or request id can never forge a line.
Does not: decide what to log (callers do).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(r"(sb_)[A-Za-z0-9_-]{20,}"),
)
# What each of the patterns starts with: one search for any of them is cheaper than three
# substitutions, and almost no line (an access line never) holds one.
_ANY_PATTERN = re.compile(r"(?i)bearer|basic|sb_")
REDACTED = "[redacted]"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators some viewers break on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FIELDS = ("event", "method", "path", "status", "duration_ms", "user_id", "outcome")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a backslash escape (``\\x0a``)."""
    # Every character _CONTROL matches is unprintable (categories Cc, Zl, Zp).
    return text if text.isprintable() else _CONTROL.sub(_escaped, text)


class SecretScrubber(logging.Filter):
    """Replaces known secrets and token-shaped strings in the formatted message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4:
            self.secrets = (*self.secrets, secret)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _ANY_PATTERN.search(text) is not None:
            for pattern in _PATTERNS:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = escape_controls(self.scrub(record.getMessage()))
        record.msg, record.args = message, None
        for key in FIELDS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, escape_controls(self.scrub(value)))
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.request_id = escape_controls(request_id.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key in FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class PlainFormatter(logging.Formatter):
    """``PLAIN_FORMAT``, with the time of day formatted once per second rather than per line
    (every request writes a line); the text is the standard formatter's."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, stamp = self._second  # one tuple: threads never see half an update
        if second != int(record.created):
            second = int(record.created)
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, stamp)
        return f"{stamp},{int(record.msecs):03d}"  # the standard default_msec_format


_scrubber = SecretScrubber()


def scrubber() -> SecretScrubber:
    return _scrubber


def configure_logging(fmt: str = "plain", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send scimbridge's (and uvicorn's) logs to stderr in ``fmt`` with secrets scrubbed."""
    for secret in secrets:
        _scrubber.add(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_scrubber)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_scimbridge", False):
            root.removeHandler(existing)
    handler._scimbridge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The request middleware writes one line per request; uvicorn's own access log is redundant.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # twilio logs every request URL at INFO, and lookups carry FriendlyName=<email> in the query.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # Every readiness check opens an alembic context, which says so at INFO.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
