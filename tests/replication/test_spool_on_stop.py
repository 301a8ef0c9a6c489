"""No reveal goes unaudited when a secondary stops (issue 33, item 5).

One witness-less pair, three steps:
- reveals answered by a secondary while it is stopped gracefully (its shipping to the
  primary held back, then released just as the stop starts) all reach the primary's
  audit trail before the node is gone, and its spool is left empty;
- a secondary that cannot ship (its link to the primary cut one way) keeps its reveals in
  its spool; a backup of it carries them; `remove-node` on the primary collects them;
- a restore of that backup records the spooled events in the restored node.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time

import asyncpg
import pytest

from server.core.config import load_config
from tests.conftest import free_port
from tests.replication.harness import (
    NEW_PASSWORD,
    STRONGROOM,
    Node,
    call,
    make_account,
    make_pair,
    run_cli,
)

pytestmark = pytest.mark.timeout(300)
PASSPHRASE = "correct horse battery staple"


def _revealed_reasons(node: Node) -> set[str]:
    """Reasons of the reveals by node2 in the node's own database (read directly)."""
    config = load_config(node.config)

    async def run() -> set[str]:
        conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
        try:
            rows = await conn.fetch(
                "SELECT reason FROM audit_events WHERE operation = 'password_revealed' "
                "AND node = 'node2'"
            )
        finally:
            await conn.close()
        return {r["reason"] for r in rows}

    return asyncio.run(run())


def _login(node: Node) -> str:
    status, body = call(
        f"{node.url}/api/v1/auth/login", "POST", {"username": "admin", "password": NEW_PASSWORD}
    )
    assert status == 200, body
    return str(body["token"])


class Revealers:
    """Threads revealing one password on a node until it stops answering; each reveal
    carries its own reason, and the reasons of those answered 200 are kept."""

    def __init__(self, node: Node, account: str, token: str, tag: str, threads: int = 3):
        self.node, self.account, self.token, self.tag = node, account, token, tag
        self.answered: list[str] = []
        self.other: list[int] = []
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _run(self, index: int) -> None:
        silent = 0
        n = 0
        while silent < 5:
            n += 1
            reason = f"{self.tag}-{index}-{n}"
            status, _ = call(
                f"{self.node.url}/api/v1/orgs/MSPOrg/accounts/{self.account}/reveal",
                "POST",
                {"reason": reason},
                token=self.token,
                timeout=5.0,
            )
            if status == 200:
                self.answered.append(reason)
                silent = 0
            else:
                silent += status == 0
                self.other.append(status)
                time.sleep(0.05)

    def join(self) -> None:
        for t in self.threads:
            t.join(60)


def test_reveals_on_a_stopping_secondary_reach_the_primary_and_its_spool_is_kept():
    pair = make_pair(witness=False, auto_rejoin=False)
    try:
        p, s = pair.primary, pair.secondary
        to_primary_app = pair.link.proxies[0]  # the secondary's requests to the primary app
        account = make_account(p.url, pair.api_key, "stop-target", "Stop-S3cret-value!")
        time.sleep(1)

        # 1. Reveals pile up in the spool (shipping held back), then the node stops while
        #    they keep coming: every answered one reaches the primary before it is gone.
        token = _login(s)
        to_primary_app.block(True, False)
        revealers = Revealers(s, account, token, "stop")
        time.sleep(3)
        assert s.health()["spool_pending"] is True
        to_primary_app.block(False, False)
        s.stop()
        revealers.join()
        assert len(revealers.answered) >= 5, (revealers.answered, revealers.other)
        assert not set(revealers.other) - {0, 503}, revealers.other
        missing = set(revealers.answered) - _revealed_reasons(p)
        assert not missing, f"reveals answered by the stopped secondary not audited: {missing}"
        assert not (s.home / "spool" / "audit.jsonl").read_text().strip()

        # 2. A secondary that cannot ship: a backup carries its spool, and remove-node on
        #    the primary collects it.
        s.start()
        s.wait(lambda h: h["role"] == "secondary", 60, "a running secondary again")
        to_primary_app.block(True, False)
        token = _login(s)
        for n in range(2):
            status, _ = call(
                f"{s.url}/api/v1/orgs/MSPOrg/accounts/{account}/reveal",
                "POST",
                {"reason": f"kept-{n}"},
                token=token,
            )
            assert status == 200
        assert s.health()["spool_pending"] is True
        backups = pair.root / "backups"
        made = subprocess.run(
            [STRONGROOM, "backup", "--config", str(s.config), "--to", str(backups)],
            env={**os.environ, "STRONGROOM_BACKUP_PASSPHRASE": PASSPHRASE},
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert made.returncode == 0, made.stderr + made.stdout
        [backup] = backups.glob("*.srbk")

        out = run_cli("cluster", "remove-node", "node2", "--config", str(p.config)).stdout
        assert "collected 3 audit event(s) from its spool" in out, out  # a login, 2 reveals
        assert {"kept-0", "kept-1"} <= _revealed_reasons(p)
        assert s.health()["spool_pending"] is False
        _, trail = call(
            f"{p.url}/api/v1/orgs/MSPOrg/audit?operation=cluster_node_removed", token=pair.api_key
        )
        assert trail["items"][0]["details"]["spool_collected"] == 3, trail
        s.stop()

        # 3. The restore of the backup records what the spool held then.
        restored = pair.root / "restored"
        made = subprocess.run(
            [
                STRONGROOM,
                "restore",
                str(backup),
                str(restored),
                "--port",
                str(free_port()),
                "--db-port",
                str(free_port()),
            ],
            env={**os.environ, "STRONGROOM_BACKUP_PASSPHRASE": PASSPHRASE},
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert made.returncode == 0, made.stderr + made.stdout
        assert "audit spool:   3 event(s) the node had not shipped, recorded" in made.stdout
        assert "audit MSPOrg: ok" in made.stdout, made.stdout
    except BaseException:
        print(pair.log_tails())
        raise
    finally:
        pair.close()
