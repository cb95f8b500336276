"""The Twilio side. Knows no SCIM wire format.

Does: turn a stored SCIM user into the TaskRouter worker it should have (``mapping``, ``identity``,
``roles``, ``expressions``), and converge workers to that state through the ``twilio`` library:
read-merge-write of the keys the sync owns, deprovision policy, retries, reconciliation.
Does not: speak HTTP to Entra, parse SCIM requests, or import ``scimbridge.scim``; the two sides
meet only in the store and the settings.
"""
