"""Settings: the bottom layer every other package reads, and which imports none of them.

Does: hold ``settings`` (the environment and the TOML file read once into a frozen
:class:`~scimbridge.config.settings.Settings`), ``tables`` (the one reader of TOML tables, which
collects every problem with its key path) and ``errors`` (:class:`ConfigError`).
Does not: re-export anything: each name has one import path, its module's.
"""
