"""TLS: the self-signed certificate made at init and its renewal, server contexts, pins."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.core import hostos, pins
from server.core.files import write_durably

# The CA/Browser Forum Baseline Requirements' longest lifetime for a server certificate.
LIFETIME_DAYS = 397
# A certificate this close to its expiry (or past it) is re-issued when the server starts.
RENEW_BEFORE_DAYS = 30


def make_self_signed(cert_path: Path, key_path: Path, hostnames: list[str] | None = None) -> str:
    """Write a new EC P-256 key and a self-signed server certificate; return its pin.

    The certificate is an end-entity certificate, not a CA (issue 26, item 11): basic
    constraints ``CA:FALSE`` (critical), key usage ``digitalSignature`` only (critical; an EC
    key signs the ECDHE handshake and encrypts nothing, RFC 5480 §3), extended key usage
    ``serverAuth``, the host names and loopback addresses as subject alternative names, and
    ``LIFETIME_DAYS`` (397) of validity; ``renew_if_due`` re-issues it with the same key
    before it expires. Clients pin its public key (``spki_pin``, which a renewal keeps) or
    trust the file itself; a leaked key can never sign a certificate for another host.
    """
    names = ["localhost", socket.gethostname(), *(hostnames or [])]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Strongroom"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[1][:64] or "localhost"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names) if n]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = _issue(key, subject, alt, datetime.datetime.now(datetime.UTC))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    if hostos.IS_WINDOWS:
        hostos.make_private(Path(key_path))  # owner and SYSTEM only (issue 34)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return spki_pin(cert_path)


def _issue(
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    alt: list[x509.GeneralName],
    now: datetime.datetime,
) -> x509.Certificate:
    """The self-signed end-entity certificate of ``key`` (see ``make_self_signed``)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LIFETIME_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def reissue(
    cert_path: Path, key_path: Path, now: datetime.datetime | None = None
) -> datetime.datetime:
    """Re-issue the certificate in ``cert_path`` with its own key (``key_path``), the same
    subject and subject alternative names, for ``LIFETIME_DAYS`` from ``now``; the file is
    replaced atomically. Answers the new expiry.

    The public key does not change, so every ``spki_pin`` of it still holds (a pin of the
    whole old certificate does not).

    Raises:
        ValueError: the key is not an EC key or is not the certificate's key.
        OSError: a file cannot be read or written.
    """
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC private key")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValueError(f"{key_path} is not the key of {cert_path}")
    try:
        alt = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        alt = []
    new = _issue(key, cert.subject, alt, now or datetime.datetime.now(datetime.UTC))
    mode = stat.S_IMODE(Path(cert_path).stat().st_mode)
    write_durably(Path(cert_path), new.public_bytes(serialization.Encoding.PEM).decode(), mode)
    return new.not_valid_after_utc


def renew_if_due(
    cert_path: Path, key_path: Path, before_days: int = RENEW_BEFORE_DAYS
) -> datetime.datetime | None:
    """Re-issue the certificate (``reissue``: same key, same names) when it expires within
    ``before_days`` days or has expired; answer the new expiry, or None when not due.

    Called before the server (and the witness) listens, so a client that trusts the file
    (``strongroom start``/``status``, a local ``strongroom tui``) finds a valid certificate
    and a pinned client (``spki_pin``) the same key (issue 26, item 11).

    Raises:
        ValueError, OSError: as ``reissue``.
    """
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    due = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=before_days)
    if cert.not_valid_after_utc > due:
        return None
    return reissue(cert_path, key_path)


def spki_pin(cert: Path | bytes) -> str:
    """The pin of a certificate (a PEM file's path, or DER bytes): ``spki:sha256:<hex>``,
    the SHA-256 of its public key (server.core.pins), unchanged by ``reissue``."""
    if isinstance(cert, bytes):
        return pins.spki_pin(cert)
    loaded = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    return pins.spki_pin(loaded.public_bytes(serialization.Encoding.DER))


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of a PEM certificate as a whole, colon-less lowercase hex (the pin format
    before ``spki_pin``; still accepted by server.core.pins.pin_matches)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# TLS 1.2 suites: forward-secret key exchange and AEAD ciphers only (no CBC, no SHA-1
# MACs, no static RSA), per the OWASP TLS Cheat Sheet and Mozilla's "intermediate"
# profile. TLS 1.3 suites are all AEAD and not affected by this string.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """An HTTPS server context: TLS 1.2 or newer, TLS 1.2 with AEAD suites only."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (e.g. a node's self-signed certificate)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def private_key_problem(key_path: Path) -> str | None:
    """Why the TLS private key is readable by others (mode 0600 on POSIX, an owner-and-
    SYSTEM ACL on Windows: hostos.private_file_problem), with the fixing command; None
    when it is private. Checked before the server listens, as the master key is (issue 34).
    """
    path = Path(key_path)
    if not path.exists():
        return None  # loading the key says it is missing
    problem = hostos.private_file_problem(path)
    return f"TLS key {path} {problem}" if problem else None


def pem_fingerprints(pem: str) -> list[str]:
    """The SHA-256 fingerprints (upper-case hex, colon-separated) of the certificates in
    the PEM text ``pem``, in order (unparsable blocks left out): how an approver or an
    audit row names a CA without its whole text (attacker findings 1 and 2)."""
    out = []
    for block in re.findall(
        r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----", pem or ""
    ):
        try:
            der = ssl.PEM_cert_to_DER_cert(block)
        except ValueError:
            continue
        digest = hashlib.sha256(der).hexdigest().upper()
        out.append(":".join(digest[i : i + 2] for i in range(0, len(digest), 2)))
    return out
