"""The rejoin's directory handling without a cluster: an interrupted swap is finished,
kept former data directories go only when asked."""

from __future__ import annotations

from pathlib import Path

from replication.cluster import Cluster
from replication.rejoin import SIDE, finish_interrupted_swap, has_replaced, remove_replaced


def _cluster(root: Path) -> Cluster:
    return Cluster(root / "pgsql" / "data", 1)


def test_an_interrupted_swap_is_finished(tmp_path: Path):
    """Data renamed away, complete side directory not yet renamed in: finish the swap."""
    cluster = _cluster(tmp_path)
    side = cluster.data_dir.parent / SIDE
    side.mkdir(parents=True)
    (side / "standby.signal").write_text("")
    (cluster.data_dir.parent / "data.replaced-3").mkdir()
    assert finish_interrupted_swap(cluster)
    assert (cluster.data_dir / "standby.signal").exists() and not side.exists()
    assert has_replaced(cluster)
    assert remove_replaced(cluster) and not has_replaced(cluster)


def test_an_incomplete_side_directory_is_never_swapped_in(tmp_path: Path):
    """Without standby.signal the side directory is unfinished: nothing moves."""
    cluster = _cluster(tmp_path)
    (cluster.data_dir.parent / SIDE).mkdir(parents=True)
    assert not finish_interrupted_swap(cluster)
    cluster.data_dir.mkdir()
    (cluster.data_dir.parent / SIDE / "standby.signal").write_text("")
    assert not finish_interrupted_swap(cluster)  # the data directory is there: leave it
