"""deploy/ as an operator meets it: Kubernetes manifests and the compose stack.

No container engine or cluster is needed: manifests are checked against the Kubernetes API
schemas (kubernetes-validate ships them), rendered with ``kubectl kustomize`` when kubectl is
installed, and cross-checked against the running app (probe paths), the real CLI parser (every
command line) and the settings module (every environment variable).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.config_check import check_configuration
from scimbridge.runtime import build_runtime
from tests.integration.deploy_files import (
    DEPLOY,
    KUBERNETES,
    OPERATOR_API,
    ROOT,
    app_environment_names,
    containerfile_stages,
    containers,
    env_file,
    kubernetes_resources,
    parse_command_line,
    pod_spec,
    render_kustomization,
    workloads,
    yaml_documents,
)

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
# Oldest Kubernetes the manifests promise to work on, and the newest schemas available.
KUBERNETES_VERSIONS = ("1.29.0", "latest")
RESOURCES = kubernetes_resources()
KUBERNETES_API = [(p, r) for p, r in RESOURCES if not r["apiVersion"].startswith(OPERATOR_API)]
WORKLOADS = [pytest.param(path, resource, id=path.name) for path, resource in workloads()]


def _ids(items: list[Path]) -> list[str]:
    return [str(p.relative_to(DEPLOY)) for p in items]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [resource for _, resource in RESOURCES if resource["kind"] == kind]


def _image_user() -> int:
    _, stages = containerfile_stages(DEPLOY / "Containerfile")
    return int(stages[-1].values("USER")[-1].split(":")[0])


def _api() -> dict[str, Any]:
    (api,) = [d for d in _by_kind("Deployment") if d["metadata"]["name"] == "scimbridge"]
    return api


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_every_yaml_file_parses(path: Path) -> None:
    assert yaml_documents(path), f"{path.name} holds no YAML document"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "resource",
    [r for _, r in KUBERNETES_API],
    ids=[f"{p.name}:{r['kind']}" for p, r in KUBERNETES_API],
)
def test_manifest_is_valid_kubernetes(resource: dict[str, Any], version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    target = kubernetes_validate.latest_version() if version == "latest" else version
    # strict: a misspelt field is an error, not silently dropped by the API server.
    kubernetes_validate.validate(resource, target, strict=True)


def test_kustomization_renders_every_listed_resource_with_one_image() -> None:
    kustomization = yaml_documents(KUBERNETES / "kustomization.yaml")[0]
    assert "namespace" not in kustomization, "the base must stay namespace-agnostic"
    for name in kustomization["resources"]:
        assert (KUBERNETES / name).is_file(), f"kustomization lists missing {name}"
    assert "secret.example.yaml" not in kustomization["resources"], "placeholders would ship"
    (image,) = kustomization["images"]
    expected = f"{image['newName']}:{image['newTag']}"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the files were still validated one by one")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"]
    for obj in objects:
        assert "namespace" not in obj["metadata"]
        if obj["kind"] in ("Deployment", "Job"):
            assert {c["image"] for c in containers(obj)} == {expected}


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the files were still validated one by one")
    return kubectl


def test_every_workload_runs_the_same_image_the_kustomization_replaces() -> None:
    kustomization = yaml_documents(KUBERNETES / "kustomization.yaml")[0]
    images = {c["image"] for _, w in workloads() for c in containers(w)}
    assert len(images) == 1, f"manifests disagree on the image: {images}"
    assert images.pop().split(":")[0] == kustomization["images"][0]["name"]


@pytest.mark.parametrize("path,resource", WORKLOADS)
def test_workload_command_is_accepted_by_the_cli(path: Path, resource: dict[str, Any]) -> None:
    # The worker runs serve too: it gives the worker /healthz and /metrics.
    assert resource["metadata"]["name"] in ("scimbridge", "scimbridge-worker")
    (container,) = pod_spec(resource)["containers"]
    invocation = parse_command_line(container.get("command", []) + container["args"])
    assert invocation.command == "serve"
    ports = {p["containerPort"] for p in container["ports"]}
    assert invocation.params["port"] in ports, "serve listens on a port the pod does not name"
    assert invocation.params["host"] == "0.0.0.0", "probes and the Service cannot reach it"
    if resource["metadata"]["name"] == "scimbridge-worker":
        assert invocation.params["sync_threads"] >= 1, "the worker Deployment would not sync"


@pytest.mark.parametrize("path,resource", WORKLOADS)
def test_every_pod_migrates_first_so_apply_needs_no_job(
    path: Path, resource: dict[str, Any]
) -> None:
    # A migration Job is immutable once created and comes back after its TTL on every
    # `kubectl apply -k`; an init container runs with each new image instead.
    assert not _by_kind("Job"), "no migration Job: each pod's init container migrates"
    (init,) = pod_spec(resource)["initContainers"]
    (main,) = pod_spec(resource)["containers"]
    assert parse_command_line(init.get("command", []) + init["args"]).command == "migrate"
    assert init["image"] == main["image"], "the schema must be the one of the image that serves"
    assert init["envFrom"] == main["envFrom"], "it must reach the same database"


@pytest.mark.parametrize("path,resource", WORKLOADS)
def test_workload_runs_unprivileged_with_a_read_only_root(
    path: Path, resource: dict[str, Any]
) -> None:
    spec = pod_spec(resource)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == _image_user(), "UID differs from the image's"
    assert spec.get("automountServiceAccountToken") is False, "scimbridge never calls the API"
    mounts_by_volume = {v["name"]: v for v in spec["volumes"]}
    for container in containers(resource):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp, "Python needs a writable /tmp on a read-only root"
        assert "emptyDir" in mounts_by_volume[tmp[0]["name"]]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("path,resource", WORKLOADS)
def test_workload_settings_are_ones_the_app_reads(path: Path, resource: dict[str, Any]) -> None:
    known = _app_environment_names()
    config_maps = {c["metadata"]["name"]: c for c in _by_kind("ConfigMap")}
    secrets = {s["metadata"]["name"] for s in _by_kind("Secret")}
    volumes = {v["name"]: v for v in pod_spec(resource).get("volumes", [])}
    for container in containers(resource):
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert set(env) <= known, f"ignored by scimbridge: {sorted(set(env) - known)}"
        for source in container.get("envFrom", []):
            assert source["secretRef"]["name"] in secrets, "no example shows this Secret's keys"
        config_path = env.get("SCIMBRIDGE_CONFIG")
        if config_path is None:
            continue
        mount_dir, file_name = str(Path(config_path).parent), Path(config_path).name
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == mount_dir]
        config_map = config_maps[volumes[mount["name"]]["configMap"]["name"]]
        assert file_name in config_map["data"], f"{config_path} would not exist in the pod"


def test_example_secret_names_only_settings_the_app_reads() -> None:
    (secret,) = _by_kind("Secret")
    assert set(secret["stringData"]) <= _app_environment_names()


def test_probes_answer_on_the_running_app(sqlite_url: str) -> None:
    container = _api()["spec"]["template"]["spec"]["containers"][0]
    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    # Liveness must not depend on the database, or an outage there restarts every pod.
    assert liveness == "/healthz"
    # Readiness decides on what SCIM needs, so a Twilio outage never takes SCIM offline.
    assert readiness == "/readyz?scope=scim"
    client = TestClient(
        create_app(build_runtime(load_settings(env={"SCIMBRIDGE_DATABASE_URL": sqlite_url})))
    )
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        path = container[probe]["httpGet"]["path"]
        assert client.get(path).status_code == 200, f"{probe} {path} does not answer 200"
        assert container[probe]["httpGet"]["port"] in [p["name"] for p in container["ports"]]
    (worker,) = pod_spec(_worker())["containers"]
    for probe in ("livenessProbe", "startupProbe"):
        path = worker[probe]["httpGet"]["path"]
        assert path == "/healthz", "the worker must not restart because the database is down"
        assert client.get(path).status_code == 200
        assert worker[probe]["httpGet"]["port"] in [p["name"] for p in worker["ports"]]


def test_service_reaches_the_api_pods() -> None:
    (service,) = _by_kind("Service")
    api = _api()
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {
        p["name"]: p["containerPort"] for c in containers(api) for p in c.get("ports", [])
    }
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        assert target in port_names or target in port_names.values()


def test_network_policy_admits_the_ingress_to_scim_and_monitoring_to_metrics() -> None:
    (policy,) = [p for p in _by_kind("NetworkPolicy") if p["metadata"]["name"] == "scimbridge"]
    api = _api()
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (container,) = pod_spec(api)["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    serve = parse_command_line(container["args"])
    assert (
        named["http"] == serve.params["port"] and named["metrics"] == serve.params["metrics_port"]
    )
    admitted = {}
    for rule in policy["spec"]["ingress"]:
        (port,) = rule["ports"]
        (peer,) = rule["from"]
        admitted[port["port"]] = peer["namespaceSelector"]["matchLabels"]
    assert admitted == {
        "http": {"kubernetes.io/metadata.name": "ingress-nginx"},
        "metrics": {"kubernetes.io/metadata.name": "monitoring"},
    }
    # The probes use the SCIM port; /metrics is answered on the metrics port only.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_api_pods_believe_x_forwarded_for_only_from_a_named_network() -> None:
    serve = parse_command_line(containers(_api())[0]["args"])
    trusted = serve.params["forwarded_allow_ips"]
    assert trusted != "*" and "/" in trusted


def test_disruption_budget_keeps_one_api_pod_without_blocking_drains() -> None:
    (budget,) = _by_kind("PodDisruptionBudget")
    api = _api()
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < api["spec"]["replicas"]


def test_rolling_update_never_drops_below_the_wanted_replicas() -> None:
    assert _api()["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def _worker() -> dict[str, Any]:
    (worker,) = [d for d in _by_kind("Deployment") if d["metadata"]["name"] == "scimbridge-worker"]
    return worker


def test_separate_worker_is_opt_in_and_keeps_group_changes_queued() -> None:
    kustomization = yaml_documents(KUBERNETES / "kustomization.yaml")[0]
    assert not any("worker" in name for name in kustomization["resources"])
    assert "components" not in kustomization, "the base runs the sync in the API pods"
    for _, resource in workloads():
        for container in containers(resource):
            names = {e["name"] for e in container.get("env", [])}
            # SCIMBRIDGE_SYNC=false would also stop the API queueing membership changes.
            assert "SCIMBRIDGE_SYNC" not in names


def test_separate_worker_component_moves_the_sync_out_of_the_api(tmp_path: Path) -> None:
    objects = render_kustomization(_kubectl(), tmp_path, ["separate-worker"])
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(deployments) == {"scimbridge", "scimbridge-worker"}
    (api,) = pod_spec(deployments["scimbridge"])["containers"]
    (worker,) = pod_spec(deployments["scimbridge-worker"])["containers"]
    assert parse_command_line(api["args"]).params["sync_threads"] == 0, "the API still syncs"
    assert parse_command_line(worker["args"]).params["sync_threads"] >= 1
    assert deployments["scimbridge-worker"]["spec"]["strategy"]["type"] == "Recreate"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # No Service sends SCIM traffic to the worker; the PDB and Service keep to the API.
    labels = deployments["scimbridge-worker"]["spec"]["template"]["metadata"]["labels"]
    for obj in objects:
        if obj["kind"] in ("Service", "PodDisruptionBudget"):
            selector = obj["spec"].get("selector", {})
            selector = selector.get("matchLabels", selector)
            assert not selector.items() <= labels.items(), f"{obj['kind']} selects the worker"
    # Only monitoring reaches the worker, on its metrics port; nobody reaches its SCIM port.
    (policy,) = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("worker")
    ]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert [port["port"] for port in rule["ports"]] == ["metrics"]
    named = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert named["metrics"] == parse_command_line(worker["args"]).params["metrics_port"]
    for other in objects:
        if other["kind"] == "NetworkPolicy" and other is not policy:
            selected = other["spec"]["podSelector"]["matchLabels"]
            assert not selected.items() <= labels.items(), "the API's policy admits the ingress"
    # Without the component the API keeps its in-process worker.
    (base_api,) = pod_spec(_api())["containers"]
    assert parse_command_line(base_api["args"]).params["sync_threads"] >= 1


def test_prometheus_operator_component_scrapes_every_pod(tmp_path: Path) -> None:
    objects = render_kustomization(_kubectl(), tmp_path, ["separate-worker", "prometheus-operator"])
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    shipped = yaml_documents(DEPLOY / "monitoring" / "scimbridge.rules.yaml")[0]
    assert rule["spec"] == shipped, "the PrometheusRule differs from scimbridge.rules.yaml"
    selector = monitor["spec"]["selector"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    (secret,) = _by_kind("Secret")
    credentials = endpoint["authorization"]["credentials"]
    assert credentials["name"] == secret["metadata"]["name"]
    assert (
        credentials["key"] == "SCIMBRIDGE_METRICS_TOKEN"
        and credentials["key"] in secret["stringData"]
    )
    for deployment in [o for o in objects if o["kind"] == "Deployment"]:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        for expression in selector.get("matchExpressions", []):
            assert expression["operator"] == "In"
            assert labels[expression["key"]] in expression["values"]
        (container,) = pod_spec(deployment)["containers"]
        assert endpoint["port"] in [p["name"] for p in container["ports"]]


def _app_environment_names() -> set[str]:
    names = app_environment_names()
    assert "SCIMBRIDGE_DATABASE_URL" in names, "the settings module changed shape"
    return names


# --- compose ---------------------------------------------------------------------------------

COMPOSE = yaml_documents(DEPLOY / "compose.yaml")[0]
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def test_compose_dependencies_name_existing_services() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on missing {dependency}"


def test_compose_migrates_before_serving() -> None:
    migrate = parse_command_line(SERVICES["migrate"]["command"])
    assert migrate.command == "migrate"
    assert SERVICES["migrate"]["restart"] == "no"
    serve = parse_command_line(SERVICES["scimbridge"]["command"])
    assert serve.command == "serve"
    depends = SERVICES["scimbridge"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["image"] == SERVICES["scimbridge"]["image"]


def test_compose_database_is_postgresql_16_with_a_healthcheck() -> None:
    db = SERVICES["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in db["healthcheck"]["test"]
    assert "ports" not in db, "PostgreSQL must not be published"
    url = SERVICES["scimbridge"]["environment"]["SCIMBRIDGE_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@db:5432/" in url


def test_compose_publishes_only_the_tls_proxy() -> None:
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"caddy"}, "serve trusts X-Forwarded-*: only the proxy may reach it"
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    (upstream,) = re.findall(r"reverse_proxy\s+(\S+)", caddyfile)
    host, port = upstream.split(":")
    serve = parse_command_line(SERVICES[host]["command"])
    assert int(port) == serve.params["port"], "Caddy proxies to a port serve does not use"


def test_compose_mounts_files_that_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_compose_env_example_lists_every_setting_it_needs() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    # ${NAME} and ${NAME:?message} need a value; ${NAME:-default} does not.
    required = set(re.findall(r"\$\{([A-Z0-9_]+)(?:\}|:\?)", text))
    example = env_file(DEPLOY / ".env.example")
    missing = required - set(example)
    assert not missing, f".env.example does not mention {sorted(missing)}"
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text)) | _app_environment_names()
    assert set(example) <= used, f"set but read by nothing: {sorted(set(example) - used)}"
    assert SERVICES["scimbridge"]["env_file"] == ".env"


def test_compose_env_example_starts_the_app_as_shipped() -> None:
    example = env_file(DEPLOY / ".env.example")
    env = {**example, "SCIMBRIDGE_DATABASE_URL": "sqlite://"}
    settings = load_settings(env=env)
    assert settings.twilio is None, "the example must not pretend to have Twilio credentials"


@pytest.mark.parametrize("source", ["deploy/scimbridge.toml", "configmap.yaml"])
def test_example_settings_are_accepted_by_check_config(source: str, tmp_path: Path) -> None:
    if source == "configmap.yaml":
        (config_map,) = _by_kind("ConfigMap")
        path = tmp_path / "scimbridge.toml"
        path.write_text(config_map["data"]["scimbridge.toml"], encoding="utf-8")
    else:
        path = ROOT / source
    settings = load_settings(env={"SCIMBRIDGE_CONFIG": str(path)})
    assert check_configuration(settings).problems == ()


def test_kubernetes_and_compose_ship_the_same_example_settings() -> None:
    (config_map,) = _by_kind("ConfigMap")
    shipped = tomllib.loads((DEPLOY / "scimbridge.toml").read_text(encoding="utf-8"))
    assert tomllib.loads(config_map["data"]["scimbridge.toml"]) == shipped
