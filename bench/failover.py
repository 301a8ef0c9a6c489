"""Failover and rejoin times of a real pair (witness, primary, secondary on loopback).

Each run builds a synchronous pair, keeps a writer going, kills the primary (server and
PostgreSQL, kill -9) and measures:

- failover: from the kill to the first write the new primary acknowledges
  (target <= 10 s); printed against the configured failover timeout measured in the
  same run's settings (the detection floor no design can beat) and against the target;
- rejoin: from the old primary's restart to it serving as the new secondary with the
  pair synchronous again (target <= 60 s).

Usage: python -m bench.failover [--runs N]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time

from server.config import NodeConfig
from tests.replication.harness import call, make_pair

FAILOVER_TARGET = 10.0
REJOIN_TARGET = 60.0


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def one_run(index: int) -> tuple[float, float]:
    progress(f"run {index}: building a pair")
    pair = make_pair()
    try:
        p, s = pair.primary, pair.secondary
        body = {"type": "server"}
        url = f"{s.url}/api/v1/orgs/MSPOrg/resources"
        progress(f"run {index}: killing the primary (kill -9, server and PostgreSQL)")
        killed = time.monotonic()
        p.signal_all(signal.SIGKILL)
        n = 0
        while True:
            n += 1
            status, _ = call(url, "POST", {**body, "name": f"after-{n}"}, pair.api_key, 2.0)
            if status == 201:
                failover = time.monotonic() - killed
                break
            if time.monotonic() - killed > 120:
                raise SystemExit("no failover within 120 s")
            time.sleep(0.05)
        progress(f"run {index}: first write on the new primary after {failover:.2f} s")
        restarted = time.monotonic()
        p.start()
        p.wait(lambda h: h["role"] == "secondary", 180, "rejoined")
        s.wait(lambda h: not h["degraded"], 180, "synchronous again")
        rejoin = time.monotonic() - restarted
        progress(f"run {index}: old primary rejoined, pair synchronous after {rejoin:.2f} s")
        return failover, rejoin
    finally:
        pair.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(i + 1) for i in range(args.runs)]
    failovers = [f for f, _ in results]
    rejoins = [r for _, r in results]
    floor = NodeConfig().failover_timeout
    worst_f, worst_r = max(failovers), max(rejoins)
    print(f"failover (kill -9 -> first acknowledged write), {args.runs} runs:")
    print(f"  median {statistics.median(failovers):.2f} s, worst {worst_f:.2f} s")
    print(f"  ratio to the detection floor (failover_timeout {floor:.1f} s): {worst_f / floor:.2f}")
    print(
        f"  ratio to the target ({FAILOVER_TARGET:.0f} s): {worst_f / FAILOVER_TARGET:.2f} "
        f"({'met' if worst_f <= FAILOVER_TARGET else 'NOT met'})"
    )
    print("rejoin (old primary restarted -> secondary, pair synchronous):")
    print(f"  median {statistics.median(rejoins):.2f} s, worst {worst_r:.2f} s")
    print(
        f"  ratio to the target ({REJOIN_TARGET:.0f} s): {worst_r / REJOIN_TARGET:.2f} "
        f"({'met' if worst_r <= REJOIN_TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
