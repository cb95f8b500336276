"""``POST /oauth2/token``: the OAuth 2.0 client-credentials grant that Entra uses to get a token.

Does: accept ``grant_type=client_credentials`` (RFC 6749 §4.4) from a client that authenticates
either with an Entra-signed client assertion (RFC 7523 §2.2: workload identity federation,
``[auth.workload_identity]``) or with a client secret in the form or in HTTP Basic
(``[auth.client_credentials]``, secrets configured as SHA-256 digests, several for rotation);
answer ``{access_token, token_type: "Bearer", expires_in}`` or an RFC 6749 §5.2 error, always with
``Cache-Control: no-store``; count failed client authentications in the shared failure throttle.
Does not: issue refresh tokens, honour ``scope`` (any value is accepted and ignored), support the
JWT-bearer *grant* (RFC 7523 §2.1; answered ``unsupported_grant_type``, so ``invalid_grant`` is
never sent), or remember assertions: a replayed assertion that is still valid gets a new token,
as Entra may legitimately ask again with the assertion it holds; it is bound to our audience,
short-lived, and gains its holder nothing the first request did not.

Issued tokens are opaque random strings stored only as a SHA-256 hash, with their expiry, in the
``api_tokens`` table (migration 0003). Chosen over a self-contained HMAC-signed token because the
database is already what every replica shares: no extra server secret to distribute and rotate,
a token can be revoked like any other (``scimbridge token revoke``), and the SCIM guard needs no
second code path. Expired tokens are purged when a new one is issued, and one client holds at most
``MAX_LIVE_TOKENS_PER_CLIENT`` (oldest dropped), so the table stays small.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, unquote_plus

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim.auth_config import AuthConfig
from scimbridge.scim.jwt_auth import ClaimRules, JwtRefused, SigningKeys, verify_jwt
from scimbridge.scim.throttle import FailureThrottle, client_key
from scimbridge.store.clock import utcnow
from scimbridge.store.errors import DATABASE_FAILURES
from scimbridge.store.tokens import Tokens

log = logging.getLogger("scimbridge.auth")

PATH = "/oauth2/token"
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 16
MAX_LIVE_TOKENS_PER_CLIENT = 20
ISSUED_NAME_PREFIX = "oauth:"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """A refusal, answered as RFC 6749 §5.2 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers: dict[str, str] = {}


def _invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    refusal = OAuthError("invalid_client", description, 401)
    if basic:
        refusal.headers["WWW-Authenticate"] = 'Basic realm="scimbridge", charset="UTF-8"'
    return refusal


def _json(
    status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


@dataclass(frozen=True)
class ClientCredentials:
    """What the request presented to authenticate the client (at most one method)."""

    client_id: str | None
    secret: str | None = None
    assertion: str | None = None
    via_basic: bool = False


async def _read_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise OAuthError("invalid_request", f"the body must be {FORM_MEDIA_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "the request body is too large")
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "the form could not be read") from exc
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise OAuthError("invalid_request", f"parameters sent more than once: {repeated[0]}")
    return {name: values[0] for name, values in fields.items()}


def _presented(request: Request, form: dict[str, str]) -> ClientCredentials:
    """Pick the one client authentication method the request uses (RFC 6749 §2.3)."""
    client_id = form.get("client_id") or None
    assertion = form.get("client_assertion")
    secret = form.get("client_secret")
    authorization = request.headers.get("authorization", "")
    scheme, _, encoded = authorization.strip().partition(" ")
    via_basic = scheme.lower() == "basic"
    if sum((assertion is not None, secret is not None, via_basic)) > 1:
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if via_basic:
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _invalid_client("malformed Basic credentials", basic=True) from exc
        basic_id, colon, basic_secret = decoded.partition(":")
        if not colon:
            raise _invalid_client("malformed Basic credentials", basic=True)
        basic_id, basic_secret = unquote_plus(basic_id), unquote_plus(basic_secret)
        if client_id is not None and client_id != basic_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        return ClientCredentials(basic_id, secret=basic_secret, via_basic=True)
    if assertion is not None:
        assertion_type = form.get("client_assertion_type")
        if assertion_type is None:
            raise OAuthError("invalid_request", "client_assertion_type is missing")
        if assertion_type != JWT_BEARER_ASSERTION:
            raise _invalid_client("unsupported client_assertion_type")
        return ClientCredentials(client_id, assertion=assertion)
    if secret is not None:
        return ClientCredentials(client_id, secret=secret)
    raise _invalid_client("client authentication is required")


class TokenEndpoint:
    """The token endpoint, bound to one database, one ``[auth]`` config and one throttle."""

    def __init__(
        self,
        tokens: Tokens,
        config: AuthConfig,
        assertion_keys: SigningKeys | None,
        throttle: FailureThrottle | None,
    ) -> None:
        self.tokens = tokens
        self.config = config
        self.assertion_keys = assertion_keys
        self.throttle = throttle
        identity = config.workload_identity
        self.assertion_rules = (
            ClaimRules(
                issuers=(identity.issuer,),
                audiences=(identity.audience,),
                tenant_id=identity.tenant_id,
                leeway_seconds=identity.leeway_seconds,
                subject=identity.subject,
            )
            if identity
            else None
        )

    async def handle(self, request: Request) -> Response:
        address = client_key(request.client.host if request.client else None)
        try:
            form = await _read_form(request)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is missing")
            if grant_type != "client_credentials":
                raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
            presented = _presented(request, form)
            client_id, lifetime = await run_in_threadpool(self._authenticate, presented)
        except OAuthError as refusal:
            # Only a failed client authentication counts, and the client is checked before the
            # throttle is consulted: a valid client is never refused for others' failures.
            if refusal.error == "invalid_client" and self.throttle is not None:
                wait = self.throttle.retry_after(address)
                if wait is not None:
                    body = {
                        "error": "temporarily_unavailable",
                        "error_description": f"too many failed attempts; retry in {wait} s",
                    }
                    return _json(429, body, {"Retry-After": str(wait)})
                self.throttle.record_failure(address)
            body = {"error": refusal.error, "error_description": refusal.description}
            return _json(refusal.status, body, refusal.headers)
        try:
            secret = await run_in_threadpool(self._issue, client_id, lifetime)
        except DATABASE_FAILURES:
            log.exception("could not store an access token for client %r", client_id)
            body = {"error": "temporarily_unavailable", "error_description": "try again later"}
            return _json(503, body, {"Retry-After": "5"})
        request.state.principal = f"oauth-client:{client_id}"
        return _json(200, {"access_token": secret, "token_type": "Bearer", "expires_in": lifetime})

    def _authenticate(self, presented: ClientCredentials) -> tuple[str, int]:
        """Return the client id and token lifetime (seconds), or raise ``invalid_client``."""
        if presented.assertion is not None:
            return self._by_assertion(presented)
        return self._by_secret(presented)

    def _by_assertion(self, presented: ClientCredentials) -> tuple[str, int]:
        identity = self.config.workload_identity
        if identity is None or self.assertion_keys is None or self.assertion_rules is None:
            raise _invalid_client("client assertions are not accepted here")
        if presented.client_id is not None and presented.client_id != identity.client_id:
            log.info("token request refused: unknown client_id %r", presented.client_id[:100])
            raise _invalid_client("unknown client")
        assert presented.assertion is not None
        try:
            verify_jwt(presented.assertion, self.assertion_keys, self.assertion_rules)
        except JwtRefused as exc:
            log.info("client assertion refused: %s", exc.detail)
            raise _invalid_client(f"client assertion refused: {exc.reason}") from exc
        return identity.client_id, identity.token_lifetime_minutes * 60

    def _by_secret(self, presented: ClientCredentials) -> tuple[str, int]:
        client = self.config.client_credentials
        if client is None:
            raise _invalid_client("client secrets are not accepted here", basic=presented.via_basic)
        assert presented.secret is not None
        digest = hashlib.sha256(presented.secret.encode("utf-8", "surrogatepass")).hexdigest()
        # Compare with every configured digest, so timing tells nothing about which one matched.
        matched = False
        for expected in client.secret_sha256:
            matched |= hmac.compare_digest(digest, expected)
        if presented.client_id != client.client_id or not matched:
            log.info("token request refused: wrong client id or secret")
            raise _invalid_client("client authentication failed", basic=presented.via_basic)
        return client.client_id, client.token_lifetime_minutes * 60

    def _issue(self, client_id: str, lifetime: int) -> str:
        prefix = f"{ISSUED_NAME_PREFIX}{client_id}:"
        self.tokens.purge_expired_tokens()
        record, secret = self.tokens.create_token(
            f"{prefix}{uuid.uuid4().hex[:12]}",
            expires_at=utcnow() + timedelta(seconds=lifetime),
        )
        self.tokens.trim_expiring_tokens(prefix, MAX_LIVE_TOKENS_PER_CLIENT)
        log.info("issued access token %s for %d s", record.name, lifetime)
        return secret
