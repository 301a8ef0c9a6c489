"""Certificate pins: what a client remembers about a server's certificate, and the check.

A pin is the SHA-256 of the certificate's SubjectPublicKeyInfo (its public key), written
``spki:sha256:<64 hex>`` (RFC 7469 §2.4 pins the SPKI the same way). It survives the
certificate's renewal with the same key (issue 26, item 11: a 397-day certificate is
re-issued at start), so the TUI's known_hosts, the node-to-node calls and the witness's
pin stay valid. A pin without the prefix is an older one: 64 hex digits (colons and
case ignored) that match either the whole certificate's SHA-256 (what was stored before)
or its SPKI's SHA-256 (what an enrollment token carries).

Plain functions over DER bytes, standard library only: the TUI uses them too.
"""

from __future__ import annotations

import hashlib
import hmac

SPKI_PREFIX = "spki:sha256:"


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the content, end of the element) of the DER element at ``pos``."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or pos + size > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def spki_der(cert_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo element of a DER X.509 certificate, byte for byte.

    Raises:
        ValueError: ``cert_der`` is not a certificate.
    """
    seq = 0x30
    tag, start, _end = _tlv(cert_der, 0)  # Certificate
    if tag != seq:
        raise ValueError("not a certificate")
    tag, pos, tbs_end = _tlv(cert_der, start)  # TBSCertificate
    if tag != seq:
        raise ValueError("not a certificate")
    if pos < tbs_end and cert_der[pos] == 0xA0:  # [0] version
        pos = _tlv(cert_der, pos)[2]
    # serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo
    for expected in (0x02, seq, seq, seq, seq):
        tag, _start, pos_end = _tlv(cert_der, pos)
        if tag != expected or pos_end > tbs_end:
            raise ValueError("not a certificate")
        pos = pos_end
    tag, _start, end = _tlv(cert_der, pos)
    if tag != seq or end > tbs_end:
        raise ValueError("not a certificate")
    return cert_der[pos:end]


def spki_pin(cert_der: bytes) -> str:
    """The pin of a DER certificate: ``spki:sha256:`` and the SPKI's SHA-256 in hex.

    Raises:
        ValueError: ``cert_der`` is not a certificate.
    """
    return SPKI_PREFIX + hashlib.sha256(spki_der(cert_der)).hexdigest()


def parse_pin(pin: str) -> tuple[bool, bytes]:
    """(SPKI only?, the 32-byte digest) of a stored pin, new (prefixed) or older (hex).

    Raises:
        ValueError: not 64 hex digits (after the prefix; colons and case are ignored).
    """
    text = pin.strip().lower()
    spki_only = text.startswith(SPKI_PREFIX)
    digits = text.removeprefix(SPKI_PREFIX).replace(":", "")
    if len(digits) != 64:
        raise ValueError("a certificate pin is 64 hex digits (SHA-256)")
    return spki_only, bytes.fromhex(digits)


def pin_matches(pin: str, cert_der: bytes | None) -> bool:
    """True when the certificate ``cert_der`` a server presented satisfies ``pin``.

    A ``spki:sha256:`` pin matches the SPKI's SHA-256 only; an older bare pin matches the
    whole certificate's SHA-256 or the SPKI's. A malformed pin or certificate never matches.
    """
    try:
        spki_only, digest = parse_pin(pin)
        if cert_der is None:
            return False
        if hmac.compare_digest(hashlib.sha256(spki_der(cert_der)).digest(), digest):
            return True
    except ValueError:
        return False
    return not spki_only and hmac.compare_digest(hashlib.sha256(cert_der).digest(), digest)
