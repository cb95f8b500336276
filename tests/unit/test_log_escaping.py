"""Control characters a caller sends (path, user agent, request id) never forge a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from scimbridge.ops.logging import JsonFormatter, SecretScrubber, escape_controls, request_id

PLAIN = logging.Formatter("%(levelname)s [%(request_id)s] %(message)s")


def emit(formatter: logging.Formatter, message: str, *args: object, **extra: object) -> str:
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.addFilter(SecretScrubber())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.escaping.{id(sink)}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return sink.getvalue()


FORGED = "/scim/v2/Users/x\nforged INFO scimbridge.access DELETE\r\x1b[2K\u2028\x85"


@pytest.mark.parametrize("formatter", [PLAIN, JsonFormatter()], ids=["plain", "json"])
def test_a_forged_line_stays_on_its_own_line(formatter: logging.Formatter) -> None:
    token = request_id.set("rid\nforged")
    try:
        text = emit(formatter, "GET %s 404 %s", FORGED, "agent\n2", path=FORGED)
    finally:
        request_id.reset(token)
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\r" not in text and "\x1b" not in text and "\u2028" not in text and "\x85" not in text
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(text)
        assert "x\\x0aforged INFO" in entry["message"]
        assert "\\x0aforged" in entry["path"] and "\n" not in entry["path"]
        assert entry["request_id"] == "rid\\x0aforged"
    else:
        assert "x\\x0aforged INFO" in text and "agent\\x0a2" in text and "rid\\x0aforged" in text


def test_escaping_keeps_ordinary_text() -> None:
    assert escape_controls("GET /scim/v2/Users?ä 200 Ann Lee") == "GET /scim/v2/Users?ä 200 Ann Lee"
    assert escape_controls("a\tb\x7f") == "a\\x09b\\x7f"
