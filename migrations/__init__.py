"""Alembic migrations for the scimbridge database (run them with ``scimbridge migrate``)."""
