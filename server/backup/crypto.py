"""Sealing backup files: a chunked AES-256-GCM stream under a random per-file key.

The file key is wrapped either for a *passphrase* (Argon2id, RFC 9106) or for a
*recipient* X25519 public key (ephemeral-static ECDH, HKDF-SHA256, RFC 7748 / RFC 5869),
so a node can write scheduled backups while holding no secret that opens them: the
recipient's private key lives off the node in a key file sealed with a passphrase.

Layout of a sealed file (every integer big-endian)::

    MAGIC (8 bytes)
    u32 header length, header (UTF-8 JSON: public, non-secret facts and the seal's
        parameters; bound to everything below)
    wrapped file key (60 bytes: 12-byte nonce || AES-256-GCM(kek, file key), AAD =
        MAGIC || header)
    chunks: u32 ciphertext length || AES-256-GCM(file key, kind byte || data)

Each chunk's nonce is its index (8 bytes) || three zero bytes || a final-chunk flag, and
its AAD is the SHA-256 of everything before the first chunk, so a chunk moved,
dropped, repeated, taken from another file or cut off at the end fails to open: the
reader insists on consecutive indexes and on exactly one final chunk, at the end. A
fresh random key per file makes these deterministic nonces unique (NIST SP 800-38D
§8.2.1); the stream construction is the STREAM/"online AE" scheme of Hoang,
Reyhanitabar, Rogaway and Vizár (CRYPTO 2015).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"SRBKUP\x00\x01"
KEY_FILE_FORMAT = "strongroom-backup-key/1"
RECIPIENT_PREFIX = "x25519:"
CHUNK_BYTES = 1024 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
TAG_BYTES = 16
NONCE_BYTES = 12
WRAPPED_BYTES = NONCE_BYTES + 32 + TAG_BYTES
MIN_PASSPHRASE_CHARS = 12

_U32 = struct.Struct(">I")
_WRAP_AAD = b"strongroom backup file key|"
_RECIPIENT_INFO = b"strongroom backup recipient v1"


class BackupCryptoError(Exception):
    """A backup could not be sealed or opened; the message says why in plain words."""


class WeakPassphrase(BackupCryptoError):
    """A passphrase offered for a new backup or key file is too easy to guess."""


class WrongKey(BackupCryptoError):
    """The passphrase (or recipient key) does not open this backup, or its header was altered."""


class Damaged(BackupCryptoError):
    """A chunk failed authentication, is out of place, or data follows the final chunk."""


class Truncated(BackupCryptoError):
    """The file ends before its final chunk."""


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id costs: memory in KiB, passes, lanes.

    The default is RFC 9106 §4's second recommended option (t=3, p=4, m=64 MiB) with
    a 128-bit salt; a derivation takes about a quarter of a second on one core.
    """

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        """A 256-bit key from ``passphrase`` (UTF-8) and ``salt`` (16 bytes)."""
        if not (8 * 1024 <= self.memory_kib <= 1024 * 1024) or not (
            1 <= self.iterations <= 64 and 1 <= self.lanes <= 64
        ):
            raise BackupCryptoError("the Argon2id parameters in this file are out of range")
        kdf = Argon2id(
            salt=salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(passphrase.encode("utf-8"))


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too weak to protect a backup that may sit anywhere for years.

    Args:
        passphrase: the candidate, as typed (trailing newline already removed).

    Raises:
        WeakPassphrase: shorter than 12 characters, or fewer than 6 distinct ones.
    """
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise WeakPassphrase(
            f"the backup passphrase must have at least {MIN_PASSPHRASE_CHARS} characters "
            "(a few unrelated words make a good one)"
        )
    if len(set(passphrase)) < 6:
        raise WeakPassphrase("the backup passphrase repeats too few characters to be safe")


# -- seals: how the file key's wrapping key (kek) is obtained ----------------------------


def passphrase_seal(passphrase: str, params: Argon2Params | None = None) -> tuple[dict, bytes]:
    """A new passphrase seal: (its header description, the 256-bit wrapping key).

    Raises:
        WeakPassphrase: see ``check_passphrase``.
    """
    check_passphrase(passphrase)
    params = params or Argon2Params()
    salt = secrets.token_bytes(16)
    seal = {
        "kind": "passphrase",
        "kdf": "argon2id",
        "salt": salt.hex(),
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
        "lanes": params.lanes,
    }
    return seal, params.derive(passphrase, salt)


def recipient_seal(recipient: str) -> tuple[dict, bytes]:
    """A new recipient seal for a public key ``x25519:<base64url>``: (description, kek).

    An ephemeral X25519 key agrees a secret with the recipient's key (RFC 7748); HKDF-
    SHA256 (RFC 5869) turns it into the wrapping key, salted with both public keys.

    Raises:
        BackupCryptoError: the recipient text is not such a key.
    """
    public = parse_recipient(recipient)
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes_raw()
    rec_raw = public.public_bytes_raw()
    kek = _recipient_kek(ephemeral.exchange(public), eph_raw, rec_raw)
    seal = {"kind": "recipient", "kex": "x25519-hkdf-sha256", "ephemeral": eph_raw.hex()}
    seal["recipient"] = format_recipient(public)
    return seal, kek


def _recipient_kek(shared: bytes, eph_raw: bytes, rec_raw: bytes) -> bytes:
    if shared == bytes(32):
        raise BackupCryptoError("the recipient key is not a valid X25519 key")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=eph_raw + rec_raw, info=_RECIPIENT_INFO
    ).derive(shared)


def parse_recipient(text: str) -> X25519PublicKey:
    """An X25519 public key from ``x25519:<base64url of 32 bytes>``."""
    text = text.strip()
    if not text.startswith(RECIPIENT_PREFIX):
        raise BackupCryptoError(f"a backup recipient looks like {RECIPIENT_PREFIX}<key>")
    try:
        raw = base64.urlsafe_b64decode(text[len(RECIPIENT_PREFIX) :] + "==")
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BackupCryptoError("the backup recipient is not a valid X25519 public key") from None


def format_recipient(public: X25519PublicKey) -> str:
    """The text form of a recipient public key (for ``[backup] recipient``)."""
    raw = public.public_bytes_raw()
    return RECIPIENT_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class Unlock:
    """What may open a backup: its passphrase, or a recipient key file and its passphrase."""

    passphrase: str
    key_file: Path | None = None
    _derived: dict[str, bytes] = field(default_factory=dict, repr=False)

    def kek(self, seal: dict) -> bytes:
        """The wrapping key for a file's ``seal`` (derived once per seal, then remembered:
        a restore reads the file more than once)."""
        memo = json.dumps(seal, sort_keys=True)
        if memo not in self._derived:
            self._derived[memo] = self._kek(seal)
        return self._derived[memo]

    def _kek(self, seal: dict) -> bytes:
        """The wrapping key for a file's ``seal`` description.

        Raises:
            WrongKey: the file is sealed for a recipient and no (or another) key file was
                given, or the key file's passphrase is wrong.
            BackupCryptoError: the seal is of an unknown kind.
        """
        kind = seal.get("kind")
        if kind == "passphrase":
            params = Argon2Params(
                int(seal["memory_kib"]), int(seal["iterations"]), int(seal["lanes"])
            )
            return params.derive(self.passphrase, bytes.fromhex(seal["salt"]))
        if kind == "recipient":
            if self.key_file is None:
                raise WrongKey(
                    "this backup is sealed for the recipient key "
                    f"{seal.get('recipient')}: give its key file (--key-file)"
                )
            private = load_key_file(self.key_file, self.passphrase)
            public_raw = private.public_key().public_bytes_raw()
            if format_recipient(private.public_key()) != seal.get("recipient"):
                raise WrongKey("this key file is not the recipient this backup is sealed for")
            eph_raw = bytes.fromhex(seal["ephemeral"])
            shared = private.exchange(X25519PublicKey.from_public_bytes(eph_raw))
            return _recipient_kek(shared, eph_raw, public_raw)
        raise BackupCryptoError(f"unknown backup seal {kind!r}")


# -- recipient key files -------------------------------------------------------------------


def make_key_file(path: Path, passphrase: str, params: Argon2Params | None = None) -> str:
    """Write a new recipient key file (private key sealed by ``passphrase``); answer the
    public key text for ``[backup] recipient``.

    The file is created 0600 and never overwritten. Keep it (and its passphrase) off
    the node: it opens every backup sealed for it.

    Raises:
        WeakPassphrase: see ``check_passphrase``.
        FileExistsError: ``path`` exists.
    """
    check_passphrase(passphrase)
    params = params or Argon2Params()
    private = X25519PrivateKey.generate()
    public_text = format_recipient(private.public_key())
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(NONCE_BYTES)
    kek = params.derive(passphrase, salt)
    sealed = AESGCM(kek).encrypt(
        nonce, private.private_bytes_raw(), (KEY_FILE_FORMAT + public_text).encode()
    )
    body = {
        "format": KEY_FILE_FORMAT,
        "recipient": public_text,
        "kdf": "argon2id",
        "salt": salt.hex(),
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
        "lanes": params.lanes,
        "sealed": (nonce + sealed).hex(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(body, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return public_text


def load_key_file(path: Path, passphrase: str) -> X25519PrivateKey:
    """Open a recipient key file with its passphrase.

    Raises:
        WrongKey: the passphrase is wrong or the file was altered.
        BackupCryptoError: the file is missing or not a key file.
    """
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if body.get("format") != KEY_FILE_FORMAT:
            raise ValueError
        params = Argon2Params(int(body["memory_kib"]), int(body["iterations"]), int(body["lanes"]))
        salt, blob = bytes.fromhex(body["salt"]), bytes.fromhex(body["sealed"])
        aad = (KEY_FILE_FORMAT + body["recipient"]).encode()
    except OSError as exc:
        raise BackupCryptoError(f"cannot read the key file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise BackupCryptoError(f"{path} is not a Strongroom backup key file") from None
    try:
        raw = AESGCM(params.derive(passphrase, salt)).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad
        )
    except InvalidTag:
        raise WrongKey(f"the passphrase does not open the key file {path}") from None
    return X25519PrivateKey.from_private_bytes(raw)


# -- the chunked stream --------------------------------------------------------------------


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(8, "big") + b"\x00\x00\x00" + (b"\x01" if final else b"\x00")


class SealedWriter:
    """Writes a sealed stream to ``out``: call ``chunk`` for each piece, the last with
    ``final=True``. Each chunk holds one kind byte and at most ``chunk_bytes`` of data."""

    def __init__(
        self, out: BinaryIO, header: dict[str, Any], seal: tuple[dict, bytes], chunk_bytes: int
    ) -> None:
        description, kek = seal
        header = {**header, "seal": description, "chunk_bytes": chunk_bytes}
        self.header = header
        header_bytes = json.dumps(header, sort_keys=True).encode()
        file_key = AESGCM.generate_key(256)
        nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, file_key, _WRAP_AAD + MAGIC + header_bytes)
        prefix = MAGIC + _U32.pack(len(header_bytes)) + header_bytes + wrapped
        out.write(prefix)
        self._out, self._aead, self._index, self._done = out, AESGCM(file_key), 0, False
        self._aad = hashlib.sha256(prefix).digest()
        self.chunk_bytes = chunk_bytes
        self.bytes_written = len(prefix)

    def chunk(self, kind: bytes, data: bytes, final: bool = False) -> None:
        """Seal and write one chunk (``kind`` is one byte)."""
        if self._done:
            raise BackupCryptoError("the stream was already finished")
        if len(kind) != 1 or len(data) > self.chunk_bytes:
            raise BackupCryptoError("a chunk is one kind byte and at most chunk_bytes of data")
        sealed = self._aead.encrypt(_nonce(self._index, final), kind + data, self._aad)
        self._out.write(_U32.pack(len(sealed)) + sealed)
        self.bytes_written += _U32.size + len(sealed)
        self._index += 1
        self._done = final


@dataclass
class SealedReader:
    """Opens a sealed stream: ``header`` is readable at once; ``chunks()`` yields
    (kind, data) pairs, authenticated and in order, and raises at the first problem."""

    source: BinaryIO
    header: dict[str, Any]
    _aead: AESGCM
    _aad: bytes
    bytes_read: int = 0

    @classmethod
    def open(cls, source: BinaryIO, unlock: Unlock | None) -> SealedReader:
        """Read and check the header; with ``unlock`` also unwrap the file key.

        Raises:
            Damaged / Truncated: the header is not readable.
            WrongKey: the passphrase (or key file) does not open the file key.
        """
        header_bytes, header, wrapped = read_header(source)
        if unlock is None:
            return cls(source, header, None, b"")  # type: ignore[arg-type]
        kek = unlock.kek(header.get("seal", {}))
        try:
            file_key = AESGCM(kek).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _WRAP_AAD + MAGIC + header_bytes
            )
        except InvalidTag:
            raise WrongKey(
                "the passphrase does not open this backup (or its header was altered)"
            ) from None
        prefix = MAGIC + _U32.pack(len(header_bytes)) + header_bytes + wrapped
        return cls(source, header, AESGCM(file_key), hashlib.sha256(prefix).digest(), len(prefix))

    def chunks(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield each chunk's (kind byte, data); the last one yielded was the final one.

        Raises:
            Damaged: a chunk fails authentication or data follows the final chunk.
            Truncated: the stream ends before the final chunk.
        """
        limit = int(self.header["chunk_bytes"]) + 1 + TAG_BYTES
        index = 0
        while True:
            head = _read_exactly(self.source, _U32.size)
            if len(head) < _U32.size:
                raise Truncated(
                    f"the backup is truncated: it ends after {index} chunk(s), "
                    "before its final chunk"
                )
            (length,) = _U32.unpack(head)
            if not TAG_BYTES < length <= limit:
                raise Damaged(f"the backup is damaged or was altered (chunk {index} length)")
            sealed = _read_exactly(self.source, length)
            if len(sealed) < length:
                raise Truncated(f"the backup is truncated inside chunk {index}")
            self.bytes_read += _U32.size + length
            plain, final = None, False
            for final in (False, True):
                try:
                    plain = self._aead.decrypt(_nonce(index, final), sealed, self._aad)
                    break
                except InvalidTag:
                    continue
            if plain is None or not plain:
                raise Damaged(f"the backup is damaged or was altered (chunk {index})")
            yield plain[:1], plain[1:]
            index += 1
            if final:
                if self.source.read(1):
                    raise Damaged("the backup is damaged or was altered (data after the end)")
                return


def read_header(source: BinaryIO) -> tuple[bytes, dict[str, Any], bytes]:
    """Read MAGIC, the header and the wrapped key: (header bytes, header, wrapped key).

    Raises:
        Damaged: not a Strongroom backup, or a header that cannot be read.
        Truncated: the file ends inside the header.
    """
    magic = _read_exactly(source, len(MAGIC))
    if magic != MAGIC:
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic) and magic:
            raise Truncated("the backup is truncated (inside its header)")
        raise Damaged("this is not a Strongroom backup file (or its start was altered)")
    size_bytes = _read_exactly(source, _U32.size)
    if len(size_bytes) < _U32.size:
        raise Truncated("the backup is truncated (inside its header)")
    (size,) = _U32.unpack(size_bytes)
    if size > MAX_HEADER_BYTES:
        raise Damaged("the backup's header is damaged or was altered")
    header_bytes = _read_exactly(source, size)
    wrapped = _read_exactly(source, WRAPPED_BYTES)
    if len(header_bytes) < size or len(wrapped) < WRAPPED_BYTES:
        raise Truncated("the backup is truncated (inside its header)")
    try:
        header = json.loads(header_bytes)
        chunk_bytes = int(header["chunk_bytes"])
        if not isinstance(header.get("seal"), dict) or not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise Damaged("the backup's header is damaged or was altered") from None
    return header_bytes, header, wrapped


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts, missing = [], size
    while missing:
        piece = source.read(missing)
        if not piece:
            break
        parts.append(piece)
        missing -= len(piece)
    return b"".join(parts)
