"""The SCIM token ``serve`` creates when none exists, and where it is handed over.

Does: when there is neither a static token nor a live stored one, create a stored token named
``default`` and give it to the operator somewhere no log collector reads: on the terminal when
stdout is one (or in ``--fake-flex`` demo mode, which runs in a terminal by design), otherwise in
a file created owner-only (0600, whatever the umask) whose path is logged. A file that cannot be
written means no token is created, and the log says how to make one.
Does not: print the token into stderr or a log line, or create a token when one exists.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from rich.console import Console

from scimbridge.store.tokens import Tokens

log = logging.getLogger("scimbridge")
FIRST_TOKEN_NAME = "default"


def hand_out_first_token(
    tokens: Tokens, *, has_static: bool, token_file: Path, demo: bool, console: Console
) -> None:
    """Create and hand over the first token, if no token exists (see the module docstring)."""
    if has_static or any(record.live for record in tokens.list_tokens()):
        return
    if demo or sys.stdout.isatty():
        _, secret = tokens.create_token(FIRST_TOKEN_NAME)
        console.print(
            "No SCIM token existed, so one was created. Paste it into Entra's Secret Token; "
            "it is shown only this once:\n"
        )
        console.print(f"    {secret}\n", highlight=False, soft_wrap=True, markup=False)
        return
    path = token_file.absolute()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        log.error(
            "no SCIM token exists and %s cannot be written (%s): create one with "
            "`scimbridge token create --name entra`",
            path,
            exc.strerror,
        )
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        _, secret = tokens.create_token(FIRST_TOKEN_NAME)
        handle.write(secret + "\n")
    log.warning(
        "no SCIM token existed, so one was created and written to %s (mode 0600): paste it "
        "into Entra's Secret Token, then delete the file",
        path,
    )
