"""Secrets: API keys (shown once, stored hashed) and encryption at rest (key derived from MISYNC_SECRET_KEY)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

API_KEY_PREFIX = "msk_"
#: How many leading characters of a key are stored in clear to find it.
LOOKUP_PREFIX_LENGTH = 12


def new_api_key() -> str:
    """A fresh school API key: ``msk_`` and 43 random URL-safe characters (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of the key. Keys are random, so a fast hash is enough (nothing to brute-force)."""
    return hashlib.sha256(key.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


class Cipher:
    """Encrypts small JSON values at rest with a Fernet key derived by HKDF from the secret key."""

    def __init__(self, secret_key: bytes, purpose: bytes = b"misync at-rest v1") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"misync", info=purpose).derive(secret_key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt_json(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt_json(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:  # the secret key changed since the value was stored
            raise ValueError("stored secret cannot be decrypted with the current MISYNC_SECRET_KEY") from exc
