"""Test doubles shipped with scimbridge.

Does: provide a faithful, stateful fake of Twilio TaskRouter Workers and the Flex APIs the sync uses
(``FakeFlexServer``, ``FakeFlexState``, ``Fault``), reached over real HTTP by the real ``twilio``
client, with fault injection, request recording and an SSO-login simulation; also what
``scimbridge fake-flex`` serves for demos.

Does not: talk to Twilio, hold real credentials, or get imported by the production code paths.
"""

from scimbridge.testing.fakeflex.recording import RecordedRequest
from scimbridge.testing.fakeflex.records import FakeApiError, WorkerRecord
from scimbridge.testing.fakeflex.server import (
    FakeFlexOptions,
    FakeFlexServer,
    FakeFlexState,
    Fault,
    FaultKind,
    serve_fake_flex,
)
from scimbridge.testing.fakeflex.users import FlexUserRecord

__all__ = [
    "FakeApiError",
    "FakeFlexOptions",
    "FakeFlexServer",
    "FakeFlexState",
    "Fault",
    "FaultKind",
    "FlexUserRecord",
    "RecordedRequest",
    "WorkerRecord",
    "serve_fake_flex",
]
