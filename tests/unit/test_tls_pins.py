"""Certificate pins on the public key, and renewal with the same key (issue 26, item 11).

A renewed certificate keeps its key, so every pin of the key (the TUI's known_hosts, the
node-to-node client, the witness) still holds; an older pin of the whole certificate holds
while that certificate is the one presented.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.core import pins
from server.node.peer import KeyPin, PinnedClient
from server.security import tls
from tui.api_types import ApiError, Endpoint
from tui.client.transport import Transport

NOW = datetime.datetime.now(datetime.UTC)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def der(path: Path) -> bytes:
    return load(path).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def cert_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate and its key."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    tls.make_self_signed(cert, key, ["node.example"])
    return cert, key


def test_spki_is_the_certificates_public_key(cert_pair):
    """The DER walk finds exactly the SubjectPublicKeyInfo the certificate carries."""
    cert, _key = cert_pair
    expected = (
        load(cert)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert pins.spki_der(der(cert)) == expected
    pin = tls.spki_pin(cert)
    assert pin == "spki:sha256:" + hashlib.sha256(expected).hexdigest()
    assert tls.spki_pin(der(cert)) == pin


def test_pin_forms(cert_pair):
    """A prefixed pin matches the key only; a bare (older) pin matches the whole
    certificate or the key, colons and case ignored; nothing malformed matches."""
    cert, _key = cert_pair
    body = der(cert)
    spki_hex = tls.spki_pin(cert).removeprefix(pins.SPKI_PREFIX)
    whole = tls.fingerprint(cert)
    assert pins.pin_matches(tls.spki_pin(cert), body)
    assert pins.pin_matches(whole, body)
    assert pins.pin_matches(":".join(whole[i : i + 2] for i in range(0, 64, 2)).upper(), body)
    assert pins.pin_matches(spki_hex, body)
    assert not pins.pin_matches(pins.SPKI_PREFIX + whole, body)  # prefixed: the key only
    assert not pins.pin_matches(pins.SPKI_PREFIX + "00" * 32, body)
    for bad in ("", "abc", "spki:sha256:xyz", "g" * 64):
        assert not pins.pin_matches(bad, body)
    assert not pins.pin_matches(tls.spki_pin(cert), b"not a certificate")
    assert not pins.pin_matches(tls.spki_pin(cert), body[:50])
    assert not pins.pin_matches(tls.spki_pin(cert), None)


def test_reissue_keeps_the_key_and_names_and_extends_validity(cert_pair):
    """Renewal: the same key (same pin), subject and names, 397 days from now, still an
    end-entity server certificate; a new certificate (new whole-certificate hash)."""
    cert, key = cert_pair
    tls.reissue(cert, key, now=NOW - datetime.timedelta(days=390))  # 7 days left
    old, old_pin, old_whole = load(cert), tls.spki_pin(cert), tls.fingerprint(cert)
    assert tls.renew_if_due(cert, key) is not None
    new = load(cert)
    assert tls.spki_pin(cert) == old_pin
    assert tls.fingerprint(cert) != old_whole
    assert new.subject == old.subject
    san = x509.SubjectAlternativeName
    assert (
        new.extensions.get_extension_for_class(san).value
        == old.extensions.get_extension_for_class(san).value
    )
    assert "node.example" in new.extensions.get_extension_for_class(san).value.get_values_for_type(
        x509.DNSName
    )
    assert new.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    days = (new.not_valid_after_utc - NOW).days
    assert tls.LIFETIME_DAYS - 1 <= days <= tls.LIFETIME_DAYS
    assert new.not_valid_before_utc <= datetime.datetime.now(datetime.UTC)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))


def test_renew_only_when_due(cert_pair):
    """More than 30 days left: untouched. Expired, or within 30 days: renewed."""
    cert, key = cert_pair
    before = cert.read_bytes()
    assert tls.renew_if_due(cert, key) is None
    assert cert.read_bytes() == before
    tls.reissue(cert, key, now=NOW - datetime.timedelta(days=tls.LIFETIME_DAYS - 40))
    assert tls.renew_if_due(cert, key) is None  # 40 days left
    tls.reissue(cert, key, now=NOW - datetime.timedelta(days=tls.LIFETIME_DAYS + 3))
    assert load(cert).not_valid_after_utc < NOW  # expired three days ago
    assert tls.renew_if_due(cert, key) is not None
    assert load(cert).not_valid_after_utc > NOW + datetime.timedelta(days=390)


def test_reissue_refuses_a_key_that_is_not_the_certificates(cert_pair, tmp_path):
    """A mismatched key is an error and the certificate file is left as it was."""
    cert, _key = cert_pair
    other_cert, other_key = tmp_path / "o.crt", tmp_path / "o.key"
    tls.make_self_signed(other_cert, other_key)
    before = cert.read_bytes()
    with pytest.raises(ValueError, match="not the key"):
        tls.reissue(cert, other_key)
    assert cert.read_bytes() == before


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def https_server(cert_pair):
    """A tiny HTTPS service on the certificate pair; yields (base URL, cert, key)."""
    cert, key = cert_pair
    app = web.Application()
    app.router.add_get("/api/v1/health", _health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The certificate had 5 days left; the server renews it before it listens.
    tls.reissue(cert, key, now=NOW - datetime.timedelta(days=tls.LIFETIME_DAYS - 5))
    pinned_before = {"spki": tls.spki_pin(cert), "whole": tls.fingerprint(cert)}
    assert tls.renew_if_due(cert, key) is not None
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context(cert, key))
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}", cert, pinned_before
    await runner.cleanup()


async def _call(base: str, pin: str) -> int:
    client = PinnedClient(base, pin, timeout=5)
    try:
        status, _ = await client.call("GET", "/api/v1/health")
    finally:
        await client.close()
        await asyncio.sleep(0.25)  # a refused TLS connection finishes closing
    return status


async def test_pinned_client_after_renewal(https_server):
    """Node-to-node / witness client: the pin of the key from before the renewal still
    connects; a pin of the old whole certificate does not (it pinned that certificate);
    a whole-certificate pin of the current certificate does (older stored pins)."""
    base, cert, before = https_server
    assert await _call(base, before["spki"]) == 200
    assert await _call(base, before["spki"].removeprefix(pins.SPKI_PREFIX)) == 200  # a token's
    assert await _call(base, tls.fingerprint(cert)) == 200
    assert await _call(base, before["whole"]) == 0
    assert await _call(base, pins.SPKI_PREFIX + "ab" * 32) == 0
    with pytest.raises(ValueError):
        KeyPin("not a pin")


async def test_tui_transport_pins_the_key(https_server, tmp_path):
    """The TUI learns a spki:sha256: pin on first contact, connects with a known_hosts
    pin of the key made before the renewal or an older whole-certificate pin of the
    current certificate, and refuses another key without sending anything."""
    base, cert, before = https_server
    known = tmp_path / "known_hosts.json"

    async def health(known_hosts: Path, tofu: bool = True) -> object:
        transport = Transport([Endpoint.parse(base)], known_hosts=known_hosts)
        transport.trust_on_first_use = tofu
        try:
            return await transport._request("GET", "/health")
        finally:
            await transport.close()
            await asyncio.sleep(0.25)  # a refused TLS connection finishes closing

    assert await health(known) == {"status": "ok"}
    assert json.loads(known.read_text()) == {base: tls.spki_pin(cert)}
    for pin in (before["spki"], tls.fingerprint(cert)):
        known.write_text(json.dumps({base: pin}))
        assert await health(known, tofu=False) == {"status": "ok"}
    for pin, code in (
        (pins.SPKI_PREFIX + "cd" * 32, "certificate_changed"),
        (before["whole"], "certificate_changed"),
        ("nonsense", "untrusted_certificate"),
    ):
        known.write_text(json.dumps({base: pin}))
        with pytest.raises(ApiError) as err:
            await health(known, tofu=False)
        assert err.value.code == code
