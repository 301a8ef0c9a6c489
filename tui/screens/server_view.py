"""The Server panel's text: the node in use, each node of the pair and its state, this
node's replication (a primary's standbys, a secondary's WAL receiver), the witness and
whether it would allow a promotion."""

from __future__ import annotations

from typing import Any

from tui.client import ApiError, Client
from tui.logic.times import utc_clock
from tui.wording import counted


async def server_lines(client: Client) -> list[str]:
    """What the client knows of the server(s) it talks to, as lines of text."""
    state = await client.health()
    kind = "READ-ONLY SECONDARY" if state.read_only else "PRIMARY"
    if state.role == "primary" and state.read_only:
        kind = "FENCED PRIMARY (read-only)"
    lines = [
        f"Connected to: {state.url} ({kind})",
        f"Term {state.term} · degraded: {'yes' if state.degraded else 'no'} · last backup: "
        + await _last_backup(client, state),
    ]
    lines += forwarding_lines(state.forwarding)
    mine = ["", "This TUI's servers:"] + [
        f"  {e.base}{' (in use)' if e.base == client.base else ''}" for e in client.endpoints
    ]
    try:
        view = await client.cluster()
    except ApiError:
        return lines + mine  # not an MSPOrg administrator: health is all there is to show
    lines += ["", "Nodes:"] + [_node(n, first == 0) for first, n in enumerate(view["nodes"])]
    lines += ["", *_replication(view)]
    lines += _witness(view)
    lines += _registration(view.get("registration"))
    return lines + mine


async def _last_backup(client: Client, state: Any) -> str:
    """'02:50:13 UTC', 'none', with '(the latest attempt FAILED)'. A secondary keeps no
    backups: its view says the primary's, asked of the primary (issue 35: it said
    'none' when the primary had one), or that the primary takes them."""
    at, failed = state.last_backup_at, state.last_backup_failed
    suffix = ""
    if state.role != "primary" and not at:
        backup = await client.primary_backup()
        if backup is None:
            return "unknown (the primary does not answer)"
        at, failed = backup.get("at"), bool(backup.get("failure"))
        suffix = " (on the primary)"
    text = (utc_clock(at) if at else "none") + suffix
    return text + (" (the latest attempt FAILED)" if failed else "")


def _registration(details: dict[str, Any] | None) -> list[str]:
    """The silent install's Name, MailId, Phone, Company and Country (issue 34)."""
    if not details:
        return []
    fields = (("name", "Name"), ("mail", "MailId"), ("phone", "Phone"))
    fields += (("company", "Company"), ("country", "Country"))
    return ["", "Registration:"] + [f"  {label}: {details.get(k) or '-'}" for k, label in fields]


def _node(node: dict[str, Any], this: bool) -> str:
    """One node: name, state, role."""
    name = f"  {node['name']}{' (this node)' if this else ''}: "
    if this:
        role = node.get("role", "?")
        if node.get("fenced"):
            return name + f"primary, FENCED: {node.get('fence_reason') or 'no lease'}"
        if node.get("writes_blocked"):
            return name + f"primary, WRITES BLOCKED: {node['writes_blocked']}"
        if role == "primary" and node.get("replication") == "async":
            why = node.get("replication_reason") or "its standby is away"
            return name + f"primary, writable, ASYNCHRONOUS: {why}"
        return name + f"{role}, {'read-only' if node.get('read_only') else 'writable'}"
    if not node.get("reachable"):
        since = utc_clock(node.get("unreachable_since"))
        seen = node.get("last_seen_at")
        return (
            name
            + f"UNREACHABLE since {since}"
            + (f" (last seen {utc_clock(seen)})" if seen else "")
        )
    role = node.get("role") or "?"
    return (
        name
        + f"{role}, {'read-only' if node.get('read_only') else 'writable'}"
        + (", degraded" if node.get("degraded") else "")
    )


WAL_SHOWN = 16 * 2**20  # one WAL segment


def _replication(view: dict[str, Any]) -> list[str]:
    """A primary's standbys, or a secondary's WAL receiver and replay lag."""
    this = view["nodes"][0] if view["nodes"] else {}
    receiving = this.get("receiving")
    if receiving is not None:
        status = receiving.get("status") or "stopped (no primary streams to it)"
        age = receiving.get("replay_age")
        return [
            "Replication: this node is the standby",
            f"  WAL receiver {status}",
            f"  replay lag {receiving.get('lag_bytes') or 0} bytes"
            + (f", last change replayed {age:.1f} s ago" if age is not None else ""),
        ]
    kept = [
        f"  WAL kept for {s['node']}: {s['retained_bytes'] // 2**20} MB"
        + (f" of {s['limit_bytes'] // 2**20} MB" if s.get("limit_bytes") else "")
        + (" (LOST: re-seeding)" if s.get("wal_status") == "lost" else "")
        for s in this.get("wal_retained") or []
        # A streaming standby's slot keeps next to nothing: shown once it keeps a segment.
        if s.get("retained_bytes", 0) >= WAL_SHOWN or s.get("wal_status") == "lost"
    ]
    if this.get("wal_warning"):
        kept.append(f"  WARNING: {this['wal_warning']}")
    if len(view["nodes"]) < 2:
        return ["Replication: none (no secondary enrolled)", *kept]
    if not view["standbys"]:
        return [f"Replication: {view['replication']}; no standby connected", *kept]
    return (
        [f"Replication: {view['replication']}"]
        + [
            f"  standby {s['application_name']} {s['state']} ({s['sync_state']}), "
            f"lag {s['lag_bytes'] or 0} bytes / {s['lag_seconds'] or 0:.1f} s"
            for s in view["standbys"]
        ]
        + kept
    )


def _witness(view: dict[str, Any]) -> list[str]:
    """The witness and, on a secondary, whether it would allow a promotion."""
    witness = view.get("witness")
    if witness is None:
        lines = ["Witness: none (failover is manual)"]
    elif not witness["reachable"]:
        lines = ["Witness: UNREACHABLE"]
    else:
        holder = witness.get("holder") or "nobody"
        lines = [f"Witness: lease held by {holder}, term {witness.get('term')}"]
    promotion = view.get("promotion")
    if promotion and promotion.get("automatic"):
        verdict = "allowed" if promotion.get("witness_would_grant") else "NOT allowed"
        lines.append(f"Promotion: {verdict}: {promotion.get('reason')}")
    elif promotion:
        lines.append("Promotion: manual only (strongroom promote on this node)")
    return lines


def forwarding_lines(forwarding: dict[str, Any] | None) -> list[str]:
    """The primary's SIEM forwarding (issue 31): how many events its destinations wait
    for, and the failing ones; nothing when the node forwards nowhere."""
    if not forwarding or not forwarding.get("destinations"):
        return []
    line = (
        f"SIEM forwarding: {counted(forwarding['destinations'], 'destination')}, "
        f"{counted(forwarding['lag'], 'event')} behind"
    )
    failing = forwarding.get("failing") or []
    if failing:
        line += f" · FAILING: {', '.join(failing)}"
    return [line]
