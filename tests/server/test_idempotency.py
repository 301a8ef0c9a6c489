"""Idempotency-Key on POSTs (issue 33, item 4): a retry gets the first answer, the work is
done once, a key is per user and per request, and an answer holding a secret is never kept."""

from __future__ import annotations

import time
import uuid

from server.security import totp
from tests.server.conftest import make_user


def _key() -> dict:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


async def _resources(admin, name: str) -> list[dict]:
    status, body = await admin.call("GET", "/orgs/MSPOrg/resources")
    assert status == 200
    return [r for r in body["items"] if r["name"] == name]


async def test_a_retry_returns_the_first_answer_and_does_the_work_once(admin):
    key = _key()
    body = {"name": "idem-server-1", "type": "server"}
    status, first = await admin.call("POST", "/orgs/MSPOrg/resources", body, headers=key)
    assert status == 201, first
    status, again = await admin.call("POST", "/orgs/MSPOrg/resources", body, headers=key)
    assert status == 201 and again == first
    assert admin.last_headers.get("Idempotent-Replayed") == "true"
    assert len(await _resources(admin, "idem-server-1")) == 1
    # Without the key the same request is a new request (here: refused as a duplicate).
    status, refused = await admin.call("POST", "/orgs/MSPOrg/resources", body)
    assert status == 409, refused


async def test_a_key_reused_for_another_request_is_refused(admin):
    key = _key()
    status, _ = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "idem-a", "type": "server"}, headers=key
    )
    assert status == 201
    status, refused = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "idem-b", "type": "server"}, headers=key
    )
    assert status == 422 and refused["code"] == "idempotency_key_reused"
    assert not await _resources(admin, "idem-b")


async def test_keys_are_per_user(admin):
    password = await make_user(admin, "idem-other", "administrator")
    other = await admin.login("idem-other", password)
    key = _key()
    status, _ = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "idem-mine", "type": "server"}, headers=key
    )
    assert status == 201
    status, theirs = await other.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "idem-theirs", "type": "server"}, headers=key
    )
    assert status == 201, theirs
    assert theirs["name"] == "idem-theirs"


async def test_an_answer_holding_a_secret_is_not_kept(admin):
    """A new API key is shown once: a retry is told it succeeded, never given the key."""
    key = _key()
    status, first = await admin.call("POST", "/me/api-keys", {"name": "idem-key"}, headers=key)
    assert status == 201 and first["key"]
    status, again = await admin.call("POST", "/me/api-keys", {"name": "idem-key"}, headers=key)
    assert status == 409 and again["code"] == "idempotent_answer_withheld"
    assert first["key"] not in str(again)
    status, keys = await admin.call("GET", "/me/api-keys")
    assert status == 200
    assert len([k for k in keys["items"] if k["name"] == "idem-key"]) == 1


async def test_reveal_ignores_the_key_and_a_bad_key_is_refused(admin):
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "idem-vault", "type": "server"}
    )
    assert status == 201
    status, acc = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": "Idem-S3cret-pass!"},
    )
    assert status == 201, acc
    key = _key()
    for _ in range(2):
        status, shown = await admin.call(
            "POST", f"/orgs/MSPOrg/accounts/{acc['id']}/reveal", {}, headers=key
        )
        assert status == 200 and shown["password"] == "Idem-S3cret-pass!"
        assert admin.last_headers.get("Idempotent-Replayed") is None
    status, refused = await admin.call(
        "POST",
        "/orgs/MSPOrg/resources",
        {"name": "idem-bad", "type": "server"},
        headers={"Idempotency-Key": "x" * 201},
    )
    assert status == 422 and refused["code"] == "invalid_idempotency_key"


async def test_recovery_codes_are_not_kept_with_the_key(api, admin):
    """Attack pass (session 10): recovery codes were kept in clear with the key, because
    their field's name has no secret word, and a replay gave them again. Replaying the
    confirmation or the regeneration is now told it succeeded, never given the codes."""
    password = await make_user(admin, "idem-codes", "password_user")
    user = await api.login("idem-codes", password)
    status, body = await user.call("POST", "/me/totp", {"current_password": password})
    assert status == 200, body
    secret, step = body["secret"], int(time.time() // 30)
    key = _key()
    confirm = {"otp": totp.code_at(secret, step * 30)}
    status, first = await user.call("POST", "/me/totp/confirm", confirm, headers=key)
    assert status == 200 and len(first["recovery_codes"]) == 10, first
    status, again = await user.call("POST", "/me/totp/confirm", confirm, headers=key)
    assert status == 409 and again["code"] == "idempotent_answer_withheld", again
    assert all(code not in str(again) for code in first["recovery_codes"])

    key = _key()
    regenerate = {"current_password": password, "otp": totp.code_at(secret, (step + 1) * 30)}
    status, fresh = await user.call("POST", "/me/totp/recovery-codes", regenerate, headers=key)
    assert status == 200 and len(fresh["recovery_codes"]) == 10, fresh
    status, again = await user.call("POST", "/me/totp/recovery-codes", regenerate, headers=key)
    assert status == 409 and again["code"] == "idempotent_answer_withheld", again
    assert all(code not in str(again) for code in fresh["recovery_codes"])
