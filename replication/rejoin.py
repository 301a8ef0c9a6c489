"""Make a former primary (or a lost standby) the standby of its peer, never losing data.

The rule: a data directory is never removed or changed in place until its
replacement is complete. The replacement is built beside it in ``data.rejoin``:

1. the peer's PostgreSQL must answer first; if it does not, nothing is touched and
   the caller waits and tries again (``PeerUnreachable``), since the local copy may
   be the last other copy of the data;
2. pg_rewind works on a copy of the data directory; if rewind cannot (the WAL back to
   the fork is gone), a fresh base backup is taken into the side directory instead;
   a failure to connect is never a reason to re-clone;
3. only a complete side directory is swapped in: the old one is kept as
   ``data.replaced-<term>`` until the new standby streams (``remove_replaced``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from replication.cluster import REPLICATION_ROLE, Cluster, ClusterError, Source
from replication.roles import slot_name
from server.core import hostos
from server.node.mode import HaState

log = logging.getLogger("strongroom.rejoin")

SIDE = "data.rejoin"  # where the replacement is built (an unfinished one is discarded)
REPLACED = "data.replaced-"  # prefix of kept former data directories
READY_TIMEOUT = 3  # seconds pg_isready waits for the peer


class PeerUnreachable(ClusterError):
    """The peer's PostgreSQL does not answer: wait and retry (nothing was changed)."""


def peer_source(state: HaState) -> Source:
    """The peer's PostgreSQL, reached as the replication role."""
    return Source(
        state.peer.db_host, state.peer.db_port, REPLICATION_ROLE, state.replication_password
    )


def check_peer(cluster: Cluster, source: Source) -> None:
    """Raise ``PeerUnreachable`` unless the peer's PostgreSQL accepts connections."""
    result = cluster.run_tool(
        "pg_isready",
        "-h",
        source.host,
        "-p",
        str(source.port),
        "-t",
        str(READY_TIMEOUT),
        check=False,
        timeout=READY_TIMEOUT + 10,
    )
    if result.returncode != 0:
        raise PeerUnreachable(
            f"the peer's PostgreSQL at {source.host}:{source.port} does not answer "
            f"({(result.stdout or result.stderr).strip() or 'no answer'})"
        )


def rejoin_cluster(
    cluster: Cluster, source: Source, node_name: str, term: int, fresh: bool = False
) -> str:
    """Make ``cluster`` a standby of ``source`` (see the module docstring).

    Args:
        cluster: this node's cluster (running or not; it is stopped once the peer answers).
        source: the peer's PostgreSQL as the replication role.
        node_name: this node's name (its slot on the peer and its application_name).
        term: the new term, which names the kept former data directory.
        fresh: skip pg_rewind and take a base backup (a standby that fell past the WAL its
            primary kept: issue 33, item 3).

    Returns:
        "pg_rewind" or "base backup": how the replacement was made.

    Raises:
        PeerUnreachable: the peer does not answer; nothing was changed.
        ClusterError: rewind and base backup both failed; the data directory is intact.
    """
    if finish_interrupted_swap(cluster):
        cluster.start()
        return "an interrupted rejoin, finished"
    check_peer(cluster, source)
    try:
        cluster.stop(mode="fast")
    except ClusterError:
        cluster.stop(mode="immediate")  # pg_rewind finishes crash recovery itself
    side = _side_cluster(cluster)
    _discard(side.data_dir)
    how = "pg_rewind"
    try:
        if fresh:
            raise ClusterError("a fresh base backup was asked for")
        _copy_tree(cluster.data_dir, side.data_dir)
        side.rewind(source)
    except ClusterError as exc:
        _discard(side.data_dir)
        if _cannot_connect(str(exc)):
            raise PeerUnreachable(f"pg_rewind could not reach the peer: {exc}") from exc
        if not fresh:
            log.warning("pg_rewind failed (%s); taking a fresh base backup beside the data", exc)
        how = "base backup"
        try:
            side.base_backup(source, slot_name(node_name))
        except ClusterError as backup_exc:
            _discard(side.data_dir)
            if _cannot_connect(str(backup_exc)):
                raise PeerUnreachable(str(backup_exc)) from backup_exc
            raise
    side.make_standby(source, slot_name(node_name), node_name)
    kept = _swap(cluster.data_dir, side.data_dir, term)
    log.warning("rejoin (%s) complete; the former data directory is kept as %s", how, kept)
    cluster.start()
    return how


def finish_interrupted_swap(cluster: Cluster) -> bool:
    """Complete a swap that a crash cut between its two renames; True when it did.

    The data directory is missing only in that window, and the side directory is then
    complete (``standby.signal`` is the last thing written into it).
    """
    side = cluster.data_dir.parent / SIDE
    if cluster.data_dir.exists() or not (side / "standby.signal").exists():
        return False
    side.rename(cluster.data_dir)
    _fsync_dir(cluster.data_dir.parent)
    log.warning("finished an interrupted rejoin: %s is the new standby's data", cluster.data_dir)
    return True


def remove_replaced(cluster: Cluster) -> list[Path]:
    """Delete kept former data directories (call once the new standby streams)."""
    removed = []
    for old in sorted(cluster.data_dir.parent.glob(REPLACED + "*")):
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


def has_replaced(cluster: Cluster) -> bool:
    """True when a former data directory is still kept."""
    return any(cluster.data_dir.parent.glob(REPLACED + "*"))


def _side_cluster(cluster: Cluster) -> Cluster:
    return Cluster(
        cluster.data_dir.parent / SIDE, cluster.port, bindir=cluster.bindir, listen=cluster.listen
    )


def _cannot_connect(message: str) -> bool:
    lowered = message.lower()
    return any(
        sign in lowered for sign in ("could not connect", "connection to server", "timeout expired")
    )


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a stopped data directory with owners and modes (copy-on-write where possible)."""
    result = subprocess.run(
        ["cp", "-a", "--reflink=auto", str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise ClusterError(f"cannot copy {source} for pg_rewind: {result.stderr.strip()}")


def _swap(data_dir: Path, side: Path, term: int) -> Path:
    kept = data_dir.parent / f"{REPLACED}{term}"
    n = 1
    while kept.exists():
        n += 1
        kept = data_dir.parent / f"{REPLACED}{term}.{n}"
    data_dir.rename(kept)
    side.rename(data_dir)
    _fsync_dir(data_dir.parent)
    return kept


def _fsync_dir(folder: Path) -> None:
    hostos.fsync_dir(folder)


def _discard(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
