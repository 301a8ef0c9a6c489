"""Snapshots of the server view (Ctrl+K) on each side of a real pair at 80x24 (issue 21): on
the primary, and on the secondary while the primary is down.

The pair's nodes listen on fixed ports (not the shared snapshot port 27272, so no lock is
needed) so the addresses on screen are the same in every run; times, lag and replay
figures in the view are masked."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Static

import tests.replication.harness as harness
import tui.main_screen as main_screen
from tests.tui.conftest import _port_free, log_in, settle, until
from tests.tui.keys import main_ready, text_of
from tui.app import StrongroomApp
from tui.client import Client, Endpoint
from tui.screens.modals import TextModal

pytestmark = pytest.mark.timeout(300)

# Fixed (the server view shows them) and below Linux's ephemeral range (32768-60999), so
# no outgoing connection of another test can hold one of them when the pair starts.
NODE_PORTS = (27291, 27292, 27293, 27294)  # node1 app, node1 db, node2 app, node2 db
MASKS = (
    (re.compile(r"\d\d:\d\d:\d\d UTC"), "hh:mm:ss UTC"),
    (re.compile(r"\d+ bytes"), "N bytes"),
    (re.compile(r"[\d.]+ s ago"), "N s ago"),
    (re.compile(r"/ [\d.]+ s"), "/ N s"),
)


@pytest.fixture(scope="module")
def pair():
    """A pair without a witness whose nodes listen on ``NODE_PORTS``."""
    busy = [port for port in NODE_PORTS if not _port_free(port)]
    assert not busy, f"the snapshot pair's fixed ports {busy} are in use"
    harness._HANDED_OUT.update(NODE_PORTS)  # no proxy of this process gets one of them
    fixed = list(NODE_PORTS)
    original = harness.fresh_port
    harness.fresh_port = lambda: fixed.pop(0) if fixed else original()
    try:
        pair = harness.make_pair(witness=False)
    finally:
        harness.fresh_port = original
    yield pair
    pair.close()


@pytest.fixture
def masked(monkeypatch):
    """The server view's lines with what changes from run to run masked."""
    real = main_screen.server_lines

    async def lines(client):
        out = []
        for line in await real(client):
            for pattern, mask in MASKS:
                line = pattern.sub(mask, line)
            out.append(line)
        return out

    monkeypatch.setattr(main_screen, "server_lines", lines)


def app_for(pair, tmp_path) -> StrongroomApp:
    client = Client(
        [Endpoint.parse(pair.primary.url), Endpoint.parse(pair.secondary.url)],
        known_hosts=tmp_path / "known_hosts.json",
    )
    return StrongroomApp(client)


async def server_view(pilot, band: str) -> None:
    """Log in, wait for the band to say ``band``, Ctrl+K, wait for the view."""
    await log_in(pilot, "admin", harness.NEW_PASSWORD)
    await main_ready(pilot)
    server = pilot.app.screen.query_one("#server", Static)
    await until(pilot, lambda: text_of(server) == band, 30, what=f"(band {band!r})")
    await pilot.press("ctrl+k")
    await until(pilot, lambda: isinstance(pilot.app.screen, TextModal), what="(server view)")
    await settle(pilot)


def test_server_view_on_the_primary(snap_compare, pair, masked, tmp_path):
    """Both nodes, the synchronous standby, no witness."""

    async def before(pilot):
        await server_view(pilot, "PRIMARY · lag 0.0 s")
        shown = "\n".join(text_of(s) for s in pilot.app.screen.query(Static))
        assert "node2: secondary, read-only" in shown and "standby node2 streaming" in shown

    assert snap_compare(app_for(pair, tmp_path), terminal_size=(80, 24), run_before=before)


def test_server_view_on_the_secondary(snap_compare, pair, masked, tmp_path):
    """The primary is down: it shows as unreachable since a time, this node's WAL receiver
    and replay lag, and that promotion is manual; no error."""
    pair.primary.stop()

    async def before(pilot):
        await server_view(pilot, "SECONDARY")
        shown = "\n".join(text_of(s) for s in pilot.app.screen.query(Static))
        assert "node1: UNREACHABLE since" in shown
        assert "this node is the standby" in shown and "WAL receiver stopped" in shown
        assert "Promotion: manual only" in shown

    assert snap_compare(app_for(pair, tmp_path), terminal_size=(80, 24), run_before=before)
