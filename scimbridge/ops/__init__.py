"""Operations: health and readiness, Prometheus metrics, structured secret-free logging.

Does: tell whether the process lives and is ready, count what happens, and write one log line per
request and per sync outcome with a request id.
Does not: serve SCIM or call Twilio.
"""
