"""Persistence: one ``Database`` and the objects the rest of the service reaches it through.

Does: keep users, groups, memberships, tokens, audit, worker links, the sync outbox and the
service's shared facts in one SQL database (SQLite or PostgreSQL), and hand them out as objects
built from one :class:`~scimbridge.store.database.Database`: ``Directory`` (users and groups,
answering parsed SCIM filters), ``Outbox``, ``WorkerLinks``, ``Tokens`` and ``ServiceState``
(``store.objects.Store`` holds them all). Each class's docstring states its contract; the
translation of filters, JSON paths and ``sortBy`` to SQL lives in ``store.query``; the column
limits are published in ``store.limits``.
Does not: speak HTTP, parse SCIM request bodies, or call Twilio. Outside this package only the
composition root sees an engine or imports SQLAlchemy.
"""
