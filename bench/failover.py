"""Failover time per fault kind, and the write stall of a partition, on a real pair.

One pair (witness, primary, secondary on loopback, every link through a proxy the
benchmark controls) with writers running against both nodes throughout. Each fault
hits whichever node is primary at the time; once measured, the fault is undone and
the old primary rejoins, so the next fault finds a synchronous pair again:

- RTO (recovery time objective): from the fault to the first write the new primary
  acknowledges, for kill -9 of the server and PostgreSQL, SIGSTOP of both, SIGSTOP of
  PostgreSQL alone, SIGSTOP of the server alone, and isolation (cut from the peer and
  the witness). Median and worst of ``--runs`` per kind, against the 8 s target and
  against the failover timeout (the detection floor no design can beat);
- partition write stall: the link between the nodes is cut (the witness still
  reachable); from the cut to the first write started after it that the primary
  acknowledges (it must first drop to asynchronous replication; target 3 s);
- rejoin: the killed primary restarted, to serving as the secondary with the pair
  synchronous again (target 60 s);
- with ``--saturate S``: both cores kept busy for S seconds while the pair runs: any
  promotion then is a false failover;
- without a witness (``--witnessless-runs``, issue 33): the secondary is stopped while
  writers run; the longest write stall (from a write's start, or the stop, to its
  acknowledgement) against replication.async_after + 2 s, then the standby is restarted.

Usage: python -m bench.failover [--runs N] [--kinds kill,stop-all,...] [--saturate 60]
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable

from server.core.config import NodeConfig, ReplicationConfig
from tests.replication.harness import Node, Pair, Writers, make_pair

RTO_TARGET = 8.0
STALL_TARGET = 3.0
REJOIN_TARGET = 60.0
WAIT = 120.0  # seconds any one phase may take before the benchmark gives up


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _until(check: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"gave up: not {what} within {seconds:.0f} s")


def _first_ack_after(writers: Writers, node: Node, since: float) -> float:
    """Seconds from ``since`` to the first write started after it that ``node`` acknowledged."""
    found: list[float] = []

    def acked() -> bool:
        found[:] = [a.ended for a in writers.on(node) if a.started > since]
        return bool(found)

    _until(acked, f"a write acknowledged by {node.name}")
    return min(found) - since


def _synchronous_pair(pair: Pair, primary: Node, secondary: Node) -> None:
    _until(lambda: primary.health().get("read_only") is False, "a writable primary")
    _until(lambda: secondary.health().get("role") == "secondary", "a secondary")
    _until(lambda: primary.health().get("degraded") is False, "a synchronous pair")


# -- faults: each hits the primary, answers how to undo it --------------------------


def kill_all(pair: Pair, p: Node) -> Callable[[], None]:
    p.signal_all(signal.SIGKILL)
    return p.start


def stop_all(pair: Pair, p: Node) -> Callable[[], None]:
    p.signal_all(signal.SIGSTOP)
    return lambda: p.signal_all(signal.SIGCONT)


def stop_postgres(pair: Pair, p: Node) -> Callable[[], None]:
    pids = p.postgres_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)

    def undo() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    return undo


def stop_server(pair: Pair, p: Node) -> Callable[[], None]:
    assert p.proc is not None
    pid = p.proc.pid
    os.kill(pid, signal.SIGSTOP)
    return lambda: os.kill(pid, signal.SIGCONT)


def isolate(pair: Pair, p: Node) -> Callable[[], None]:
    pair.isolate(p)
    return pair.heal


FAULTS: dict[str, tuple[str, Callable[[Pair, Node], Callable[[], None]]]] = {
    "kill": ("kill -9 of server and PostgreSQL", kill_all),
    "stop-all": ("SIGSTOP of server and PostgreSQL", stop_all),
    "stop-pg": ("SIGSTOP of PostgreSQL alone", stop_postgres),
    "stop-server": ("SIGSTOP of the server alone", stop_server),
    "isolate": ("isolation from peer and witness", isolate),
}


def measure_fault(pair: Pair, writers: Writers, kind: str, rejoins: list[float]) -> float:
    """One fault on the current primary: its RTO; the pair is synchronous again after."""
    p, s = pair.primary, pair.secondary
    label, fault = FAULTS[kind]
    time.sleep(1.0)  # writes flowing
    hit = time.monotonic()
    undo = fault(pair, p)
    rto = _first_ack_after(writers, s, hit)
    progress(f"{label}: first write on {s.name} after {rto:.2f} s")
    restarted = time.monotonic()
    undo()
    _until(lambda: p.health().get("role") == "secondary", f"{p.name} rejoined")
    _until(lambda: s.health().get("degraded") is False, "the pair synchronous again")
    if kind == "kill":
        rejoins.append(time.monotonic() - restarted)
        progress(f"rejoin after restart: {rejoins[-1]:.2f} s")
    pair.primary, pair.secondary = s, p  # roles swapped for the next fault
    return rto


def measure_stall(pair: Pair, writers: Writers) -> float:
    """Cut the nodes apart (witness reachable): seconds until writes are acknowledged again."""
    p, s = pair.primary, pair.secondary
    time.sleep(1.0)
    cut = time.monotonic()
    pair.link.cut()
    stall = _first_ack_after(writers, p, cut)
    progress(f"partition: first write on {p.name} after {stall:.2f} s")
    pair.link.heal()
    _synchronous_pair(pair, p, s)
    return stall


def check_one_writer_at_a_time(writers: Writers) -> int:
    """Across several failovers, one node acknowledged writes at a time: in the acks
    ordered by time, each node's run of writes started before the next node's first
    acknowledgement. Answers the number of runs (failovers seen + 1)."""
    acks = sorted(writers.acks, key=lambda a: a.ended)
    runs: list[list] = []
    for ack in acks:
        if runs and runs[-1][0].node == ack.node:
            runs[-1].append(ack)
        else:
            runs.append([ack])
    for before, after in itertools.pairwise(runs):
        last_started = max(a.started for a in before)
        first_ended = min(a.ended for a in after)
        if last_started >= first_ended:
            raise SystemExit(
                f"two writers: {before[0].node} acknowledged a write started at "
                f"{last_started:.2f} after {after[0].node} acknowledged one at {first_ended:.2f}"
            )
    return len(runs)


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def measure_saturation(pair: Pair, seconds: float) -> bool:
    """Both cores busy for ``seconds``: True when nobody was promoted (no false failover)."""
    p, s = pair.primary, pair.secondary
    term = p.health().get("term")
    burners = [
        multiprocessing.Process(target=_burn, args=(seconds,))
        for _ in range(2 * (os.cpu_count() or 2))
    ]
    for b in burners:
        b.start()
    promoted = False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        health = s.health(timeout=3.0)
        promoted = promoted or health.get("role") == "primary"
        time.sleep(0.5)
    for b in burners:
        b.join()
    _until(lambda: bool(p.health()), f"{p.name} answering again")
    promoted = promoted or p.health().get("term") != term
    progress(f"saturation {seconds:.0f} s: {'FALSE FAILOVER' if promoted else 'no failover'}")
    return not promoted


def measure_witnessless(runs: int) -> list[float]:
    """A pair without a witness whose secondary is stopped, ``runs`` times: per run the
    longest write stall in seconds (the primary must stop waiting after async_after)."""
    stalls: list[float] = []
    pair = make_pair(witness=False, auto_rejoin=False)
    writers = Writers(pair).start(per_node=2)
    try:
        p, s = pair.primary, pair.secondary
        for run in range(runs):
            time.sleep(2.0)
            stopped = time.monotonic()
            s.stop()
            p.wait(lambda h: h.get("sync") == "async", WAIT, "asynchronous")
            time.sleep(3.0)
            ends = sorted(a.ended for a in writers.on(p) if a.ended > stopped)
            waits = [a.ended - max(a.started, stopped) for a in writers.on(p) if a.ended > stopped]
            # A write past the writers' 5 s timeout is not acknowledged: the gaps count too.
            gaps = [b - a for a, b in itertools.pairwise([stopped, *ends])]
            stall = max([*waits, *gaps], default=math.inf)
            stalls.append(stall)
            progress(f"witness-less run {run + 1}: longest write stall {stall:.2f} s")
            s.start()
            p.wait(lambda h: h.get("sync") == "sync" and not h["degraded"], WAIT, "sync again")
    finally:
        writers.stop()
        pair.close()
    return stalls


def _line(name: str, values: list[float], target: float, floor: float | None = None) -> str:
    worst = max(values)
    text = (
        f"  {name:<36} median {statistics.median(values):5.2f} s, worst {worst:5.2f} s, "
        f"ratio to target {worst / target:.2f} ({'met' if worst <= target else 'NOT met'})"
    )
    if floor:
        text += f", ratio to floor {worst / floor:.2f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(FAULTS), help="comma-separated fault kinds")
    parser.add_argument("--stall-runs", type=int, default=3)
    parser.add_argument("--saturate", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--witnessless-runs", type=int, default=1)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    if args.runs or args.stall_runs or args.saturate:
        _with_witness(args, kinds)
    if args.witnessless_runs:
        progress("building a pair without a witness")
        stalls = measure_witnessless(args.witnessless_runs)
        print("no witness, secondary stopped: longest write stall")
        print(_line("write stall", stalls, ReplicationConfig().async_after + 2.0))


def _with_witness(args: argparse.Namespace, kinds: list[str]) -> None:
    """The measurements on a pair with a witness (failover, partition, saturation),
    printed."""
    progress("building a pair")
    pair = make_pair()
    writers = Writers(pair).start()
    rtos: dict[str, list[float]] = {k: [] for k in kinds}
    rejoins: list[float] = []
    stalls: list[float] = []
    calm = True
    try:
        for run in range(args.runs):
            for kind in kinds:
                progress(f"run {run + 1}: {FAULTS[kind][0]} of {pair.primary.name}")
                rtos[kind].append(measure_fault(pair, writers, kind, rejoins))
        for run in range(args.stall_runs):
            progress(f"partition run {run + 1}")
            stalls.append(measure_stall(pair, writers))
        if args.saturate:
            calm = measure_saturation(pair, args.saturate)
        writers.stop()
        check_one_writer_at_a_time(writers)
        missing = writers.missing_on(pair.primary)
    finally:
        writers.stop()
        pair.close()
    floor = NodeConfig().failover_timeout
    if args.runs:
        print(f"failover: fault -> first acknowledged write on the new primary ({args.runs} runs)")
        for kind in kinds:
            print(_line(FAULTS[kind][0], rtos[kind], RTO_TARGET, floor))
    if stalls:
        print("partition between the nodes: cut -> first write acknowledged again")
        print(_line("write stall", stalls, STALL_TARGET))
    if rejoins:
        print("rejoin: killed primary restarted -> secondary, pair synchronous")
        print(_line("rejoin", rejoins, REJOIN_TARGET))
    if args.saturate:
        print(
            f"saturation of every core for {args.saturate:.0f} s: "
            f"{'no false failover' if calm else 'FALSE FAILOVER'}"
        )
    print(f"acknowledged writes: {len(writers.acks)}, lost: {len(missing)}; two writers: none")


if __name__ == "__main__":
    main()
