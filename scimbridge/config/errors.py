"""The one error a configuration problem raises.

Does: define :class:`ConfigError`, which carries every problem found (``problems``), each a
sentence fit for an operator, most starting with its TOML key path or variable name.
Does not: decide what is a problem (``config.tables``, ``config.settings`` and the parsers of
``[flex]`` and ``[auth]`` do).
"""

from __future__ import annotations

from collections.abc import Sequence


class ConfigError(ValueError):
    """The environment or the TOML file holds a value scimbridge cannot use.

    ``problems`` lists every problem found; the message is the first, or all of them joined.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)
