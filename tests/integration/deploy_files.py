"""Readers for the files under ``deploy/``, shared by the deployment checks.

Each reader returns plain Python values (YAML documents, Containerfile instructions, systemd
keys, env-file pairs) so the tests can assert on what an operator would see. The CLI and the
settings module are consulted as the app itself reads them, never re-described here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from scimbridge.cli.main import app as cli_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
WORKLOAD_KINDS = ("Deployment", "Job")


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


COMPONENTS = KUBERNETES / "components"
# Kinds the Prometheus Operator defines: no schema of the Kubernetes API describes them.
OPERATOR_API = "monitoring.coreos.com/"


def kubernetes_resources() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object in deploy/kubernetes and its components (kustomizations
    excluded)."""
    resources: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        resources.extend((path, doc) for doc in yaml_documents(path))
    return resources


def render_kustomization(kubectl: str, directory: Path, components: Sequence[str]) -> list[Any]:
    """The objects ``kubectl kustomize`` renders for an overlay in ``directory`` of the base
    with ``components`` (names under deploy/kubernetes/components)."""
    base = Path(os.path.relpath(KUBERNETES, directory))
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(base)],
        "components": [str(base / "components" / name) for name in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    found: list[dict[str, Any]] = spec.get("containers", []) + spec.get("initContainers", [])
    return found


def workloads() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path, resource in kubernetes_resources():
        if resource["kind"] in WORKLOAD_KINDS:
            yield path, resource


def app_environment_names() -> set[str]:
    """The environment variables ``scimbridge.config`` reads, taken from its source."""
    source = "".join(
        path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "scimbridge" / "config").glob("*.py"))
    )
    return set(re.findall(r"[\"']((?:SCIMBRIDGE|TWILIO)_[A-Z0-9_]+)[\"']", source))


def env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` pairs of an env file (comments and blank lines skipped, quotes removed)."""
    pairs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not KEY=value"
        pairs[key.strip()] = value.strip().strip("'\"")
    return pairs


@dataclass(frozen=True)
class Invocation:
    """A ``scimbridge`` command line as the CLI parses it."""

    command: str
    params: dict[str, Any]


def parse_command_line(argv: Sequence[str]) -> Invocation:
    """Parse ``argv`` (``scimbridge`` first, any directory) with the real CLI parser.

    Raises ``ValueError`` for an unknown command and the CLI's own usage error for an unknown
    option or a bad value, as ``scimbridge`` itself would refuse them.
    """
    assert Path(argv[0]).name == "scimbridge", f"{argv!r} does not run scimbridge"
    command: Any = get_command(cli_app)
    names: list[str] = []
    rest = list(argv[1:])
    while hasattr(command, "commands"):  # a group: the next word picks the subcommand
        if not rest or rest[0] not in command.commands:
            raise ValueError(f"{' '.join(argv)!r}: no such scimbridge command")
        names.append(rest.pop(0))
        command = command.commands[names[-1]]
    context = command.make_context(" ".join(["scimbridge", *names]), rest)
    return Invocation(" ".join(names), dict(context.params))


@dataclass
class Stage:
    """One ``FROM`` stage of the Containerfile: its instructions in order."""

    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [arg for name, arg in self.instructions if name == instruction]


def containerfile_stages(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ``ARG`` defaults and the stages of a Containerfile (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, arg = line.partition(" ")
        name, arg = name.upper(), " ".join(arg.split())
        if name == "FROM":
            stages.append(Stage(base=arg))
        elif stages:
            stages[-1].instructions.append((name, arg))
        elif name == "ARG":
            key, _, default = arg.partition("=")
            global_args[key] = default
    return global_args, stages


def systemd_unit(path: Path) -> dict[str, list[str]]:
    """``Key`` → every value it is given in a unit file (sections merged; keys are unique)."""
    keys: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def exec_line(value: str) -> list[str]:
    """A systemd ``Exec*=`` value as argv (prefix characters such as ``-`` dropped)."""
    return shlex.split(value.lstrip("-@:+!"))
