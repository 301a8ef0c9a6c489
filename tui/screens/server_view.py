"""The Server panel's text: the node in use, its role, replication and the witness."""

from __future__ import annotations

from tui.client import ApiError, Client


async def server_lines(client: Client) -> list[str]:
    """What the client knows of the server(s) it talks to, as lines of text."""
    state = await client.health()
    lines = [
        f"Connected to: {state.url}",
        f"Role: {state.role}",
        f"Read-only: {'yes' if state.read_only else 'no'}",
        f"Degraded: {'yes' if state.degraded else 'no'}",
        f"Term: {state.term}",
        f"Last backup: {state.last_backup_at or 'none'}"
        + (" (the latest attempt FAILED)" if state.last_backup_failed else ""),
        "",
        "Configured servers:",
    ] + [f"  {e.base}" for e in client.endpoints]
    try:
        view = await client.cluster()
    except ApiError:
        return lines  # not an MSPOrg administrator: health is all there is to show
    lines += ["", f"Replication: {view['replication']}"]
    lines += [
        f"  standby {s['application_name']} {s['state']} ({s['sync_state']}), "
        f"lag {s['lag_bytes'] or 0} bytes / {s['lag_seconds'] or 0:.1f} s"
        for s in view["standbys"]
    ] or ["  no standby connected"]
    lines += ["", "Nodes:"] + [
        f"  {n['name']}: {n.get('role') or 'unreachable'}"
        f"{' (read-only)' if n.get('read_only') else ''}, term {n.get('term')}"
        for n in view.get("nodes", [])
    ]
    witness = view.get("witness")
    lines.append(
        "Witness: none (failover is manual)"
        if witness is None
        else f"Witness: {'reachable' if witness['reachable'] else 'UNREACHABLE'}"
    )
    return lines
