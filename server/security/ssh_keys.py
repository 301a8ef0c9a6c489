"""SSH public keys: which ones a user may register (issue 30, item 2) and their
fingerprints, in OpenSSH's forms. Plain functions over asyncssh's key parser.

asyncssh is imported here with cryptography's DSA deprecation warning silenced (asyncssh
names DSA types at import; Strongroom never accepts a DSA key); other modules import
asyncssh through ``ssh_keys.asyncssh``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

__all__ = ["MIN_RSA_BITS", "PublicKey", "asyncssh", "fingerprint", "parse_public_key"]

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
