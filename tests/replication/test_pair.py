"""A synchronous pair in normal operation: replication, the read-only secondary, its audit
spool, the cluster view, and enrollment's refusals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import time
import uuid

import pytest

from server.core.config import load_config
from server.services import brokered
from server.services.access import msp_org_id
from server.services.connectors.base import Target
from server.services.context import Actor
from server.services.runtime import open_env
from server.store import db
from tests.replication.harness import (
    NEW_PASSWORD,
    call,
    eventually,
    make_account,
    make_pair,
    run_cli,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def pair():
    pair = make_pair()
    yield pair
    pair.close()


def test_write_on_primary_is_on_secondary_when_acknowledged(pair):
    """Synchronous replication: an acknowledged write is readable on the secondary at once."""
    p, s = pair.primary, pair.secondary
    status, body = call(
        f"{p.url}/api/v1/orgs/MSPOrg/resources",
        "POST",
        {"name": "replicated-1", "type": "server"},
        token=pair.api_key,
    )
    assert status == 201, body
    # remote_apply is not required: allow the standby a moment to replay.
    eventually(
        lambda: any(
            r["name"] == "replicated-1"
            for r in call(f"{s.url}/api/v1/orgs/MSPOrg/resources", token=pair.api_key)[1]["items"]
        ),
        5,
        "replayed on the secondary",
    )
    health = p.health()
    assert health["role"] == "primary" and health["read_only"] is False
    assert health["degraded"] is False and health["term"] >= 1


def test_secondary_refuses_writes_with_the_primary_address(pair):
    s = pair.secondary
    status, body = call(
        f"{s.url}/api/v1/orgs/MSPOrg/resources",
        "POST",
        {"name": "never", "type": "server"},
        token=pair.api_key,
    )
    assert status == 503
    assert body["code"] == "read_only"
    assert body["primary"].startswith("https://127.0.0.1:")
    health = s.health()
    assert health["role"] == "secondary" and health["read_only"] is True


def test_login_and_reveal_on_secondary_are_audited_on_the_primary(pair):
    """Login, listing and reveal work on the secondary; their events reach the primary once."""
    p, s = pair.primary, pair.secondary
    account = make_account(p.url, pair.api_key, "reveal-target", "S3cret-value-long!")
    time.sleep(0.5)
    status, login = call(
        f"{s.url}/api/v1/auth/login", "POST", {"username": "admin", "password": NEW_PASSWORD}
    )
    assert status == 200, login
    token = login["token"]
    status, shown = call(
        f"{s.url}/api/v1/orgs/MSPOrg/accounts/{account}/reveal", "POST", {}, token=token
    )
    assert status == 200, shown
    assert shown["password"] == "S3cret-value-long!"

    def reveals_on_primary():
        _, trail = call(
            f"{p.url}/api/v1/orgs/MSPOrg/audit?operation=password_revealed", token=pair.api_key
        )
        return [e for e in trail.get("items", []) if e["node"] == "node2"]

    events = eventually(reveals_on_primary, 15, "shipped to the primary")
    assert len(events) == 1
    # The same reveal on the primary: the database builds the very event the secondary
    # spooled (one builder, sql/functions/password_revealed_event.sql), checked_out detail included.
    status, _shown = call(
        f"{p.url}/api/v1/orgs/MSPOrg/accounts/{account}/reveal", "POST", {}, token=pair.api_key
    )
    assert status == 200
    _, trail = call(
        f"{p.url}/api/v1/orgs/MSPOrg/audit?operation=password_revealed", token=pair.api_key
    )
    here = next(
        e for e in trail["items"] if e["node"] != "node2" and e["details"]["account_id"] == account
    )

    def shape(event: dict) -> tuple:
        return (event["operation"], event["target_type"], event["target"], event["details"])

    assert shape(events[0]) == shape(here)
    assert set(here["details"]) == {"account_id", "permission", "checked_out"}
    assert not (s.home / "spool" / "audit.jsonl").read_text().strip()
    logins = call(f"{p.url}/api/v1/orgs/MSPOrg/audit?operation=login", token=pair.api_key)[1]
    assert any(e["node"] == "node2" for e in logins["items"])
    # The spooled password never reached the spool file or the primary's trail.
    assert "S3cret-value-long!" not in str(events)
    status, verify = call(f"{p.url}/api/v1/orgs/MSPOrg/audit/verify", token=pair.api_key)
    assert status == 200 and verify["ok"] is True, verify
    assert verify["anchored_seq"] == verify["events"]


def test_secondary_keeps_a_copy_of_the_audit_anchors(pair):
    """The primary copies its audit anchors (chain heads) to the secondary's anchor log, so
    a cut trail still shows after a failover (issue 13, item 2)."""
    p, s = pair.primary, pair.secondary
    status, verify = call(f"{p.url}/api/v1/orgs/MSPOrg/audit/verify", token=pair.api_key)
    assert status == 200 and verify["anchored_seq"]
    copy = s.home / "audit" / "anchors.jsonl"

    def copied_seqs():
        if not copy.exists():
            return None
        return [json.loads(line)["seq"] for line in copy.read_text().splitlines()]

    seqs = eventually(
        lambda: (got := copied_seqs()) and max(got) >= verify["anchored_seq"] and got,
        10,
        "copied to the secondary",
    )
    assert max(seqs) >= verify["anchored_seq"]


def test_cluster_view_and_status_show_both_nodes(pair):
    p = pair.primary
    status, view = call(f"{p.url}/api/v1/cluster", token=pair.api_key)
    assert status == 200, view
    roles = {n["name"]: n["role"] for n in view["nodes"]}
    assert roles == {"node1": "primary", "node2": "secondary"}
    assert view["replication"] == "sync"
    assert view["witness"]["reachable"] is True and view["witness"]["holder"] == "node1"
    assert view["standbys"][0]["application_name"] == "node2"
    assert view["promotion"] is None  # a primary has nothing to promote
    status, seen = call(f"{pair.secondary.url}/api/v1/cluster", token=pair.api_key)
    assert status == 200, seen
    this, primary = seen["nodes"]
    assert this["receiving"]["status"] == "streaming" and seen["standbys"] == []
    assert primary["state"] == "reachable" and primary["unreachable_since"] is None
    assert seen["promotion"]["automatic"] is True
    assert seen["promotion"]["witness_would_grant"] is False  # node1's lease is live
    assert "node1 holds a live lease" in seen["promotion"]["reason"]
    out = run_cli("status", "--config", str(p.config)).stdout
    assert "peer:       node2" in out and "secondary" in out
    # Both nodes present the same SSH gateway host key (issue 30), as the same TLS identity.
    keys = [n.home / "conf" / "gateway_host_key" for n in (p, pair.secondary)]
    assert keys[0].read_bytes() == keys[1].read_bytes()
    assert stat.S_IMODE(keys[1].stat().st_mode) == 0o600
    # The secondary was made with --listen 127.0.0.1: its HTTPS server and its SSH gateway
    # listen there only (an operator found both on every address, session 8).
    s_text = pair.secondary.config.read_text()
    assert s_text.count('host = "127.0.0.1"') >= 2 and "0.0.0.0" not in s_text, s_text  # noqa: S104
    assert "lease held by node1" in out
    assert "replication: node2 streaming (sync)" in out


def test_enrollment_token_is_single_use(pair):
    """A token works once: a second use, or a made-up secret, is refused with a clear code."""
    token = run_cli("cluster", "enroll-token", "--config", str(pair.primary.config)).stdout.strip()
    _, _, secret = token.split(".")
    url = f"{pair.primary.url}/api/v1/cluster/enroll"
    body = {"secret": secret, "name": "node1", "url": "https://x:1", "db_host": "x", "db_port": 1}
    first = call(url, "POST", body)
    assert first[0] == 403 and first[1]["code"] == "name_taken"  # spent, though refused
    again = call(url, "POST", {**body, "name": "node3"})
    assert again[0] == 403 and again[1]["code"] == "invalid_enrollment_token"
    made_up = call(url, "POST", {**body, "name": "node3", "secret": "x" * 40})
    assert made_up[0] == 403 and made_up[1]["code"] == "invalid_enrollment_token"
    assert pair.secondary.health()["role"] == "secondary"


def test_logout_on_secondary_ends_the_session_there(pair):
    """A replicated session and a session made on the secondary both end at logout."""
    p, s = pair.primary, pair.secondary
    creds = {"username": "admin", "password": NEW_PASSWORD}
    for where in (p, s):
        status, login = call(f"{where.url}/api/v1/auth/login", "POST", creds)
        assert status == 200, login
        token = login["token"]
        eventually(lambda t=token: call(f"{s.url}/api/v1/me", token=t)[0] == 200, 5, "valid")
        status, _ = call(f"{s.url}/api/v1/auth/logout", "POST", {}, token=token)
        assert status == 204
        assert call(f"{s.url}/api/v1/me", token=token)[0] == 401


async def _a_recording(config_path, account: str) -> str:
    """A brokered session's recording stored on the primary as the gateway stores one
    (brokered.close_session: sealed, session_ended audited); its id."""
    async with open_env(load_config(config_path)) as env:
        async with db.transaction(env.pool, readonly=True) as tx:
            org_id = await msp_org_id(tx)
        async with db.transaction(env.pool, org_id, readonly=True) as tx:
            user_id = await tx.fetchval("SELECT id FROM users WHERE username = 'admin'")
        actor = Actor(user_id, "admin", org_id, "MSPOrg", True, "administrator", "all", "::1")
        session = brokered.Brokered(
            id=uuid.uuid4(),
            org_id=org_id,
            org="MSPOrg",
            account_id=uuid.UUID(account),
            resource_id=uuid.uuid4(),
            target_name="recorded-target/root",
            username="root",
            target=Target("127.0.0.1", 22, "SHA256:unused"),
            password="",
        )
        cast = b'{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "replayed-on-node2\\r\\n"]\n'
        ended = brokered.Ended("target_closed", 20, 3, cast)
        return str(await brokered.close_session(env, actor, session, ended))


def test_recordings_are_listed_and_read_on_the_secondary(pair):
    """Issue 30 item 5 on a pair: an auditor lists and replays (exports) a session
    recording on the secondary (reading is allowed there); the read is spooled there and
    its session_recording_read event reaches the primary's trail once, from node2."""
    p, s = pair.primary, pair.secondary
    account = make_account(p.url, pair.api_key, "recorded-target", "Rec0rded-secret-long!")
    rec = asyncio.run(_a_recording(p.config, account))

    def listed():
        status, page = call(f"{s.url}/api/v1/orgs/MSPOrg/session-recordings", token=pair.api_key)
        assert status == 200, page
        return [i for i in page["items"] if i["id"] == rec]

    item = eventually(listed, 10, "the recording replayed on the secondary")[0]
    status, got = call(f"{s.url}/api/v1/orgs/MSPOrg/session-recordings/{rec}", token=pair.api_key)
    assert status == 200, got
    assert "replayed-on-node2" in got["cast"] and got["sha256"] == item["sha256"]
    assert hashlib.sha256(got["cast"].encode()).hexdigest() == item["sha256"]

    def reads_on_primary():
        _, trail = call(
            f"{p.url}/api/v1/orgs/MSPOrg/audit?operation=session_recording_read",
            token=pair.api_key,
        )
        return [e for e in trail.get("items", []) if e["details"]["recording_id"] == rec]

    reads = eventually(reads_on_primary, 15, "the read shipped to the primary")
    assert [e["node"] for e in reads] == ["node2"]
    assert "Rec0rded-secret-long!" not in json.dumps(reads)
