"""Failures of a real pair, with writers running throughout.

In every scenario: who is primary within a bound, at most one node accepted writes at
any moment, and every acknowledged write is on the surviving primary.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.conftest import FAILED
from tests.replication.harness import STRONGROOM, Pair, Writers, make_pair

pytestmark = pytest.mark.timeout(300)

FAILOVER_BOUND = 20  # seconds; the design target is 10 (bench/failover.py measures it)
REJOIN_BOUND = 60


@pytest.fixture
def pair(request):
    pair = make_pair()
    yield pair
    if request.node.stash.get(FAILED, False):
        print(pair.log_tails())  # shown with the failure
    pair.close()


def _settle(writers: Writers, pair: Pair, survivor) -> None:
    writers.stop()
    writers.check_no_two_writers()
    assert writers.acks, f"no write was acknowledged at all ({writers.refused})"
    missing = writers.missing_on(survivor)
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"


def _writes_continue(writers: Writers, node, seconds: float = 3.0) -> None:
    before = len(writers.on(node))
    time.sleep(seconds)
    assert len(writers.on(node)) > before, f"{node.name} stopped acknowledging writes"


def test_primary_killed_secondary_takes_over_and_old_primary_rejoins(pair):
    """kill -9 of the primary's server and PostgreSQL: the secondary promotes; the old
    primary, started again, sees the higher term and rejoins as the secondary."""
    p, s = pair.primary, pair.secondary
    term = p.health()["term"]
    writers = Writers(pair).start()
    time.sleep(2)
    p.signal_all(signal.SIGKILL)
    s.wait(lambda h: h["role"] == "primary" and not h["read_only"], FAILOVER_BOUND, "promoted")
    assert s.health()["term"] > term
    _writes_continue(writers, s)
    p.start()  # the old primary comes back
    p.wait(lambda h: h["role"] == "secondary", REJOIN_BOUND, "rejoined as secondary")
    s.wait(lambda h: not h["degraded"], 30, "synchronous again")
    _settle(writers, pair, s)


def test_primary_frozen_is_fenced_and_replaced(pair):
    """SIGSTOP of the whole primary: the secondary promotes; the thawed old primary takes
    no write (fenced by its own clock) and rejoins."""
    p, s = pair.primary, pair.secondary
    writers = Writers(pair).start()
    time.sleep(2)
    p.signal_all(signal.SIGSTOP)
    s.wait(lambda h: h["role"] == "primary" and not h["read_only"], FAILOVER_BOUND, "promoted")
    p.signal_all(signal.SIGCONT)
    p.wait(lambda h: h["role"] == "secondary", REJOIN_BOUND, "rejoined as secondary")
    _writes_continue(writers, s)
    _settle(writers, pair, s)


def test_primary_postgres_killed(pair):
    """kill -9 of the primary's PostgreSQL only: its server stops renewing the lease, the
    secondary promotes, and the old node rejoins without restarting its server."""
    p, s = pair.primary, pair.secondary
    writers = Writers(pair).start()
    time.sleep(2)
    for pid in p.postgres_pids()[:1]:
        import os

        os.kill(pid, signal.SIGKILL)
    s.wait(lambda h: h["role"] == "primary" and not h["read_only"], FAILOVER_BOUND, "promoted")
    p.wait(lambda h: h["role"] == "secondary", REJOIN_BOUND, "rejoined as secondary")
    _writes_continue(writers, s)
    _settle(writers, pair, s)


def test_primary_server_killed_while_postgres_streams(pair):
    """kill -9 of the primary's server process: its PostgreSQL still streams, so the
    secondary must not promote; the restarted server resumes as primary at the same term."""
    p, s = pair.primary, pair.secondary
    term = p.health()["term"]
    writers = Writers(pair).start()
    time.sleep(2)
    p.kill_server()
    time.sleep(12)  # longer than the failover timeout
    assert s.health()["role"] == "secondary"
    p.start()
    p.wait(lambda h: not h["read_only"], 60, "writable again")
    assert p.health()["term"] == term
    _writes_continue(writers, p)
    _settle(writers, pair, p)


@pytest.mark.parametrize("direction", ["from_primary", "from_secondary"])
def test_cut_link_keeps_one_primary(pair, direction):
    """A link cut one way: the primary keeps its lease and goes on alone (asynchronous,
    degraded); the secondary is refused the lease. Healed, the pair is synchronous again."""
    p, s = pair.primary, pair.secondary
    writers = Writers(pair).start()
    time.sleep(2)
    pair.link.cut(
        from_primary=direction == "from_primary", from_secondary=direction != "from_primary"
    )
    p.wait(lambda h: h["degraded"] and not h["read_only"], FAILOVER_BOUND, "degraded, writable")
    time.sleep(10)  # past the secondary's failover timeout
    assert s.health()["role"] == "secondary"
    _writes_continue(writers, p)
    pair.link.heal()
    p.wait(lambda h: not h["degraded"], 60, "synchronous again")
    _settle(writers, pair, p)


def test_witness_down_primary_keeps_writing(pair):
    """Without the witness the primary cannot renew, but it sees its standby: it keeps
    writing, and nobody promotes."""
    p, s = pair.primary, pair.secondary
    writers = Writers(pair).start()
    time.sleep(1)
    pair.stop_witness()
    time.sleep(12)
    assert p.health()["read_only"] is False
    assert s.health()["role"] == "secondary"
    _writes_continue(writers, p)
    pair.start_witness()
    _settle(writers, pair, p)


def test_standby_down_primary_keeps_working_degraded(pair):
    """The standby dies: the primary (holding the lease) drops to asynchronous replication,
    says degraded, and keeps acknowledging writes."""
    p, s = pair.primary, pair.secondary
    writers = Writers(pair).start()
    time.sleep(1)
    s.signal_all(signal.SIGKILL)
    p.wait(lambda h: h["degraded"] and not h["read_only"], FAILOVER_BOUND, "degraded, writable")
    _writes_continue(writers, p)
    _settle(writers, pair, p)


def test_without_witness_failover_is_manual():
    """No witness: the secondary never promotes itself; `strongroom promote` does it, the
    old primary then refuses to start read-write until `strongroom rejoin`."""
    from tests.replication.harness import run_cli

    pair = make_pair(witness=False, auto_rejoin=False)
    try:
        p, s = pair.primary, pair.secondary
        refused = subprocess.run(
            [STRONGROOM, "promote", "--config", str(s.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1 and "two primaries" in refused.stderr
        p.signal_all(signal.SIGKILL)
        time.sleep(10)
        assert s.health()["role"] == "secondary"  # nobody to arbitrate: no automatic failover
        term = s.health()["term"]
        assert "promoted" in run_cli("promote", "--config", str(s.config)).stdout
        s.wait(lambda h: h["role"] == "primary" and not h["read_only"], 15, "promoted")
        assert s.health()["term"] == term + 1
        p.start()
        p.proc.wait(60)
        assert p.proc.returncode == 1
        assert "strongroom rejoin" in (p.home / "logs" / "test-serve.out").read_text()
        run_cli("rejoin", "--config", str(p.config))
        p.start()
        p.wait(lambda h: h["role"] == "secondary", REJOIN_BOUND, "rejoined as secondary")
        s.wait(lambda h: not h["degraded"], 30, "synchronous again")
    finally:
        pair.close()
