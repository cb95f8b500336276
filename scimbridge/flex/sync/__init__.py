"""Converge workers: reconcile one user, drain the outbox, resync everyone, report drift.

Does: read the stored user and its worker link, compute the desired worker (``flex.mapping``),
converge the worker through ``flex.twilio``, and judge each failure (retry, wait, dead-letter);
lease outbox rows to a pool of threads; diff and converge every user on ``resync``.
Does not: parse configuration, speak SCIM, or import ``twilio`` directly.
"""
