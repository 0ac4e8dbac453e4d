"""Sealing what crosses Redis: AES-GCM with a key derived from the deployment secret.

Drafts, presence and revocations are personal, and Redis is not trusted with them. The
channel is bound in as associated data, so a sealed message cannot be replayed onto another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12  # bytes; random per message (AES-GCM's standard nonce size)
KEY_INFO = b"tandem live backplane v1"  # a key of its own, unrelated to the cookie-signing use of the secret


def backplane_key(secret_key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO)
    return AESGCM(hkdf.derive(secret_key.encode()))


def seal(aead: AESGCM, ch: str | bytes, body: bytes) -> bytes:
    """nonce + ciphertext; the channel is bound in, so a sealed message cannot be replayed onto another."""
    nonce = os.urandom(NONCE)
    return nonce + aead.encrypt(nonce, body, ch.encode() if isinstance(ch, str) else ch)


def unseal(aead: AESGCM, ch: bytes, data: bytes) -> bytes | None:
    """The body, or None when the message was not sealed with this deployment's key for this channel."""
    try:
        return aead.decrypt(data[:NONCE], data[NONCE:], ch)
    except (InvalidTag, ValueError):
        return None
