"""What pickers offer: roles, permissions, orgs, users and groups, approvers, policies.

Sets the server knows come from the server; the TUI never decides who is eligible.
"""

from __future__ import annotations

from server.core.permissions import ACCOUNT_MANAGER_ROLES, ROLES  # shared plain data
from tui.client import Client
from tui.logic.fields import Choices
from tui.wording import role_words

PERMISSIONS: Choices = [
    ("view: use the password", "view"),
    ("modify: also change it", "modify"),
    ("full: manage and re-share", "full"),
]
VAULT_CONTROL: Choices = [
    ("both: MSP and client add resources", "both"),
    ("msp: only the MSP", "msp"),
    ("client: only the client", "client"),
]
ROLE_CHOICES: Choices = [(role_words(role), role) for role in ROLES]


def person(user: dict) -> str:
    """'adm2 — Ada Admin' (the username alone when there is no full name)."""
    name = user.get("full_name") or ""
    return f"{user['username']} — {name}" if name else user["username"]


async def account_managers(client: Client) -> Choices:
    """Active MSPOrg users whose role may manage an org."""
    return [
        (f"{person(u)} ({u['role'].replace('_', ' ')})", u["username"])
        for u in await client.users("MSPOrg")
        if u["role"] in ACCOUNT_MANAGER_ROLES and u["status"] == "active"
    ]


async def client_orgs(client: Client, managed_only: bool = False) -> Choices:
    """Client orgs I can see (only those I manage or hold a grant for, if asked)."""
    return [
        (f"{o['display_name']} — {o['name']}", o["display_name"])
        for o in await client.orgs()
        if not o["is_msp"] and (o.get("managed") or not managed_only)
    ]


async def designees(client: Client) -> Choices:
    """MSPOrg users and user groups (values 'user:NAME' / 'group:NAME')."""
    users = [(f"user {person(u)}", f"user:{u['username']}") for u in await client.users("MSPOrg")]
    groups = [(f"group {g['name']}", f"group:{g['name']}") for g in await client.groups("MSPOrg")]
    return users + groups


async def share_targets(client: Client, org: str) -> Choices:
    """Who a share in ``org`` can reach, as the server says (issue 27): the org's users and
    groups, and the MSPOrg users who act in it — not every MSPOrg user."""
    found = await client.share_targets(org)
    choices = [
        (
            f"user {person(u)}" + ("" if u["confirmed"] else " (unconfirmed)"),
            f"user:{u['username']}",
        )
        for u in found["users"]
    ]
    choices += [
        (
            f"group {g['name']}" + (" (members unconfirmed)" if g["reaches_nobody"] else ""),
            f"group:{g['name']}",
        )
        for g in found["groups"]
    ]
    choices += [(f"MSP user {person(u)}", f"msp:{u['username']}") for u in found["msp_users"]]
    return choices


async def approvers(client: Client, org: str, designee: str) -> Choices:
    """The approvers the server says are eligible for this request."""
    kind, _, name = designee.partition(":")
    items = await client.eligible_approvers(
        org, name if kind == "user" else None, name if kind == "group" else None
    )
    return [(person(u), u["username"]) for u in items]


async def resource_types(client: Client, org: str) -> Choices:
    """The org's resource types."""
    return [(t["name"], t["name"]) for t in await client.resource_types(org)]


async def policies(client: Client, org: str) -> Choices:
    """The org's password policies."""
    return [(p["name"], p["name"]) for p in await client.password_policies(org)]
