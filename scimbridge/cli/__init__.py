"""The ``scimbridge`` command, one module per group of commands.

Does: ``main`` (the Typer application, global options and the console script), ``context`` (what
every command shares: the consoles, settings, database, runtime, and how a mistake is said),
``serve`` (serve, worker), ``fake_flex``, ``checks`` (migrate, check-config, status), ``resync``,
``tokens``, ``claims_import``, and the helpers ``database`` and ``first_token``.
Does not: re-export anything; each name has one import path.
"""
