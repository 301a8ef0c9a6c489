"""The HTTPS server: health, and problem+json for every kind of bad request."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl

import aiohttp
import pytest
from aiohttp import web

from server.security.tls import server_context
from server.web.app import create_app
from server.web.handlers.common import public
from server.web.problem import json_response, read_json
from tests.conftest import start_server

PROBLEM = "application/problem+json"


async def test_health_over_https(http):
    """Health answers over TLS with the node's role."""
    async with http.get("/api/v1/health") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    assert body["role"] == "primary"
    assert body["read_only"] is False
    assert body["degraded"] is False
    assert isinstance(body["term"], int)
    assert resp.headers["Cache-Control"] == "no-store"


async def test_plain_http_is_refused(live_server):
    """The listener speaks TLS only; a plain-HTTP request gets no API answer."""
    plain = live_server.url.replace("https://", "http://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(plain + "/api/v1/health") as resp:
                await resp.read()


async def test_unknown_route_is_problem_json(http):
    """An unknown path answers 404 problem+json with code not_found."""
    async with http.get("/api/v1/no-such-thing") as resp:
        assert resp.status == 404
        assert resp.content_type == PROBLEM
        body = await resp.json(content_type=PROBLEM)
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert {"type", "title", "detail"} <= body.keys()


async def test_wrong_method_is_problem_json(http):
    """A wrong method answers 405 with the Allow header."""
    async with http.delete("/api/v1/health") as resp:
        assert resp.status == 405
        assert "GET" in resp.headers["Allow"]
        body = await resp.json(content_type=PROBLEM)
    assert body["code"] == "method_not_allowed"


@pytest.fixture
async def echo_server(config):
    """The real app plus two probe routes: one echoes JSON, one crashes."""
    config.server.max_body_bytes = 2048
    app = create_app(config)

    @public
    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json(request))

    @public
    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret-token-should-not-leak")

    app.router.add_post("/api/v1/_probe/echo", echo)
    app.router.add_get("/api/v1/_probe/crash", crash)
    runner, live = await start_server(app, config)
    async with aiohttp.ClientSession(
        live.url, connector=aiohttp.TCPConnector(ssl=live.ssl)
    ) as session:
        yield session
    await runner.cleanup()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"a": ', "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "bad_request"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"a": "' + b"x" * 4096 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
async def test_bad_bodies_are_4xx(echo_server, body, content_type, status, code):
    """Malformed, non-object, non-UTF-8, non-JSON and oversized bodies get a clear 4xx."""
    async with echo_server.post(
        "/api/v1/_probe/echo", data=body, headers={"Content-Type": content_type}
    ) as resp:
        assert resp.status == status
        problem = await resp.json(content_type=PROBLEM)
    assert problem["code"] == code
    assert problem["detail"]


async def test_good_json_round_trips(echo_server):
    """A valid object passes through (the probe is a working handler)."""
    async with echo_server.post("/api/v1/_probe/echo", json={"name": "Ünïcode"}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"name": "Ünïcode"}


async def test_crash_is_500_that_reveals_nothing(echo_server, caplog):
    """An unexpected exception answers a generic 500 and is logged with a reference."""
    caplog.set_level(logging.ERROR, logger="server.web.middlewares")
    async with echo_server.get("/api/v1/_probe/crash") as resp:
        assert resp.status == 500
        text = await resp.text()
    assert "secret-token-should-not-leak" not in text
    assert "RuntimeError" not in text
    problem = json.loads(text)
    assert problem["code"] == "internal_error"
    reference = problem["detail"].split("reference ")[1].rstrip(").")
    assert any(reference in r.getMessage() for r in caplog.records)


async def test_cluster_view(api, admin):
    """GET /cluster: this node's role and replication for MSPOrg administrators only."""
    from tests.server.conftest import make_user

    status, view = await admin.call("GET", "/cluster")
    assert status == 200
    assert view["nodes"][0]["role"] == "primary"
    assert view["replication"] == "none" and view["standbys"] == []
    password = await make_user(admin, "viewer", "password_user")
    viewer = await api.login("viewer", password)
    assert (await viewer.call("GET", "/cluster"))[0] == 403


async def test_cluster_view_shows_the_registration_details(admin, install_files, http):
    """A silent install's Name, MailId, Phone, Company, Country: in GET /cluster (MSPOrg
    administrators), never in the unauthenticated GET /health (issue 34)."""
    assert (await admin.call("GET", "/cluster"))[1]["registration"] is None
    details = {"name": "Jane Q. Admin", "mail": "jane@example.com", "phone": "",
               "company": "Example MSP AS", "country": "Norway"}  # fmt: skip
    registration = install_files / "conf" / "registration.json"
    registration.write_text(json.dumps({**details, "role": "primary"}))
    try:
        status, view = await admin.call("GET", "/cluster")
        assert status == 200 and view["registration"] == details
        status, health = await admin.as_(None).call("GET", "/health")
        assert "jane@example.com" not in json.dumps(health)
    finally:
        registration.unlink()


async def test_transport_headers_hide_versions_and_pin_https(http, live_server):
    """Every answer, errors included, carries HSTS and a Server header without library
    versions (issue 13, item 11)."""
    for path in ("/api/v1/health", "/api/v1/no-such-thing"):
        async with http.get(path) as resp:
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
            assert resp.headers["Server"] == "Strongroom"
    # A request the HTTP parser refuses never reaches the app: no version there either.
    host, port = live_server.url.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=live_server.ssl)
    writer.write(b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = (await reader.read(4096)).decode(errors="replace")
    writer.close()
    assert "aiohttp" not in head and "Python/" not in head


async def test_tls12_offers_only_aead_suites(live_server, config):
    """A TLS 1.2 client offering only CBC suites is refused; an AEAD one connects."""
    host, port = live_server.url.removeprefix("https://").split(":")

    def handshake(ciphers: str) -> str:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                return tls.cipher()[0]

    # The server runs on this event loop: handshake from a thread.
    with pytest.raises(ssl.SSLError):
        await asyncio.to_thread(handshake, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384")
    assert "GCM" in await asyncio.to_thread(handshake, "ECDHE-ECDSA-AES128-GCM-SHA256")
    ctx = server_context(config.path(config.server.tls_cert), config.path(config.server.tls_key))
    for suite in ctx.get_ciphers():
        assert suite["aead"], suite["name"]


async def test_nul_in_the_address_is_a_clear_400(admin):
    """A NUL in a path segment or a query value answers 400, never 500."""
    for path in ("/orgs/MSPOrg/users/%00", "/orgs/MSPOrg/audit?operation=%00"):
        status, problem = await admin.call("GET", path)
        assert (status, problem["code"]) == (400, "invalid_characters"), path
