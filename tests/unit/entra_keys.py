"""Test signing keys standing in for an Entra tenant: RSA keys, their JWKS, and signed tokens.

Also forges the tokens an attacker would send (``alg: none``, HS256 keyed with the public key).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
NON_GALLERY_AUDIENCE = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
PROVISIONING_APP = "1b730954-1685-4b74-9bfd-dac224a7b894"
WIF_AUDIENCE = "api://0b5e6f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
WIF_SUBJECT = "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "x5t": self.kid}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


@functools.cache
def key(name: str, bits: int = 2048) -> SigningKey:
    """One RSA key per name for the whole test session (generating them is the slow part)."""
    return SigningKey(f"{name}-{uuid.uuid4().hex[:8]}", rsa.generate_private_key(65537, bits))


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.jwk() for k in keys]}


def write_jwks(path: Path, *keys: SigningKey) -> str:
    path.write_text(json.dumps(jwks(*keys)), encoding="utf-8")
    return str(path)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    """A compact JWS built by hand: unsigned when ``secret`` is None, else HMAC-SHA256."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def entra_claims(
    *,
    tenant: str = TENANT,
    aud: Any = NON_GALLERY_AUDIENCE,
    iss: str | None = None,
    issued: float | None = None,
    lifetime: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    """Claims of an Entra v1 access token as Entra provisioning sends it (test mode)."""
    now = int(issued if issued is not None else time.time())
    return {
        "aud": aud,
        "iss": iss or f"https://sts.windows.net/{tenant}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "tid": tenant,
        "appid": PROVISIONING_APP,
        "oid": str(uuid.uuid4()),
        "ver": "1.0",
        **extra,
    }


def assertion_claims(
    *,
    tenant: str = TENANT,
    aud: str = WIF_AUDIENCE,
    sub: str = WIF_SUBJECT,
    iss: str | None = None,
    issued: float | None = None,
    lifetime: int = 600,
    **extra: Any,
) -> dict[str, Any]:
    """Claims of the client assertion Entra signs for workload identity federation."""
    now = int(issued if issued is not None else time.time())
    return {
        "aud": aud,
        "iss": iss or f"https://login.microsoftonline.com/{tenant}/v2.0",
        "sub": sub,
        "oid": sub,
        "tid": tenant,
        "appid": PROVISIONING_APP,
        "ver": "2.0",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        **extra,
    }
