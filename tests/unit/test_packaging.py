"""The package list in pyproject.toml names every package in the source tree.

A non-editable install (the README's commands, the container image) ships only the packages
listed there, so a new sub-package that is not listed works in a development checkout and is
missing from every real install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _source_packages() -> set[str]:
    found: set[str] = set()
    for top, prefix in (("scimbridge", "scimbridge"), ("migrations", "scimbridge.migrations")):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            parts = list(relative.parts)
            found.add(".".join([prefix, *parts]))
    return found


def test_every_package_directory_is_listed_for_installation() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(settings["tool"]["setuptools"]["packages"])
    missing = sorted(_source_packages() - listed)
    stale = sorted(listed - _source_packages())
    assert missing == [], f"packages not listed in pyproject.toml: {missing}"
    assert stale == [], f"listed packages with no directory: {stale}"
