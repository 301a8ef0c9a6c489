"""Notifications (issue 31, item 2) through a real SMTP server (aiosmtpd, STARTTLS and
AUTH required) and an HTTPS webhook receiver that checks signatures: a check-out request
tells its approver, the decision tells the requester, a check-out about to end tells its
holder unless muted; webhooks get every notification of the org, signed; a receiver that
fails is retried and its failure is visible; no secret of the test in any message."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest

from server.services import notifications
from tests.server.conftest import ADMIN_PASSWORD, Api, make_user
from tests.targets.mail_hooks import HookReceiver, SmtpReceiver

SMTP_USER, SMTP_PASSWORD = "relay", "Smtp-Relay-Pass-71!"
SECRET = "Notify-Never-Show-83#k"


async def _until(what, seconds: float = 20):
    for _ in range(int(seconds * 10)):
        found = await what()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not in {seconds} s")


async def test_requests_decisions_endings_by_mail_and_webhook(admin, api, monkeypatch):
    monkeypatch.setattr(notifications, "RETRY_BASE", 0.2)
    with SmtpReceiver.started(SMTP_USER, SMTP_PASSWORD) as smtp:
        async with HookReceiver.started() as hooks:
            await _scenario(admin, api, smtp, hooks)


async def _scenario(admin: Api, api: Api, smtp: SmtpReceiver, hooks: HookReceiver) -> None:
    body = {
        "host": "127.0.0.1",
        "port": smtp.port,
        "security": "starttls",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "sender": "strongroom@example.test",
        "ca_pem": smtp.ca_pem,
    }
    status, relay = await admin.call("PUT", "/orgs/MSPOrg/notifications/smtp", body)
    assert (status, relay["has_password"]) == (200, True), relay
    assert SMTP_PASSWORD not in json.dumps(relay)
    status, hook = await admin.call(
        "POST",
        "/orgs/MSPOrg/notifications/webhooks",
        {"name": "psa", "url": hooks.url("/psa"), "ca_pem": hooks.ca_pem},
    )
    assert status == 201, hook
    status, broken = await admin.call(
        "POST",
        "/orgs/MSPOrg/notifications/webhooks",
        {"name": "gone", "url": "https://127.0.0.1:9/x", "ca_pem": hooks.ca_pem},
    )
    assert status == 201
    # People: an approver and a requester with addresses; the requester mutes endings.
    # The approver is made by another administrator (independent of the requester).
    await make_user(admin, "nadm2", "administrator")
    second = await api.login("nadm2", "final-nadm2-pw22")
    await make_user(second, "nappr", "password_user", email="nappr@example.test")
    password = await make_user(admin, "nreq", "password_user", email="nreq@example.test")
    appr = await api.login("nappr", "final-nappr-pw22")
    req = await api.login("nreq", password)
    status, problem = await req.call("PUT", "/me/notification-mutes", {"muted": ["cluster_alert"]})
    assert (status, problem["code"]) == (422, "notification_not_mutable")
    status, mutes = await req.call("PUT", "/me/notification-mutes", {"muted": ["checkout_ending"]})
    assert (status, mutes["muted"]) == (200, ["checkout_ending"])
    # An org's own template for decisions.
    status, templates = await admin.call(
        "PUT",
        "/orgs/MSPOrg/notifications/templates",
        {
            "templates": {
                "request_decided": {
                    "subject": "Decision: $decision",
                    "body": "$what: $decision by $by\n",
                }
            }
        },
    )
    assert status == 200, templates
    status, problem = await admin.call(
        "PUT",
        "/orgs/MSPOrg/notifications/templates",
        {"templates": {"request_decided": {"subject": "$password", "body": "x"}}},
    )
    assert (status, problem["errors"][0]["field"]) == (422, "request_decided.subject")

    # An operation marked as an alert tells the org's administrators (and its webhooks).
    status, _ = await admin.call(
        "PUT", "/orgs/MSPOrg/audit/settings", {"operations": {"resource_created": {"alert": True}}}
    )
    assert status == 200
    _, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "notify-db", "type": "Linux"}
    )
    status, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "sa", "password": SECRET},
    )
    assert status == 201, acct
    for user in ("nappr", "nreq"):
        status, _ = await admin.call(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/shares",
            {"user": user, "permission": "view"},
        )
        assert status == 201
    status, control = await admin.call(
        "PUT",
        f"/orgs/MSPOrg/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["nappr"], "max_window_minutes": 30},
    )
    assert status == 200, control

    status, request = await req.call(
        "POST",
        "/orgs/MSPOrg/password-requests",
        {"account": acct["id"], "reason": "patch night", "window_minutes": 5},
    )
    assert status == 201, request

    def mails_to(address: str) -> list:
        return [m for m in smtp.messages if m["To"] == address]

    async def waiting():
        return mails_to("nappr@example.test")

    (waits,) = await _until(waiting)
    assert "waits for you" in waits["Subject"]
    text = waits.get_content()
    assert "nreq asks for a check-out of notify-db/sa for 5 min" in text
    assert "patch night" in text
    assert smtp.logins and set(smtp.logins) == {"ok"}

    status, decided = await appr.call(
        "POST", f"/orgs/MSPOrg/password-requests/{request['id']}/approve", {}
    )
    assert status == 200, decided

    async def decision():
        return mails_to("nreq@example.test")

    (told,) = await _until(decision)
    assert told["Subject"] == "Decision: approved"
    assert (
        told.get_content().replace("\r\n", "\n")
        == "a check-out of notify-db/sa: approved by nappr\n"
    )

    # The 5-minute window ends within 10 minutes: the webhook hears it, the muted holder not.
    async def ending():
        return [c for c in hooks.calls if b"checkout_ending" in c[1]]

    await _until(ending)
    await asyncio.sleep(1.5)
    assert [m["Subject"] for m in mails_to("nreq@example.test")] == ["Decision: approved"]

    # A change weakening the control is a request: its current approver hears of it.
    status, change = await admin.call(
        "PUT",
        f"/orgs/MSPOrg/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["nappr", "nadm2"], "max_window_minutes": 30},
    )
    assert status == 202, change

    async def weaker():
        return [m for m in mails_to("nappr@example.test") if "weaker" in m.get_content()]

    (asked,) = await _until(weaker)
    assert "admin asks for a weaker access control of notify-db/sa" in asked.get_content()

    # Every webhook call is signed: HMAC-SHA256(secret, timestamp "." body).
    kinds_heard = set()
    for headers, raw in hooks.calls:
        stamp = headers["X-Strongroom-Timestamp"]
        want = hmac.new(hook["secret"].encode(), stamp.encode() + b"." + raw, hashlib.sha256)
        assert headers["X-Strongroom-Signature"] == "sha256=" + want.hexdigest()
        kinds_heard.add(json.loads(raw)["kind"])
    assert {"request_waiting", "request_decided", "checkout_ending", "audit_alert"} <= kinds_heard

    # The unreachable webhook is retried with backoff and its failure is visible.
    async def retried():
        _, page = await admin.call("GET", "/orgs/MSPOrg/notifications/deliveries?limit=1000")
        gone = [d for d in page["items"] if d["recipient"] == "gone"]
        return gone if gone and all(d["attempts"] >= 2 for d in gone) else None

    gone = await _until(retried, 30)
    assert all(d["last_error"] and "could not connect to" in d["last_error"] for d in gone)
    assert not any("Connect call" in d["last_error"] or "ssl:" in d["last_error"] for d in gone)
    _, page = await admin.call("GET", "/orgs/MSPOrg/notifications/deliveries?limit=1000")
    assert {d["status"] for d in page["items"] if d["recipient"] != "gone"} == {"sent"}

    # A change on a target that cannot be reached tells the org's administrators and the
    # account's owner (issue 29's failed rotation), with the reason and never the password.
    _, db_res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "notify-pg", "type": "PostgreSQL"}
    )
    _, db_acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{db_res['id']}/accounts",
        {"username": "app", "password": SECRET},
    )
    status, _ = await admin.call(
        "PUT",
        f"/orgs/MSPOrg/resources/{db_res['id']}/connection",
        {"connector": "postgresql", "host": "127.0.0.1", "port": 9},
    )
    assert status == 200
    status, problem = await admin.call(
        "POST", f"/orgs/MSPOrg/accounts/{db_acct['id']}/rotation/reset", {}
    )
    assert (status, problem["code"]) == (502, "target_unreachable"), problem

    async def rotation_failed():
        return [json.loads(raw) for _, raw in hooks.calls if b"rotation_failed" in raw]

    (failed, *_) = await _until(rotation_failed)
    told = json.dumps(failed)
    assert "changing the password of notify-pg/app on its target failed" in told, told
    assert "on its target failed: unreachable" in told, told

    everything = "\n".join(
        [m.as_string() for m in smtp.messages] + [raw.decode() for _, raw in hooks.calls]
    )
    for secret in (SECRET, SMTP_PASSWORD, ADMIN_PASSWORD, password, hook["secret"], req.token):
        assert secret not in everything
    status, _ = await admin.call("DELETE", f"/orgs/MSPOrg/notifications/webhooks/{broken['id']}")
    assert status == 204


async def test_who_sets_what(admin, api):
    """The relay is MSPOrg's; settings are for the org's own administrators."""
    status, problem = await admin.call("GET", "/orgs/NoSuchOrg/notifications/smtp")
    assert status == 404
    password = await make_user(admin, "nuser", "password_user")
    user = await api.login("nuser", password)
    for method, path, body in (
        ("GET", "/orgs/MSPOrg/notifications/smtp", None),
        ("GET", "/orgs/MSPOrg/notifications/templates", None),
        ("POST", "/orgs/MSPOrg/notifications/webhooks", {"name": "x", "url": "https://a.test/"}),
        ("GET", "/orgs/MSPOrg/notifications/deliveries", None),
    ):
        # Attacker finding 5: a code and text of notifications, not the SIEM's.
        status, problem = await user.call(method, path, body)
        assert (status, problem["code"]) == (403, "notifications_own_administrators"), path
        assert "SIEM" not in problem["detail"] and "audit trail" not in problem["detail"]
    status, problem = await user.call("GET", "/orgs/MSPOrg/notifications/deliveries")
    assert "notification deliveries" in problem["detail"], problem
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/notifications/webhooks", {"name": "x", "url": "http://a.test/"}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "url")


async def test_editing_a_webhook_sends_what_waits_to_the_new_url(admin, api, monkeypatch):
    """A webhook whose receiver moved is edited in place (its URL and CAs; the secret
    stays): a message that was failing at the old URL reaches the new one, signed with
    the same secret; the edit is audited with the fields and host only (never the URL's
    path or query); a URL that is not https, carries user:password or points where the
    outbound rule refuses is refused with nothing changed; only the org's own
    administrators edit it; pausing it stops new messages to it."""
    monkeypatch.setattr(notifications, "RETRY_BASE", 0.2)
    async with HookReceiver.started() as hooks:
        status, hook = await admin.call(
            "POST",
            "/orgs/MSPOrg/notifications/webhooks",
            {"name": "moving", "url": "https://127.0.0.1:9/old?token=Old-Url-Token-1"},
        )
        assert status == 201, hook
        path = f"/orgs/MSPOrg/notifications/webhooks/{hook['id']}"
        status, _ = await admin.call(
            "PUT",
            "/orgs/MSPOrg/audit/settings",
            {"operations": {"resource_created": {"alert": True}}},
        )
        assert status == 200
        status, _ = await admin.call(
            "POST", "/orgs/MSPOrg/resources", {"name": "moving-box", "type": "Linux"}
        )
        assert status == 201

        async def failing():
            _, page = await admin.call("GET", "/orgs/MSPOrg/notifications/deliveries")
            return [
                d
                for d in page["items"]
                if d["recipient"] == "moving" and d["attempts"] >= 1 and d["status"] == "pending"
            ]

        await _until(failing)
        for wrong, code in (
            ({"url": "http://127.0.0.1/x"}, None),
            ({"url": f"https://u:p@127.0.0.1:{hooks.port}/x"}, "webhook_url_userinfo"),
            ({"url": "https://169.254.169.254/x"}, "destination_not_allowed"),
        ):
            status, problem = await admin.call("PATCH", path, wrong)
            assert (status, problem["errors"][0]["field"]) == (422, "url"), problem
            assert code is None or problem["errors"][0].get("code", problem.get("code")) == code
        password = await make_user(admin, "hookuser", "password_user")
        user = await api.login("hookuser", password)
        status, problem = await user.call("PATCH", path, {"enabled": False})
        assert (status, problem["code"]) == (403, "notifications_own_administrators")

        new_url = hooks.url("/new?token=New-Url-Token-2")
        status, edited = await admin.call("PATCH", path, {"url": new_url, "ca_pem": hooks.ca_pem})
        assert status == 200, edited
        assert (edited["url"], edited["own_ca"], edited["enabled"]) == (new_url, True, True)
        assert "secret" not in edited

        async def arrived():
            return [raw for _, raw in hooks.calls if b"moving-box" in raw]

        (raw, *_) = await _until(arrived, 30)
        headers = next(h for h, r in hooks.calls if r == raw)
        stamp = headers["X-Strongroom-Timestamp"]
        want = hmac.new(hook["secret"].encode(), stamp.encode() + b"." + raw, hashlib.sha256)
        assert headers["X-Strongroom-Signature"] == "sha256=" + want.hexdigest()

        status, paused = await admin.call("PATCH", path, {"enabled": False})
        assert (status, paused["enabled"]) == (200, False)
        heard = len(hooks.calls)
        status, _ = await admin.call(
            "POST", "/orgs/MSPOrg/resources", {"name": "paused-box", "type": "Linux"}
        )
        assert status == 201
        await asyncio.sleep(2)
        assert not [r for _, r in hooks.calls[heard:] if b"paused-box" in r]

        status, page = await admin.call(
            "GET", "/orgs/MSPOrg/audit?operation=notification_settings_changed&limit=20"
        )
        edits = [e["details"] for e in page["items"] if e["target"] == "moving"]
        assert {"changed": ["ca", "url"], "host": "127.0.0.1", "enabled": True, "own_ca": True} in (
            edits
        ), edits
        assert "Token" not in json.dumps(page)
        status, _ = await admin.call("DELETE", path)
        assert status == 204


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:aiosmtpd")


async def test_a_webhook_redirect_is_not_followed(admin, monkeypatch):
    """Attacker pass, session 9: a webhook that answers 307 to another address (which the
    outbound rule would refuse: loopback, the cloud's metadata service) is not followed —
    the signed POST never reaches that address, and the delivery says why."""
    monkeypatch.setattr(notifications, "RETRY_BASE", 0.2)
    async with HookReceiver.started() as inner, HookReceiver.started(like=inner) as hooks:
        hooks.status, hooks.location = 307, inner.url("/loop")
        status, hook = await admin.call(
            "POST",
            "/orgs/MSPOrg/notifications/webhooks",
            {"name": "redirecting", "url": hooks.url("/hook"), "ca_pem": hooks.ca_pem},
        )
        assert status == 201, hook
        status, _ = await admin.call(
            "PUT",
            "/orgs/MSPOrg/audit/settings",
            {"operations": {"resource_created": {"alert": True}}},
        )
        assert status == 200
        status, _ = await admin.call(
            "POST", "/orgs/MSPOrg/resources", {"name": "redirect-box", "type": "Linux"}
        )
        assert status == 201

        async def refused():
            # Another notification of the org (an earlier test's) may reach the new webhook
            # first and be refused the same way: wait for this resource's POST as well.
            if not [raw for _, raw in hooks.calls if b"redirect-box" in raw]:
                return []
            _, page = await admin.call("GET", "/orgs/MSPOrg/notifications/deliveries")
            return [
                d
                for d in page["items"]
                if d["recipient"] == "redirecting" and "redirect" in (d["last_error"] or "")
            ]

        (delivery, *_) = await _until(refused)
        assert "HTTP 307" in delivery["last_error"]
        assert inner.calls == []
        await admin.call("DELETE", f"/orgs/MSPOrg/notifications/webhooks/{hook['id']}")
