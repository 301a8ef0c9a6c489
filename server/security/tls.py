"""TLS: the self-signed certificate made at init, server contexts and fingerprints."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The CA/Browser Forum Baseline Requirements' longest lifetime for a server certificate.
LIFETIME_DAYS = 397


def make_self_signed(cert_path: Path, key_path: Path, hostnames: list[str] | None = None) -> str:
    """Write a new EC P-256 key and a self-signed server certificate; return its fingerprint.

    The certificate is an end-entity certificate, not a CA (issue 26, item 11): basic
    constraints ``CA:FALSE`` (critical), key usage ``digitalSignature`` only (critical; an EC
    key signs the ECDHE handshake and encrypts nothing, RFC 5480 §3), extended key usage
    ``serverAuth``, the host names and loopback addresses as subject alternative names, and
    ``LIFETIME_DAYS`` (397) of validity. Clients pin it (``fingerprint``) or trust the file
    itself; a leaked key can never sign a certificate for another host.
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
    now = datetime.datetime.now(datetime.UTC)
    cert = (
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
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert_path)


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint of a PEM certificate, as colon-less lowercase hex."""
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
