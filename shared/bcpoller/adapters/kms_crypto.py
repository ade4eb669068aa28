"""Credentials encryption with KMS; the encryption context binds a blob to its instance."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_MAX_CACHE = 256


class KmsCrypto:
    """Encrypts and decrypts an instance's secrets.

    Decryptions are cached per process by ciphertext digest: a warm poll or delivery
    Lambda then makes no KMS call at all (43,200 polls a month per instance would
    otherwise each cost one).
    """

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._cache: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def encrypt(self, secrets: dict[str, Any], instance_id: str) -> bytes:
        self.calls += 1
        blob = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=json.dumps(secrets, separators=(",", ":")).encode(),
            EncryptionContext={"instanceId": instance_id},
        )["CiphertextBlob"]
        return bytes(blob)

    @staticmethod
    def _digest(ciphertext: bytes, instance_id: str) -> str:
        return hashlib.sha256(instance_id.encode() + b"\0" + ciphertext).hexdigest()

    def cached(self, ciphertext: bytes, instance_id: str) -> dict[str, Any] | None:
        """The secrets if this process already decrypted them (no KMS call), else None."""
        if not ciphertext:
            return {}
        found = self._cache.get(self._digest(ciphertext, instance_id))
        return dict(found) if found is not None else None

    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]:
        if not ciphertext:
            return {}
        digest = self._digest(ciphertext, instance_id)
        cached = self._cache.get(digest)
        if cached is not None:
            return dict(cached)
        self.calls += 1
        plain = self._kms.decrypt(
            CiphertextBlob=ciphertext,
            EncryptionContext={"instanceId": instance_id},
        )["Plaintext"]
        secrets: dict[str, Any] = json.loads(plain)
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[digest] = secrets
        return dict(secrets)
