"""Edge hygiene (issue 26, items 10 and 11): no request bytes in the log or the answer, API
keys that end with their owner's password and cannot change it, names without control or
invisible characters, a login address that does not list the clients, and a server
certificate that is not a CA."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.http_exceptions import TransferEncodingError
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from server.security.tls import LIFETIME_DAYS
from server.web.app import create_app
from server.web.handlers.common import public
from server.web.problem import json_response, read_json
from tests.conftest import start_server
from tests.server.conftest import make_user

PROBLEM = "application/problem+json"
LOGIN_PASSWORD = "Sekrit-Login-Password-91"


@pytest.fixture
def server_log(tmp_path: Path) -> Path:
    """Every log record of the process, formatted as logs/strongroom.log formats it
    (``server.ops.service.configure_logging``), tracebacks included, written to a file."""
    path = tmp_path / "strongroom.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


async def send_raw(url: str, ssl_context, *parts: bytes) -> bytes:
    """Send ``parts`` over one TLS connection (a pause between them) and read the whole
    answer (the server closes the connection after a refused request)."""
    host, port = url.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ssl_context)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def head_and_body(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    """The status line, the headers (lower-case names) and the body of a raw answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


def assert_like_every_answer(answer: bytes) -> dict:
    """A refused request is answered like any other: 400 problem+json with a stable code,
    HSTS, no-store, the product's Server header."""
    status, headers, body = head_and_body(answer)
    assert " 400 " in status, status
    assert headers["content-type"].startswith(PROBLEM)
    assert headers["cache-control"] == "no-store"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "Strongroom"
    problem = json.loads(body)
    assert problem["code"] == "malformed_request"
    return problem


# --- item 10: secrets in the server log -------------------------------------------------


async def test_api_key_in_a_broken_header_is_neither_logged_nor_echoed(
    live_server, admin, server_log, caplog
):
    """An Authorization header ending in a control byte: aiohttp's parser refuses it. The
    API key appears neither in the log nor in the answer, which carries the usual headers."""
    caplog.set_level(logging.DEBUG)
    status, created = await admin.call("POST", "/me/api-keys", {"name": "leaky script"})
    assert status == 201, created
    key = created["key"]
    for token in (key, admin.token):
        answer = await send_raw(
            live_server.url,
            live_server.ssl,
            b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token.encode()
            + b"\x01\r\n\r\n",
        )
        assert_like_every_answer(answer)
        secret = token.split("_")[-1]  # the part after the public prefix
        assert secret.encode() not in answer
        assert secret not in server_log.read_text()
        assert secret not in caplog.text
    # The refusal is still logged, by kind, so an operator sees it.
    assert "refused a malformed request" in server_log.read_text()


async def test_password_in_a_broken_chunked_login_is_neither_logged_nor_echoed(
    live_server, api, server_log, caplog
):
    """A chunked POST /auth/login whose framing breaks right after the JSON body (or whose
    chunk size is not hex): the password appears neither in the log nor in the answer."""
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"username": "admin", "password": LOGIN_PASSWORD}).encode()
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for framing in (
        [head + b"%x\r\n" % len(body) + body + b"XX\r\n0\r\n\r\n"],  # no CRLF after data
        [head + body + b"\r\n0\r\n\r\n"],  # the body where the chunk size belongs
        [head + b"%x\r\n" % (len(body) - 4) + body + b"\r\n0\r\n\r\n"],  # size too short
    ):
        answer = await send_raw(live_server.url, live_server.ssl, *framing)
        assert_like_every_answer(answer)
        assert LOGIN_PASSWORD.encode() not in answer
    assert LOGIN_PASSWORD not in server_log.read_text()
    assert LOGIN_PASSWORD not in caplog.text


@pytest.fixture
async def payload_probe(config):
    """The real app plus a probe route whose body reading fails with a parser exception
    quoting the body (what aiohttp raises when framing breaks while a handler reads)."""
    app = create_app(config)

    @public
    async def broken(request: web.Request) -> web.Response:
        raise TransferEncodingError(f"Expected LF after chunk data: b'{LOGIN_PASSWORD}XX'")

    @public
    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json(request))

    app.router.add_post("/api/v1/_probe/broken", broken)
    app.router.add_post("/api/v1/_probe/echo", echo)
    runner, live = await start_server(app, config)
    yield live
    await runner.cleanup()


async def test_a_body_that_breaks_while_read_is_a_400_without_its_bytes(payload_probe, server_log):
    """Framing that breaks after the handler started reading: 400 malformed_request, not a
    500 whose log entry quotes the body."""
    answer = await send_raw(
        payload_probe.url,
        payload_probe.ssl,
        b"POST /api/v1/_probe/broken HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert_like_every_answer(answer)
    assert LOGIN_PASSWORD.encode() not in answer
    log_text = server_log.read_text()
    assert LOGIN_PASSWORD not in log_text
    assert "TransferEncodingError" in log_text


# --- item 11: API keys and the owner's password -----------------------------------------


async def test_an_api_key_cannot_change_its_owners_credentials(api, admin):
    """A leaked API key tries to take the account over: change the password, enrol its own
    second factor. Both are refused (403 session_required); the password still works."""
    password = await make_user(admin, "scripted", "password_user")
    owner = await api.login("scripted", password)
    status, created = await owner.call("POST", "/me/api-keys", {"name": "cron"})
    assert status == 201, created
    stolen = api.as_(created["key"])
    status, problem = await stolen.call(
        "POST", "/me/password", {"current_password": password, "new_password": "Taken-Over-77x"}
    )
    assert (status, problem["code"]) == (403, "session_required")
    status, problem = await stolen.call("POST", "/me/totp", {"current_password": password})
    assert (status, problem["code"]) == (403, "session_required")
    status, problem = await stolen.call("POST", "/me/totp/confirm", {"otp": "123456"})
    assert (status, problem["code"]) == (403, "session_required")
    # The account was not taken over: the owner's password logs in, the thief's does not.
    await api.login("scripted", password)
    status, _ = await api.call(
        "POST", "/auth/login", {"username": "scripted", "password": "Taken-Over-77x"}
    )
    assert status == 401
    status, me = await owner.call("GET", "/me")
    assert (status, me["totp_enabled"]) == (200, False)


async def test_changing_ones_password_ends_ones_api_keys(api, admin):
    """The owner changes the password (after a key leaked, say): every key it made stops
    working at once; the audit event counts them."""
    password = await make_user(admin, "rotator", "password_user")
    owner = await api.login("rotator", password)
    keys = []
    for name in ("backup", "monitor"):
        status, created = await owner.call("POST", "/me/api-keys", {"name": name})
        assert status == 201, created
        keys.append(created["key"])
    assert (await api.as_(keys[0]).call("GET", "/me"))[0] == 200
    status, _ = await owner.call(
        "POST", "/me/password", {"current_password": password, "new_password": "Rotated-Pass-88"}
    )
    assert status == 204
    for key in keys:
        status, problem = await api.as_(key).call("GET", "/me")
        assert (status, problem["code"]) == (401, "unauthenticated")
    # The session that changed it goes on; its key list is empty.
    status, listing = await owner.call("GET", "/me/api-keys")
    assert (status, listing["items"]) == (200, [])
    status, page = await admin.call(
        "GET", "/orgs/MSPOrg/audit?operation=password_changed&actor=rotator"
    )
    assert status == 200, page
    event = page["items"][0]
    assert event["details"]["api_keys_revoked"] == 2


# --- item 11: names ----------------------------------------------------------------------

BAD_NAMES = [
    "web\u202e01",  # right-to-left override: reads "10bew"
    "web\u200b01",  # zero-width space: looks like "web01"
    "web\u2066x\u2069",  # isolate
    "web\t01",  # tab
    "web\n01",  # line feed
    "web\x0701",  # bell
    "web\u008501",  # NEL, a C1 control
    "web\u202801",  # line separator
]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_names_refuse_control_and_invisible_characters(admin, name):
    """Resources, resource groups, user groups and vault account names that would look like
    another name, or break a line where they are shown, are refused (422 on the field);
    nothing is created."""
    for path in ("/orgs/MSPOrg/resources", "/orgs/MSPOrg/resource-groups", "/orgs/MSPOrg/groups"):
        body = {"name": name, "type": "Linux"} if path.endswith("resources") else {"name": name}
        status, problem = await admin.call("POST", path, body)
        assert (status, problem["code"]) == (422, "validation_failed"), (path, problem)
        assert problem["errors"][0]["field"] == "name"
    status, resources = await admin.call("GET", "/orgs/MSPOrg/resources?limit=1000")
    assert name not in [r["name"] for r in resources["items"]]
    status, groups = await admin.call("GET", "/orgs/MSPOrg/groups?limit=1000")
    assert name not in [g["name"] for g in groups["items"]]
    # A resource renamed into a look-alike, and an account named like one, likewise.
    status, res = await admin.call(
        "POST",
        "/orgs/MSPOrg/resources",
        {"name": f"plain {len(name)} {ord(name[3])}", "type": "Linux"},
    )
    assert status == 201, res
    status, problem = await admin.call(
        "PATCH", f"/orgs/MSPOrg/resources/{res['id']}", {"name": name}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "name")
    status, problem = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": name, "password": "Whatever-Pass-1"},
    )
    assert (status, problem["errors"][0]["field"]) == (422, "username")


async def test_ordinary_unicode_names_still_pass(admin):
    """Accents, other scripts and inner spaces are names like any other."""
    for name in ("Café serveur 2", "Сервер-1", "サーバー"):
        status, res = await admin.call(
            "POST", "/orgs/MSPOrg/resources", {"name": name, "type": "Linux"}
        )
        assert (status, res["name"]) == (201, name)
        status, group = await admin.call("POST", "/orgs/MSPOrg/groups", {"name": name})
        assert status == 201, group


# --- item 11: the login address does not list the clients --------------------------------


async def test_the_login_address_does_not_enumerate_the_clients(api, admin):
    """Before login every name gets the same answer, a client that exists and one that does
    not alike; after login an org the caller reaches gets its own spelling, any other name
    (existing or not) a 404."""
    await make_user(admin, "acctmgr", "administrator")
    status, org = await admin.call(
        "POST",
        "/orgs",
        {"name": "Hidden", "display_name": "HiddenClient", "account_manager": "acctmgr"},
    )
    assert status == 201, org
    answers = {}
    for name in ("HiddenClient", "hiddenclient", "NoSuchClient", "MSPOrg"):
        status, body = await api.call("GET", f"/{name}", raw=True)
        answers[name] = (status, body)
        assert (status, body) == (200, {"org": name, "login": "/api/v1/auth/login"})
    # A token that does not log in is answered like none.
    status, body = await api.as_("srs_nonsense").call("GET", "/NoSuchClient", raw=True)
    assert (status, body) == (200, {"org": "NoSuchClient", "login": "/api/v1/auth/login"})
    # After login: the manager reaches it; the privileged admin, who does not, learns no more
    # than for a name that does not exist.
    manager = await api.login("acctmgr", "final-acctmgr-pw22")
    status, body = await manager.call("GET", "/hiddenclient", raw=True)
    assert (status, body["org"]) == (200, "HiddenClient")
    status, body = await manager.call("GET", "/msporg", raw=True)
    assert (status, body["org"]) == (200, "MSPOrg")
    hidden = await admin.call("GET", "/HiddenClient", raw=True)
    missing = await admin.call("GET", "/NoSuchClient", raw=True)
    assert hidden[0] == missing[0] == 404
    assert hidden[1]["code"] == missing[1]["code"] == "not_found"


# --- item 11: the server certificate ------------------------------------------------------


def test_the_server_certificate_is_not_a_ca(install_files):
    """The certificate made at init is an end-entity server certificate: CA:FALSE (critical),
    digitalSignature only, serverAuth, the loopback addresses, at most 398 days."""
    cert = x509.load_pem_x509_certificate((install_files / "conf" / "tls.crt").read_bytes())
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in alt.get_values_for_type(x509.DNSName)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=398)
    assert lifetime >= datetime.timedelta(days=LIFETIME_DAYS)


async def test_clients_trusting_the_certificate_file_still_connect(http):
    """A client that trusts the certificate file itself (the tests, ``strongroom status``,
    a local TUI) still verifies it although it is no longer a CA."""
    async with http.get("/api/v1/health") as resp:
        assert resp.status == 200
