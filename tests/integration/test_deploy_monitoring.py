"""deploy/monitoring: the Prometheus alert rules and the Grafana dashboard.

The rules go through ``promtool`` (Debian's ``prometheus`` package): syntax, and the examples in
``scimbridge.rules.test.yaml`` that show each alert firing, or not, on given series. Every metric
the rules and the dashboard's panels name must be one a running scimbridge exports: a real
server is scraped over HTTP and the names compared.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.integration.deploy_files import DEPLOY, yaml_documents
from tests.support import serving

MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "scimbridge.rules.yaml"
RULE_TESTS = MONITORING / "scimbridge.rules.test.yaml"
DASHBOARD = MONITORING / "scimbridge-dashboard.json"
TOKEN = "monitoring-static-token-9c2b"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
# Series Prometheus itself writes for every target.
PROMETHEUS_SERIES = frozenset({"up"})
# What the issue asks the alerts to cover, by the metric each must watch.
ALERTED = {
    "sync stalled": "scimbridge_last_successful_sync_timestamp_seconds",
    "dead letters": "scimbridge_sync_dead_letters",
    "backlog": "scimbridge_sync_backlog",
    "Twilio errors": "scimbridge_twilio_requests_total",
    "SCIM 5xx": "scimbridge_scim_requests_total",
    "readiness": "scimbridge_readiness_check",
    "mapping problems": "scimbridge_sync_mapping_problems",
}
_KEYWORDS = frozenset(
    {"by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS:
            names.add(match.group(1))
    return names


def test_metric_names_reads_metrics_only() -> None:
    expr = (
        'sum by (status) (rate(scimbridge_twilio_requests_total{status=~"5..|0"}[5m])) '
        "/ on(job) group_left sum(rate(x_total[$__rate_interval])) > 0.05 and time() - max(y) > 9"
    )
    assert metric_names(expr) == {"scimbridge_twilio_requests_total", "x_total", "y"}


def _exported(sqlite_url: str) -> set[str]:
    """Every sample name a fresh scimbridge exposes, counters and histograms expanded, after a
    SCIM request (so request series exist)."""
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with serving(create_app(build_runtime(settings))) as base:
        created = httpx.post(
            base + "/scim/v2/Users",
            json={"schemas": [CORE], "userName": f"g{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 201
        text = httpx.get(base + "/metrics").text
    names: set[str] = set()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
        names.update(sample.name for sample in family.samples)
    return names


def _rules() -> list[dict[str, Any]]:
    document = yaml_documents(RULES)[0]
    return [rule for group in document["groups"] for rule in group["rules"]]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus): rules not checked")
    return promtool


def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in checked.stdout


def test_alerts_fire_on_the_examples_and_only_there() -> None:
    tested = subprocess.run(
        [_promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=MONITORING,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    examples = yaml_documents(RULE_TESTS)[0]["tests"]
    fired = {
        case["alertname"]
        for example in examples
        for case in example.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in _rules()}, "every alert has an example that fires"


def test_alerts_cover_what_an_operator_must_hear_about() -> None:
    watched = {name for rule in _rules() for name in metric_names(rule["expr"])}
    missing = {what for what, metric in ALERTED.items() if metric not in watched}
    assert not missing, f"no alert on {sorted(missing)}"
    for rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_and_dashboard_name_only_metrics_scimbridge_exports(sqlite_url: str) -> None:
    exported = _exported(sqlite_url) | PROMETHEUS_SERIES
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [("rule " + rule["alert"], rule["expr"]) for rule in _rules()]
    exprs += [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    assert len(exprs) > len(_rules())
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where} reads no metric: {expr}"
        unknown = names - exported
        assert not unknown, f"{where} reads {sorted(unknown)}, which scimbridge does not export"


def test_dashboard_is_a_grafana_dashboard_a_person_can_import() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus", "the dashboard picks its Prometheus on import"
    panels = _panels(dashboard["panels"])
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"{panel['title']} is off the grid"
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "table", "gauge", "bargauge"}
        assert panel["datasource"]["uid"] == "${" + variable["name"] + "}"
        assert panel["targets"], f"{panel['title']} shows nothing"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))


def test_monitoring_files_are_where_the_readme_says(tmp_path: Path) -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in (RULES, RULE_TESTS, DASHBOARD):
        assert path.relative_to(DEPLOY).as_posix() in readme, f"deploy/README.md omits {path.name}"
