"""Key hierarchy primitives: the master key file, key wrapping and field encryption.

The master key (KEK) wraps each org's data key (DEK). Secrets are AES-256-GCM with
a fresh 96-bit nonce; the associated data binds org, table, row, column and key
version, so a ciphertext copied to another row, column or org does not decrypt.
A ciphertext is ``version (4 bytes, big-endian) || nonce (12) || ciphertext+tag``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.core import hostos

KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER = struct.Struct(">I")


class CryptoError(Exception):
    """A key is missing, unsafe or does not fit the data it should open."""


class MasterKeyError(CryptoError):
    """The master key file is missing, malformed or readable by others."""


class DecryptionFailed(CryptoError):
    """A ciphertext did not authenticate: wrong key, wrong place or tampered."""


def load_master_key(path: Path) -> bytes:
    """Read the KEK, refusing a missing, short or group/world-accessible file (mode 0600
    on POSIX; on Windows an ACL for the owner and SYSTEM only: hostos.private_file_problem,
    issue 34)."""
    path = Path(path)
    if not path.exists():
        raise MasterKeyError(f"master key {path} is missing; the server will not start")
    problem = hostos.private_file_problem(path)
    if problem:
        raise MasterKeyError(f"master key {path} {problem}")
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise MasterKeyError(f"master key {path} must hold exactly {KEY_BYTES} bytes")
    return data


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file with mode 0600 (an owner-and-SYSTEM ACL on Windows), durably,
    refusing to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    if hostos.IS_WINDOWS:
        hostos.make_private(Path(path))


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def key_id(key: bytes) -> str:
    """A short public identifier of a key (does not reveal it)."""
    return hmac.new(key, b"strongroom key id", hashlib.sha256).hexdigest()[:16]


def wrap_key(kek: bytes, dek: bytes, owner: uuid.UUID | str, version: int) -> bytes:
    """Wrap a data key with the KEK; AAD = owner (org id or purpose) + key version."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = f"dek|{owner}|{version}".encode()
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)


def unwrap_key(kek: bytes, wrapped: bytes, owner: uuid.UUID | str, version: int) -> bytes:
    """Unwrap a data key; raises DecryptionFailed if the KEK or binding is wrong."""
    aad = f"dek|{owner}|{version}".encode()
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionFailed(
            f"data key {owner} v{version} does not open with this master key"
        ) from None


def field_aad(org_id: uuid.UUID, table: str, row_id: uuid.UUID, column: str, version: int) -> bytes:
    """The associated data binding a secret to its place."""
    return f"{org_id}|{table}|{row_id}|{column}|{version}".encode()


def encrypt_field(
    dek: bytes,
    version: int,
    plaintext: str,
    org_id: uuid.UUID,
    table: str,
    row_id: uuid.UUID,
    column: str,
) -> bytes:
    """Encrypt a secret for one column of one row."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = field_aad(org_id, table, row_id, column, version)
    return _HEADER.pack(version) + nonce + AESGCM(dek).encrypt(nonce, plaintext.encode(), aad)


def field_version(blob: bytes) -> int:
    """The DEK version a ciphertext was made with."""
    version: int = _HEADER.unpack_from(blob)[0]
    return version


def decrypt_field(
    dek: bytes, blob: bytes, org_id: uuid.UUID, table: str, row_id: uuid.UUID, column: str
) -> str:
    """Decrypt a secret; fails closed if it was moved, altered or the key is wrong."""
    version = field_version(blob)
    start = _HEADER.size
    nonce, body = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
    aad = field_aad(org_id, table, row_id, column, version)
    try:
        return AESGCM(dek).decrypt(nonce, body, aad).decode()
    except InvalidTag:
        raise DecryptionFailed(
            f"a secret in {table}.{column} failed authentication (tampered or moved)"
        ) from None
