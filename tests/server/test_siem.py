"""SIEM forwarding of the audit trail (issue 31, item 1) to a real rsyslog on loopback:
TLS with the receiver's certificate verified, at-least-once delivery across a receiver
away and back (nothing missing, duplicates only by sequence number), a certificate from
an untrusted CA refused and said, other transports and formats, who may configure it, and
no secret of the test in anything received."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from server.core import siem_stream
from server.ops import cli
from server.services import siem
from server.web.keys import ENV
from tests.conftest import free_port
from tests.server.conftest import ADMIN_PASSWORD, Api, confirm_by_request, make_user
from tests.targets.rsyslog import Rsyslog

SECRET = "Forwarded-Never-9fQ2!x"  # an account's password: must never leave
CLIENT = "SiemClient"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Rsyslog]:
    if not Rsyslog.available():
        pytest.skip("rsyslog with rsyslog-gnutls is not installed (setup/lib.sh ensure_rsyslog)")
    with Rsyslog.started() as rsyslog:
        yield rsyslog


async def _destination(admin: Api, receiver: Rsyslog, name: str, **extra) -> dict:
    body = {
        "name": name,
        "host": "127.0.0.1",
        "port": receiver.tls_port,
        "transport": "tls",
        "format": "json",
        "ca_pem": receiver.ca_pem,
        **extra,
    }
    status, dest = await admin.call("POST", "/orgs/MSPOrg/siem-destinations", body)
    assert status == 201, dest
    return dest


async def _state(admin: Api, dest_id: str) -> dict:
    status, page = await admin.call("GET", "/orgs/MSPOrg/siem-destinations")
    assert status == 200, page
    return next(d for d in page["items"] if d["id"] == dest_id)


async def _caught_up(admin: Api, dest_id: str, seconds: float = 30) -> dict:
    """The destination's state once its cursor reached the chain's head (nothing pending)."""
    for _ in range(int(seconds * 10)):
        state = await _state(admin, dest_id)
        _, chain = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
        if chain["pending"] == 0 and state["lag"] == 0 and state["sent_seq"] == chain["events"]:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(state)


async def _events(admin: Api, resource_id: str, count: int) -> None:
    for i in range(count):
        status, body = await admin.call(
            "PATCH", f"/orgs/MSPOrg/resources/{resource_id}", {"location": f"room {i}"}
        )
        assert status == 200, body


async def test_forwarding_survives_a_receiver_away_and_proves_completeness(
    admin, receiver, tmp_path, capsys
):
    """Every event of MSPOrg's chain reaches rsyslog over TLS; with the receiver stopped
    the cursor waits and the failure shows (destination, health); once it is back the rest
    arrives. The receiver's check finds the stream complete, unaltered, duplicates only by
    sequence number; a dropped, a changed and a repeated line are each reported."""
    dest = await _destination(admin, receiver, "siem-main")
    assert len(dest["verify_key"]) == 64 and dest["sent_seq"] == 0
    assert "ca_pem" not in dest and "client_key_pem" not in dest
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "siem-box", "type": "Linux"}
    )
    assert status == 201, res
    status, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET, "notes": f"notes {SECRET}"},
    )
    assert status == 201, acct
    status, shown = await admin.call("POST", f"/orgs/MSPOrg/accounts/{acct['id']}/reveal", {})
    assert (status, shown["password"]) == (200, SECRET)
    await _caught_up(admin, dest["id"])

    receiver.stop()
    await _events(admin, res["id"], 5)
    for _ in range(200):
        state = await _state(admin, dest["id"])
        if state["failures"] and state["lag"] > 0:
            break
        await asyncio.sleep(0.1)
    assert "refused" in state["last_error"] or "closed" in state["last_error"], state
    _, health = await admin.call("GET", "/health")
    assert health["forwarding"]["destinations"] >= 1
    assert health["forwarding"]["lag"] > 0
    assert "MSPOrg/siem-main" in health["forwarding"]["failing"]
    await _events(admin, res["id"], 3)
    receiver.start()
    state = await _caught_up(admin, dest["id"])
    assert (state["failures"], state["last_error"]) == (0, None)

    lines = receiver.lines()
    key = bytes.fromhex(dest["verify_key"])
    reports = siem_stream.verify_stream(lines, key=key)
    (report,) = [r for r in reports if r.unchecked_macs == 0 and r.events]
    assert report.ok, report.lines()
    assert (report.first, report.last, report.events) == (1, state["sent_seq"], state["sent_seq"])
    received = "\n".join(lines)
    assert "password_revealed" in received and "resource_updated" in received
    for secret in (SECRET, ADMIN_PASSWORD, admin.token, dest["verify_key"]):
        assert secret not in received
    # The receiver's check as a receiver runs it: the command line, no server needed.
    (tmp_path / "key").write_text(dest["verify_key"])
    assert (
        cli.main(["audit", "verify-stream", str(receiver.file), "--key", str(tmp_path / "key")])
        == 0
    )
    assert f"org {report.org}: OK" in capsys.readouterr().out
    # The receiver's check reports a gap, an alteration, and takes a duplicate.
    ours = [line for line in lines if f'org="{report.org}"' in line]
    gap = siem_stream.verify_stream(ours[:3] + ours[4:], key=key)[0]
    assert gap.missing == [(4, 4)]
    changed = ours[2].replace('"actor":"admin"', '"actor":"mallory"')
    assert changed != ours[2]
    bad = siem_stream.verify_stream([*ours[:2], changed, *ours[3:]], key=key)[0]
    assert not bad.ok and "seq 3" in bad.altered[0]
    twice = siem_stream.verify_stream([*ours, ours[1]], key=key)[0]
    assert twice.ok and twice.duplicates >= 1
    (tmp_path / "gap").write_text("\n".join(ours[:3] + ours[4:]) + "\n")
    assert cli.main(["audit", "verify-stream", str(tmp_path / "gap")]) == 1
    assert "missing: seq 4" in capsys.readouterr().out


async def test_untrusted_certificate_is_refused_and_said(admin, receiver):
    """A destination trusting another CA never sends a message: the handshake fails, the
    destination and the test say the certificate is not trusted, its cursor stays."""
    before = len(receiver.lines())
    dest = await _destination(admin, receiver, "siem-untrusted", ca_pem=receiver.untrusted_ca_pem)
    status, tried = await admin.call("POST", f"/orgs/MSPOrg/siem-destinations/{dest['id']}/test")
    assert status == 200 and not tried["delivered"], tried
    assert "not trusted" in tried["error"], tried
    for _ in range(100):
        state = await _state(admin, dest["id"])
        if state["last_error"]:
            break
        await asyncio.sleep(0.1)
    assert "certificate" in state["last_error"] and "not trusted" in state["last_error"]
    assert state["sent_seq"] == 0
    # Its test message never arrived (the audit event of sending it did, by siem-main).
    assert [ln for ln in receiver.lines()[before:] if " strongroom - test [" in ln] == []
    status, _ = await admin.call("DELETE", f"/orgs/MSPOrg/siem-destinations/{dest['id']}")
    assert status == 204


async def test_transports_formats_and_client_certificate(admin, receiver):
    """CEF over plain TCP, JSON over UDP, TLS with a client certificate: each test message
    arrives; without the client certificate the receiver that asks for one refuses."""
    cases = [
        (
            "siem-cef",
            {"transport": "tcp", "format": "cef", "port": receiver.tcp_port, "ca_pem": ""},
        ),
        ("siem-udp", {"transport": "udp", "port": receiver.udp_port}),
        (
            "siem-mtls",
            {
                "port": receiver.mtls_port,
                "client_cert_pem": receiver.client_cert_pem,
                "client_key_pem": receiver.client_key_pem,
            },
        ),
    ]
    for name, extra in cases:
        if extra.get("transport") in ("tcp", "udp"):
            extra["ca_pem"] = ""
        dest = await _destination(admin, receiver, name, start="now", **extra)
        status, tried = await admin.call(
            "POST", f"/orgs/MSPOrg/siem-destinations/{dest['id']}/test"
        )
        assert (status, tried) == (200, {"delivered": True, "error": None}), name
        await receiver.wait_for(
            lambda lines, n=name: any(
                f"siem_destination|{n}" in ln
                or f'"target":"{n}"' in ln
                or f"cs4=siem_destination:{n}" in ln
                for ln in lines
            )
        )
        status, paused = await admin.call(
            "PATCH", f"/orgs/MSPOrg/siem-destinations/{dest['id']}", {"enabled": False}
        )
        assert (status, paused["enabled"]) == (200, False)
    assert receiver.client_key_pem.split("\n")[1] not in "\n".join(receiver.lines())
    dest = await _destination(admin, receiver, "siem-no-client-cert", port=receiver.mtls_port)
    status, tried = await admin.call("POST", f"/orgs/MSPOrg/siem-destinations/{dest['id']}/test")
    assert status == 200 and not tried["delivered"], tried
    # The audit says the test failed, and why (newcomer pass, session 9).
    _, trail = await admin.call("GET", "/orgs/MSPOrg/audit?operation=siem_test_sent&limit=1")
    (event,) = trail["items"]
    assert (event["target"], event["outcome"]) == ("siem-no-client-cert", "failure"), event
    assert event["details"]["error"] == tried["error"]


async def test_only_the_orgs_own_administrators_configure_it(admin, api, receiver):
    """An MSP administrator does not choose where a client org's trail goes, the client's
    own administrator does (and its events reach the receiver, with the client's org id);
    a password administrator does not configure MSPOrg's; malformed destinations are
    refused field by field."""
    await make_user(admin, "siemmgr", "privileged_administrator")
    await make_user(admin, "siemthird", "administrator")
    mgr = await api.login("siemmgr", "final-siemmgr-pw22")
    third = await api.login("siemthird", "final-siemthird-pw22")
    status, body = await mgr.call(
        "POST", "/orgs", {"name": CLIENT, "display_name": CLIENT, "account_manager": "siemmgr"}
    )
    assert status == 201, body
    await make_user(mgr, "siemcadm", "administrator", org=CLIENT, access_scope="all")
    await confirm_by_request(admin, third, "final-siemthird-pw22", CLIENT, "siemcadm")
    client_admin = await api.login("siemcadm", "final-siemcadm-pw22", org=CLIENT)
    body = {"name": "x", "host": "127.0.0.1", "port": receiver.tcp_port, "transport": "tcp"}
    # Its account manager reaches the org but is refused; another MSP admin does not reach it.
    status, problem = await mgr.call("POST", f"/orgs/{CLIENT}/siem-destinations", body)
    assert (status, problem["code"]) == (403, "siem_own_administrators")
    status, problem = await mgr.call("GET", f"/orgs/{CLIENT}/siem-destinations")
    assert (status, problem["code"]) == (403, "siem_own_administrators")
    status, problem = await admin.call("GET", f"/orgs/{CLIENT}/siem-destinations")
    assert status == 404
    status, own = await client_admin.call(
        "POST", f"/orgs/{CLIENT}/siem-destinations", {**body, "name": "client-siem"}
    )
    assert status == 201, own
    status, page = await client_admin.call("GET", f"/orgs/{CLIENT}/siem-destinations")
    assert [d["name"] for d in page["items"]] == ["client-siem"]
    # Attacker finding 3: a client admin's test call is no port scanner (a closed port
    # and an open one that is no receiver read alike); MSPOrg's admins keep the detail.
    closed = {**body, "port": free_port(), "name": "probe"}
    status, probe = await client_admin.call("POST", f"/orgs/{CLIENT}/siem-destinations", closed)
    assert status == 201, probe
    status, tried = await client_admin.call(
        "POST", f"/orgs/{CLIENT}/siem-destinations/{probe['id']}/test"
    )
    assert status == 200 and not tried["delivered"], tried
    assert tried["error"] == siem.TEST_NOT_DELIVERED and str(closed["port"]) not in tried["error"]
    status, msp_probe = await admin.call("POST", "/orgs/MSPOrg/siem-destinations", closed)
    status, tried = await admin.call(
        "POST", f"/orgs/MSPOrg/siem-destinations/{msp_probe['id']}/test"
    )
    assert not tried["delivered"] and "(refused): check the address" in tried["error"], tried
    assert "Connect call" not in tried["error"], tried
    listed = None
    for _ in range(150):  # the forwarder tries the probe too: its last error is as coarse
        status, page = await client_admin.call("GET", f"/orgs/{CLIENT}/siem-destinations")
        listed = next(d for d in page["items"] if d["id"] == probe["id"])
        if listed["last_error"]:
            break
        await asyncio.sleep(0.1)
    assert listed and listed["last_error"] == siem.TEST_NOT_DELIVERED, listed
    for dest_id, who, org in (
        (probe["id"], client_admin, CLIENT),
        (msp_probe["id"], admin, "MSPOrg"),
    ):
        status, _ = await who.call("DELETE", f"/orgs/{org}/siem-destinations/{dest_id}")
        assert status == 204
    status, problem = await client_admin.call("GET", "/orgs/MSPOrg/siem-destinations")
    assert status == 404  # MSPOrg is out of a client user's reach
    lines = await receiver.wait_for(
        lambda got: any('"org":"' + CLIENT + '"' in line for line in got)
    )
    client_lines = [line for line in lines if '"org":"' + CLIENT + '"' in line]
    (report,) = siem_stream.verify_stream(client_lines, key=bytes.fromhex(own["verify_key"]))
    assert report.ok and report.first == 1, report.lines()
    password = await make_user(admin, "siemtech", "password_administrator")
    tech = await admin.login("siemtech", password)
    status, problem = await tech.call("POST", "/orgs/MSPOrg/siem-destinations", body)
    assert (status, problem["code"]) == (403, "siem_own_administrators")
    for wrong, field in (
        ({"host": "a b"}, "host"),
        ({"ca_pem": "nonsense"}, "transport"),
        ({"transport": "tls", "ca_pem": "nonsense"}, "ca_pem"),
        ({"transport": "tls", "client_cert_pem": receiver.client_cert_pem}, "client_key_pem"),
        ({"port": 70000}, "port"),
    ):
        status, problem = await admin.call(
            "POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "bad", **wrong}
        )
        assert (status, problem["errors"][0]["field"]) == (422, field), (wrong, problem)
    status, _ = await admin.call("POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "dup"})
    assert status == 201
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "dup"}
    )
    assert (status, problem["code"]) == (409, "siem_destination_exists")


async def test_no_destination_reaches_the_vault_host(admin, receiver, live_server):
    """Attacker finding 3, with ``[outbound] allow_loopback = false`` (the default): SIEM
    destinations, webhooks and rotation target connections at this host, link-local
    (cloud metadata), unspecified or multicast addresses are refused when set (422
    ``destination_not_allowed``), and one set earlier is not connected to (the test call
    says not delivered; a reset is refused with nothing changed). Private ranges stay
    allowed. A webhook URL carrying user:password is refused."""
    body = {"name": "x", "host": "127.0.0.1", "port": receiver.tcp_port, "transport": "tcp"}
    status, earlier = await admin.call(
        "POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "loop-earlier"}
    )
    assert status == 201, earlier
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "loop-target", "type": "Linux"}
    )
    status, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET},
    )
    assert status == 201, acct
    connection = f"/orgs/MSPOrg/resources/{res['id']}/connection"
    status, _ = await admin.call("PUT", connection, {"connector": "ssh", "host": "127.0.0.1"})
    assert status == 200
    live_server.app[ENV].config.outbound.allow_loopback = False

    for host in (
        "127.0.0.1",
        "127.8.9.10",
        "localhost",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
    ):
        status, problem = await admin.call(
            "POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "bad", "host": host}
        )
        assert (status, problem.get("code")) == (422, "destination_not_allowed"), (host, problem)
        url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        status, problem = await admin.call(
            "POST",
            "/orgs/MSPOrg/notifications/webhooks",
            {"name": "bad", "url": f"https://{url_host}:8443/hook"},
        )
        assert (status, problem.get("code")) == (422, "destination_not_allowed"), (host, problem)
        status, problem = await admin.call(
            "PUT", connection, {"connector": "ssh", "host": host.strip("[]")}
        )
        assert (status, problem.get("code")) == (422, "destination_not_allowed"), (host, problem)
    status, private = await admin.call(
        "POST", "/orgs/MSPOrg/siem-destinations", {**body, "name": "private", "host": "10.1.2.3"}
    )
    assert status == 201, private
    status, problem = await admin.call(
        "POST",
        "/orgs/MSPOrg/notifications/webhooks",
        {"name": "creds", "url": "https://user:pass@10.1.2.3/hook"},
    )
    assert (status, problem["code"]) == (422, "webhook_url_userinfo"), problem
    status, hooks = await admin.call("GET", "/orgs/MSPOrg/notifications/webhooks")
    assert "pass@" not in str(hooks)

    # Set before the rule (or while allowed): not connected to.
    status, tried = await admin.call("POST", f"/orgs/MSPOrg/siem-destinations/{earlier['id']}/test")
    assert not tried["delivered"] and "not sent" in tried["error"], tried
    status, problem = await admin.call(
        "POST", f"/orgs/MSPOrg/accounts/{acct['id']}/rotation/reset", {}
    )
    assert (status, problem["code"]) == (502, "target_not_allowed"), problem
    status, shown = await admin.call("POST", f"/orgs/MSPOrg/accounts/{acct['id']}/reveal", {})
    assert shown.get("password") == SECRET, shown
    for dest in (earlier, private):
        await admin.call("DELETE", f"/orgs/MSPOrg/siem-destinations/{dest['id']}")


def _ours(lines: list[str], key: bytes) -> list[str]:
    """The received lines a destination sent (their MAC fits its verification key)."""
    kept = []
    for number, line in enumerate(lines, start=1):
        msg = siem_stream.parse_line(line, number)
        if msg is None or msg.test or not msg.mac:
            continue
        if msg.mac == siem_stream.message_mac(
            key, msg.org, msg.seq, msg.link_hash, msg.prev, msg.body
        ):
            kept.append(line)
    return kept


async def test_editing_a_destination_keeps_its_cursor(admin, api, receiver):
    """A destination's port, transport, CAs and client certificate are edited in place:
    the cursor stays, so the receiver's stream continues the chain with no gap; the
    forwarder reconnects at once (edited to a closed port, it stops delivering and says
    so); the edit is audited with the fields changed and never the client key; malformed
    edits and others' edits are refused with nothing changed."""
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "edit-box", "type": "Linux"}
    )
    assert status == 201, res
    dest = await _destination(
        admin,
        receiver,
        "siem-edit",
        transport="tcp",
        port=receiver.tcp_port,
        ca_pem="",
        start="now",
    )
    path = f"/orgs/MSPOrg/siem-destinations/{dest['id']}"
    key = bytes.fromhex(dest["verify_key"])
    await _events(admin, res["id"], 2)
    before = await _caught_up(admin, dest["id"])

    # Moved to the TLS listener that asks for a client certificate: the cursor stays.
    tls = {
        "transport": "tls",
        "port": receiver.mtls_port,
        "ca_pem": receiver.ca_pem,
        "client_cert_pem": receiver.client_cert_pem,
        "client_key_pem": receiver.client_key_pem,
    }
    status, edited = await admin.call("PATCH", path, tls)
    assert status == 200, edited
    assert (edited["transport"], edited["port"], edited["own_ca"]) == (
        "tls",
        receiver.mtls_port,
        True,
    )
    assert edited["client_certificate"] and edited["sent_seq"] >= before["sent_seq"]
    await _events(admin, res["id"], 2)
    await _caught_up(admin, dest["id"])

    # Edited to a closed port: the open link is left at once, delivery stops and says why.
    closed = free_port()
    status, edited = await admin.call("PATCH", path, {"port": closed})
    assert (status, edited["port"], edited["client_certificate"]) == (200, closed, True)
    await _events(admin, res["id"], 2)
    for _ in range(200):
        state = await _state(admin, dest["id"])
        if state["last_error"] and state["lag"] > 0:
            break
        await asyncio.sleep(0.1)
    assert "could not connect to" in state["last_error"], state

    # Refused, nothing changed: a key without its certificate, certificates on plain TCP,
    # a malformed host, a host the outbound rule refuses, someone else, no such one.
    for wrong, field in (
        ({"client_key_pem": receiver.client_key_pem}, "client_cert_pem"),
        ({"transport": "tcp", "ca_pem": receiver.ca_pem}, "transport"),
        ({"host": "a b"}, "host"),
        ({"port": 0}, "port"),
        ({"client_cert_pem": receiver.client_cert_pem, "client_key_pem": ""}, "client_key_pem"),
    ):
        status, problem = await admin.call("PATCH", path, wrong)
        assert (status, problem["errors"][0]["field"]) == (422, field), (wrong, problem)
    status, problem = await admin.call("PATCH", path, {"host": "169.254.169.254"})
    assert (status, problem["code"]) == (422, "destination_not_allowed"), problem
    password = await make_user(admin, "siemedit", "password_administrator")
    other = await api.login("siemedit", password)
    status, problem = await other.call("PATCH", path, {"port": receiver.tls_port})
    assert (status, problem["code"]) == (403, "siem_own_administrators")
    status, _ = await admin.call(
        "PATCH", "/orgs/MSPOrg/siem-destinations/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12, {}
    )
    assert status == 404
    assert (await _state(admin, dest["id"]))["port"] == closed

    # Back on the mTLS listener: it catches up; the stream has no gap across the edits.
    status, edited = await admin.call("PATCH", path, {"port": receiver.mtls_port})
    assert (status, edited["failures"], edited["last_error"]) == (200, 0, None)
    final = await _caught_up(admin, dest["id"])
    lines = await receiver.wait_for(lambda got: len(_ours(got, key)) >= 6)
    (report,) = siem_stream.verify_stream(_ours(lines, key), key=key)
    assert report.ok, report.lines()
    assert report.first == dest["sent_seq"] + 1
    assert report.last == final["sent_seq"]

    # Plain TCP again: the CAs and client certificate are dropped with the transport.
    status, edited = await admin.call(
        "PATCH", path, {"transport": "tcp", "port": receiver.tcp_port}
    )
    assert status == 200
    assert (edited["own_ca"], edited["client_certificate"]) == (False, False)
    status, page = await admin.call(
        "GET", "/orgs/MSPOrg/audit?operation=siem_destination_changed&limit=20"
    )
    changes = [e["details"] for e in page["items"] if e["target"] == "siem-edit"]
    moved = ["ca", "client_cert", "client_key", "port", "transport"]
    assert any(c["changed"] == moved and c["transport"] == "tls" for c in changes), changes
    assert any(c["changed"] == ["port"] for c in changes)
    told = json.dumps(page)
    assert receiver.client_key_pem.split("\n")[1] not in told
    assert "PRIVATE KEY" not in told
    status, _ = await admin.call("DELETE", path)
    assert status == 204
