"""RS256 signing keys: generated here, private halves encrypted at rest (Fernet, from the
key-encryption secret), public halves published as JWKS."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

ALGORITHM = "RS256"


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def new_key(secret: str) -> tuple[str, bytes, dict[str, Any]]:
    """A fresh key pair: (kid, encrypted private PEM, public JWK)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = uuid.uuid4().hex[:16]
    public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in jwk.construct(public_pem, ALGORITHM).to_dict().items()}
    return kid, _fernet(secret).encrypt(pem), {**public, "kid": kid, "use": "sig", "alg": ALGORITHM}


def encrypt(value: str, secret: str) -> bytes:
    return _fernet(secret).encrypt(value.encode())


def decrypt(value: bytes, secret: str) -> str:
    return _fernet(secret).decrypt(value).decode()


def sign(claims: dict[str, Any], *, kid: str, encrypted_private_key: bytes, secret: str) -> str:
    pem = _fernet(secret).decrypt(encrypted_private_key).decode()
    return jwt.encode(claims, pem, algorithm=ALGORITHM, headers={"kid": kid})
