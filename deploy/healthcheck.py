"""The container image's HEALTHCHECK: ask ``/healthz`` of the ``scimbridge serve`` this
container runs, on the port and address it was started with.

Does: read the command line of the container's main process (PID 1, or ``--pid``), take
``--port``/``--host`` from it as ``serve`` would (its defaults: 8000, and 127.0.0.1), and exit 0
when ``GET /healthz`` answers 200 within 4 seconds, 1 otherwise. A container running another
command (``migrate``, ``worker``) has no HTTP port: it is healthy while that process runs.
Does not: check the database or Twilio (``/healthz`` is liveness only), or import scimbridge
(it runs with the image's plain Python, outside the application's environment).
"""

from __future__ import annotations

import argparse
import sys
import urllib.request

_WILDCARDS = {"0.0.0.0", "::", ""}


def _option(argv: list[str], name: str, default: str) -> str:
    value = default
    for index, word in enumerate(argv):
        if word == name and index + 1 < len(argv):
            value = argv[index + 1]
        elif word.startswith(name + "="):
            value = word.split("=", 1)[1]
    return value


def target(argv: list[str]) -> str | None:
    """The ``/healthz`` URL of the ``serve`` command line ``argv``, or None if it is not one."""
    if "serve" not in argv:
        return None
    port = _option(argv, "--port", "8000")
    host = _option(argv, "--host", "127.0.0.1")
    if host in _WILDCARDS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", default="1", help="the process whose command line to read")
    pid = parser.parse_args().pid
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = [word.decode() for word in cmdline.read().split(b"\0") if word]
    except OSError:
        print(f"no process {pid}", file=sys.stderr)
        return 1
    url = target(argv)
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
