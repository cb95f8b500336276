"""Test doubles shipped with scimbridge.

Does: hold the fake Flex (:mod:`scimbridge.testing.fakeflex`): a faithful, stateful fake of Twilio
TaskRouter Workers and the Flex APIs the sync uses, reached by the real ``twilio`` client over real
HTTP (:mod:`.fakeflex.server`) or in process (:mod:`.fakeflex.inprocess`), with fault injection,
request recording and an SSO-login simulation; also what ``scimbridge fake-flex`` serves for demos.
Does not: talk to Twilio, hold real credentials, or get imported by the production code paths.
"""
