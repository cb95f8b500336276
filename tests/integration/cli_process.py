"""Run ``python -m scimbridge`` as a person would: a subprocess with a clean environment.

Does: start a long-running command (``serve``, ``fake-flex``) whose output lines can be awaited
and which is stopped by its PID; run a short command to completion and hand back its exit code
and output. The environment is the test's, minus every ``TWILIO_*``/``SCIMBRIDGE_*`` variable,
plus what the test passes.
Does not: start fakes or databases (the fixtures do).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def clean_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SCIMBRIDGE_"))}
    return {**base, "COLUMNS": "200", **env}


@dataclass(frozen=True)
class Finished:
    """A command that ran to completion."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    args: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 120
) -> Finished:
    done = subprocess.run(
        [sys.executable, "-m", "scimbridge", *args],
        env=clean_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


class Process:
    """A long-running ``python -m scimbridge`` subprocess whose output lines can be awaited."""

    def __init__(self, args: list[str], env: dict[str, str], *, cwd: Path | None = None) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "scimbridge", *args],
            env=clean_env(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)

    def wait_line(self, pattern: str, seconds: float = 60) -> re.Match[str]:
        """The first line from now on that matches ``pattern``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.popen.poll() is None, "exited early:\n" + "".join(self.seen)
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "".join(self.seen))

    def output(self) -> str:
        """Every line read so far (including those no one waited for)."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.seen)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=30)
        time.sleep(0.05)  # let the reader thread take the last lines
        return code
