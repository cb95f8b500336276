"""The fake Flex server's page for people: ``GET /`` lists every worker, and how to reach the fake.

Does: render one HTML page (refreshing itself every few seconds) with each workspace's workers:
friendly name, activity (available or not), attributes (pretty-printed JSON, shown as stored
when it is not JSON), SID and last update; and the Flex users of the Users API mode. Serve
``GET /__fake__/env``: the environment variables a client of this fake sets (the Twilio names
and scimbridge's ``SCIMBRIDGE_*`` ones), as JSON, so ``scimbridge fake-flex --print-env`` can
print ``export`` lines.
Does not: change state, or check credentials: the page and the env are for the person running
the demo on loopback, and the fake's token guards nothing real. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
import json

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.records import WorkerRecord
from scimbridge.testing.fakeflex.render import iso

REFRESH_SECONDS = 2
STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2em; color: #1d1d1f; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4em .6em; border-bottom: 1px solid #ddd; }
pre { margin: 0; font-size: 13px; white-space: pre-wrap; }
.available { color: #0a7d28; font-weight: 600; } .unavailable { color: #b3261e; font-weight: 600; }
.note { color: #555; }
"""


def client_environment(state: FakeFlexState, base_url: str) -> dict[str, str]:
    """What a client sets to talk to this fake: exactly the names scimbridge reads."""
    return {
        "SCIMBRIDGE_TWILIO_BASE_URL": base_url,
        "TWILIO_ACCOUNT_SID": state.account_sid,
        "TWILIO_AUTH_TOKEN": state.auth_token,
        "SCIMBRIDGE_TWILIO_WORKSPACE_SID": state.workspace_sid or "",
        "SCIMBRIDGE_FLEX_INSTANCE_SID": state.flex_instance_sid,
    }


def _attributes(record: WorkerRecord) -> str:
    try:
        shown = json.dumps(json.loads(record.attributes), indent=2, ensure_ascii=False)
    except ValueError:
        shown = record.attributes
    return f"<pre>{html.escape(shown)}</pre>"


def _worker_rows(state: FakeFlexState, workspace_sid: str) -> list[str]:
    rows = []
    for record in sorted(state.workers(workspace_sid), key=lambda r: r.friendly_name.casefold()):
        activity = state.activity_of(record)
        css = "available" if activity.available else "unavailable"
        rows.append(
            "<tr class='worker'>"
            f"<td class='friendly-name'>{html.escape(record.friendly_name)}</td>"
            f"<td class='{css}'>{html.escape(activity.friendly_name)}</td>"
            f"<td>{_attributes(record)}</td>"
            f"<td><code>{html.escape(record.sid)}</code><br>"
            f"<span class='note'>updated {html.escape(iso(record.date_updated) or '')}</span></td>"
            "</tr>"
        )
    return rows


def render_page(state: FakeFlexState) -> str:
    """The whole page for the current state."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        "<title>Fake Flex: workers</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Fake Twilio Flex: TaskRouter workers</h1>",
        "<p class='note'>An in-memory imitation of Twilio for demos and tests; nothing here "
        f"reaches Twilio. This page refreshes every {REFRESH_SECONDS} seconds. "
        f"Account <code>{html.escape(state.account_sid)}</code>.</p>",
    ]
    with state.lock:
        for workspace_sid in state.workspace_sids():
            workspace = state.workspace(workspace_sid)
            rows = _worker_rows(state, workspace_sid)
            parts.append(
                f"<h2>Workspace {html.escape(workspace.friendly_name)} "
                f"<code>{html.escape(workspace_sid)}</code>: "
                f"<span id='worker-count'>{len(rows)}</span> worker(s)</h2>"
            )
            if rows:
                parts.append(
                    "<table><thead><tr><th>friendly name</th><th>activity</th>"
                    "<th>attributes</th><th>sid</th></tr></thead><tbody>"
                )
                parts.extend(rows)
                parts.append("</tbody></table>")
            else:
                parts.append("<p class='note'>No workers yet.</p>")
        users = state.users.all()
        if users:
            parts.append(f"<h2>Flex users (Users API): {len(users)}</h2><ul>")
            parts.extend(f"<li>{html.escape(user.username)}</li>" for user in users)
            parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def page_routes(state: FakeFlexState) -> list[Route]:
    """``GET /`` (the page) and ``GET /__fake__/env``."""

    async def page(request: Request) -> Response:
        return HTMLResponse(render_page(state), headers={"Cache-Control": "no-store"})

    async def env(request: Request) -> Response:
        return JSONResponse(client_environment(state, str(request.base_url).rstrip("/")))

    return [
        Route("/", page, methods=["GET"]),
        Route("/__fake__/env", env, methods=["GET"]),
    ]
