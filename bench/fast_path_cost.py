"""Per-body CPU cost of turning Entra's everyday POST and PATCH bodies into stored documents.

Run from a checkout: ``python bench/fast_path_cost.py`` (about 20 seconds). It times the pure
``scim.documents`` step (body → document, no database, no HTTP) for the bench's POST body and for
a one-operation and a three-operation PATCH, best of seven repeats of CPU time, and prints
microseconds per body.
"""

from __future__ import annotations

import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scim_load import user_body

from scimbridge.scim import documents
from scimbridge.scim.extensions import ENTERPRISE_URN, ResourceModels

MODELS = ResourceModels(())
ONE = {"Operations": [{"op": "Replace", "path": "displayName", "value": "Bench User 2"}]}
THREE = {
    "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Bench User 2"},
        {"op": "Replace", "path": "name.givenName", "value": "Benchy"},
        {"op": "Add", "path": f"{ENTERPRISE_URN}:department", "value": "Support"},
    ]
}


def patcher() -> Any:
    """The PATCH step as the routes call it: read the body once, then apply it."""
    try:
        from scimbridge.scim import patch_body
    except ImportError:  # before scim/patch_body.py: size check, summary and steps apart

        def old(body: Any, current: dict[str, Any]) -> Any:
            documents.check_patch_size(body, 100)  # type: ignore[attr-defined]
            documents.patch_summary(body)  # type: ignore[attr-defined]
            return documents.patch_user(body, current, MODELS)

        return old

    def new(body: Any, current: dict[str, Any]) -> Any:
        patch = patch_body.read_patch(body, MODELS, "User", max_operations=100)
        return documents.patch_user(patch, current, MODELS)

    return new


def per_body(call: Any, number: int) -> float:
    # CPU time of this process, not wall time: on a shared machine preemption is not its cost.
    runs = timeit.repeat(call, number=number, repeat=7, timer=time.process_time)
    return min(runs) / number * 1e6


def main() -> None:
    body = user_body("bench.user000001@example.com", 1)
    current = documents.create_user(body, MODELS)
    patch = patcher()
    create = per_body(lambda: documents.create_user(body, MODELS), 2000)
    print(f"POST  body → document  {create:7.1f} µs")
    print(f"PATCH 1 op → document  {per_body(lambda: patch(ONE, current), 5000):7.1f} µs")
    print(f"PATCH 3 op → document  {per_body(lambda: patch(THREE, current), 3000):7.1f} µs")


if __name__ == "__main__":
    main()
