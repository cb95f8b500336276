"""Persistence: tables, the repository that writes them, the filter→SQL translator, the outbox.

Does: keep users, groups, memberships, tokens, audit, worker links and the sync outbox in one
SQL database (SQLite or PostgreSQL), enforce uniqueness, and translate SCIM filters to SQL.
Does not: speak HTTP, parse SCIM request bodies, or call Twilio.
"""
