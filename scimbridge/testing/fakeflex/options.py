"""Behaviour switches of the fake Flex server.

Does: hold the toggles for behaviour the live API leaves unconfirmed or that tests want to vary
(If-Match enforcement, refusing to delete available workers, nulling list attributes, URL hosts,
rate limits), and apply partial updates from the test-control endpoint.

Does not: store resources or decide faults; readers hold the state lock while reading them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class FakeFlexOptions:
    """Switches read on every request; change them through ``state.set_options(...)``.

    - ``enforce_if_match``: 412 when If-Match differs from the worker's ETag (off by default: the
      live API declares the header for Workers but its enforcement is unconfirmed).
    - ``refuse_delete_available``: 400/20001 when deleting a worker in an available activity.
    - ``refuse_delete_reserved``: 400/20001 when deleting a worker with a pending reservation
      (on by default: what Twilio answers; switch it off to test the other reading of §1.8).
    - ``null_list_attributes``: ``attributes`` is null in list responses (one documented reading).
    - ``taskrouter_base_url`` / ``flex_base_url``: host written into ``url``, ``links`` and
      ``meta.*_url``; None means the fake's own address as the client reached it.
    - ``target_workers_expression_rps``: allowed TargetWorkersExpression lists per second.
    - ``rate_limit_per_second``: the figure behind ``X-Rate-Limit-Limit``/``-Remaining``;
      ``enforce_rate_limit`` turns exhausting it into 429/20429.
    - ``max_concurrent_requests``: more requests in flight than this get 429/20429.
    - ``max_available_workers``: cap on workers in available activities (400/14240 beyond it).
    """

    enforce_if_match: bool = False
    refuse_delete_available: bool = False
    refuse_delete_reserved: bool = True
    null_list_attributes: bool = False
    taskrouter_base_url: str | None = None
    flex_base_url: str | None = None
    target_workers_expression_rps: float = 3.0
    rate_limit_per_second: int = 100
    enforce_rate_limit: bool = False
    max_concurrent_requests: int | None = None
    max_available_workers: int | None = None

    def apply(self, changes: Mapping[str, object]) -> None:
        """Set the named fields; unknown names raise ``KeyError``, wrong types ``TypeError``."""
        known = {f.name: f for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise KeyError(name)
            _check_type(name, str(known[name].type), value)
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _check_type(name: str, declared: str, value: object) -> None:
    nullable = "None" in declared
    if value is None:
        if not nullable:
            raise TypeError(f"{name} must not be null")
        return
    if declared.startswith("bool"):
        ok = isinstance(value, bool)
    elif declared.startswith(("int", "float")):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise TypeError(f"{name} has the wrong type")
