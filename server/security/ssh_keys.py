"""SSH public keys: which ones a user may register (issue 30, item 2) and their
fingerprints, in OpenSSH's forms. Plain functions over asyncssh's key parser.

asyncssh is imported here with cryptography's DSA deprecation warning silenced (asyncssh
names DSA types at import; Strongroom never accepts a DSA key); other modules import
asyncssh through ``ssh_keys.asyncssh``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from server.core import hostos
from server.core.files import write_durably

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

__all__ = [
    "MIN_RSA_BITS",
    "PublicKey",
    "asyncssh",
    "ensure_host_key",
    "fingerprint",
    "host_key_fingerprint",
    "parse_public_key",
]

MIN_RSA_BITS = 3072  # NIST SP 800-57 Part 1: RSA-3072 for 128-bit security
ECDSA = {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}
ACCEPTED = {"ssh-ed25519", "ssh-rsa", *ECDSA}
MAX_KEY_TEXT = 4096


class KeyRefused(ValueError):
    """A public key Strongroom does not accept; the message says why (safe to show)."""


@dataclass(frozen=True)
class PublicKey:
    """A parsed public key: algorithm, size in bits, OpenSSH one-line form without its
    comment, SHA-256 fingerprint and the comment it came with (a default name)."""

    algorithm: str
    bits: int
    openssh: str
    fingerprint: str
    comment: str


def parse_public_key(text: str) -> PublicKey:
    """Parse one public key in OpenSSH form (``ssh-ed25519 AAAA... comment``).

    Accepted: ed25519, ECDSA (P-256, P-384, P-521), RSA of at least 3072 bits (issue 30,
    item 2; NIST SP 800-57). Refused with ``KeyRefused``: anything else (DSA, RSA below
    3072 bits, certificates, private keys, several keys, text that is no key).
    """
    text = text.strip()
    if not text or len(text) > MAX_KEY_TEXT:
        raise KeyRefused("give one public key in OpenSSH form (ssh-ed25519 AAAA... name)")
    if "PRIVATE KEY" in text:
        raise KeyRefused("this is a private key: give the public key (the .pub file)")
    if "\n" in text:
        raise KeyRefused("give exactly one public key (one line)")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise KeyRefused("this is not an SSH public key in OpenSSH form") from None
    algorithm = key.algorithm.decode("ascii", "replace")
    if algorithm not in ACCEPTED:
        raise KeyRefused(
            f"{algorithm} keys are not accepted: use ed25519, ECDSA or RSA of at least "
            f"{MIN_RSA_BITS} bits"
        )
    if algorithm == "ssh-ed25519":
        problem = ed25519_point_problem(key.public_data[-32:])
        if problem:
            raise KeyRefused(f"this ed25519 key is not a usable public key ({problem})")
    bits = _bits(key, algorithm)
    if algorithm == "ssh-rsa" and bits < MIN_RSA_BITS:
        raise KeyRefused(f"an RSA key must have at least {MIN_RSA_BITS} bits (this one: {bits})")
    openssh = key.export_public_key("openssh").decode("ascii").split()
    parts = text.split(None, 2)
    comment = parts[2].strip() if len(parts) > 2 else ""
    return PublicKey(
        algorithm, bits, " ".join(openssh[:2]), key.get_fingerprint("sha256"), comment[:100]
    )


def fingerprint(key: asyncssh.SSHKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of ``key``."""
    return str(key.get_fingerprint("sha256"))


def _bits(key: asyncssh.SSHKey, algorithm: str) -> int:
    if algorithm == "ssh-ed25519":
        return 256
    pyca = getattr(getattr(key, "_key", None), "pyca_key", None)
    size = getattr(pyca, "key_size", None)
    return int(size) if size else 0


def ensure_host_key(path: Path) -> asyncssh.SSHKey:
    """The SSH gateway's host key at ``path``: read it, or make an ed25519 key there
    (owner-only file) when there is none (``strongroom init`` makes it; the gateway makes
    it at first start on an install made before issue 30)."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment="strongroom-gateway")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, key.export_private_key("openssh").decode("ascii"))
    hostos.make_private(path)
    return key


def host_key_fingerprint(path: Path) -> str | None:
    """The SHA-256 fingerprint of the gateway's host key (what ``ssh`` shows on first
    contact), or None when there is no host key yet."""
    if not path.exists():
        return None
    try:
        return fingerprint(asyncssh.read_private_key(str(path)))
    except (asyncssh.KeyImportError, OSError):
        return None


_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
# The encodings of the points of small order (1, 2, 4, 8), as libsodium's
# ``has_small_order`` lists them (compared without the sign bit): a key among them is
# degenerate (e.g. all zeros, the attacker's finding 4) — any signature check against it
# proves nothing about who holds it.
_SMALL_ORDER = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes([0xEC]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xED]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xEE]) + b"\xff" * 30 + bytes([0x7F]),
]


def ed25519_point_problem(encoded: bytes) -> str | None:
    """Why the 32-byte ed25519 public key ``encoded`` is degenerate, or None: not 32 bytes,
    a point of small order (all zeros, the identity, ... — libsodium's list, whatever the
    sign bit), a non-canonical y, or no point of the curve (RFC 8032 §5.1.3 decoding).
    Attacker finding 4 (session 8); OWASP ASVS V11 (reject weak or invalid keys)."""
    if len(encoded) != 32:
        return "not 32 bytes"
    unsigned = encoded[:31] + bytes([encoded[31] & 0x7F])
    if unsigned in _SMALL_ORDER:
        return "a point of small order"
    y = int.from_bytes(unsigned, "little")
    if y >= _P:
        return "a non-canonical encoding"
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            return "not a point of the curve"
    if x == 0 and encoded[31] >> 7:
        return "a non-canonical encoding"
    return None


# The gateway's ciphers and MACs, both as a server (to ssh clients) and as a client (to
# brokered targets). asyncssh's chacha20-poly1305 builds new cipher objects for every
# packet (about 40 µs a packet here, 10x AES-GCM's), and a brokered keystroke crosses
# the gateway four times: it is left out, which makes OpenSSH clients choose AES (CTR
# with an ETM SHA-2 MAC, or GCM), as fast in asyncssh as they are strong. SHA-1, MD5 and
# UMAC MACs are not offered (NIST SP 800-131A; OWASP ASVS V6.2). Issue 30, item 1's
# echo latency.
GATEWAY_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
GATEWAY_MACS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
)
