"""Org access requests (dual control): how each kind reads, and filing one of each kind.

The four kinds are ``grant`` (a user or MSPOrg group reaches a client org),
``account_manager`` (an org gets another account manager), ``group_member`` (a user
joins an MSPOrg group) and ``user_confirmation`` (a client org's first administrator of
its own is confirmed). Each is filed in steps: what it names, then an approver from
``GET /org-access-requests/eligible-approvers`` for exactly that, and a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tui.client import ApiError, Client
from tui.flows import Pane
from tui.logic import choices
from tui.logic.choices import person
from tui.logic.times import expires_in, expires_short, local_minute
from tui.screens.form import Choices, Field

REASON_WIDTH = 20  # the queue's Reason cell: the Expires column after it stays on screen


def cut(text: str, width: int = REASON_WIDTH) -> str:
    """``text`` on one line of at most ``width`` characters ('…' marks a cut); the
    request's dialog shows it in full."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def designee(request: dict) -> str:
    """What the request is for, short: 'user adm2', 'group ops', 'adm2 → ops', 'carol'."""
    kind = request.get("kind", "grant")
    if kind == "group_member":
        return f"{request.get('user')} → {request.get('group')}"
    if kind in ("account_manager", "user_confirmation"):
        return str(request.get("user"))
    if kind == "org_rename":
        return f"rename to {request.get('display_name')}"
    if kind == "org_purge":
        return "purge now"
    if kind == "audit_retention":
        return "audit purge" if request.get("purge") else "audit retention"
    if kind == "directory_config":
        return "directory configuration"
    return f"user {request['user']}" if request.get("user") else f"group {request.get('group')}"


def label(request: dict) -> str:
    """The list's 'For' cell, naming the kind: 'user adm2' or 'group ops' (access),
    'adm2 as manager', 'adm2 into ops', 'confirm carol'."""
    kind, user = request.get("kind", "grant"), request.get("user")
    if kind == "account_manager":
        return f"{user} as manager"
    if kind == "group_member":
        return f"{user} into {request.get('group')}"
    if kind == "user_confirmation":
        return f"confirm {user}"
    return designee(request)


def effect(request: dict) -> str:
    """What approving the request does, as one sentence."""
    kind, org, user = request.get("kind", "grant"), request.get("org"), request.get("user")
    if kind == "account_manager":
        return f"{user} becomes the account manager of {org}, in place of the present one."
    if kind == "group_member":
        return (
            f"{user} joins the MSPOrg group {request.get('group')} "
            "and reaches the orgs the group reaches."
        )
    if kind == "user_confirmation":
        return f"{user} is confirmed as {org}'s first administrator of its own."
    if kind == "org_rename":
        return f"{org} is renamed {request.get('display_name')}; its old name is held 30 days."
    if kind == "org_purge":
        return f"the deleted org {org} and everything in it are purged at once, for good."
    if kind == "audit_retention":
        days = request.get("retention_days")
        return (f"{org}'s audit retention becomes {days} days. " if days else "") + (
            f"{org}'s audit events older than its retention are purged."
            if request.get("purge")
            else ""
        )
    if kind == "directory_config":
        return (
            "MSPOrg's logins and users follow this directory configuration: its entries "
            "get the roles shown."
        )
    return f"{designee(request)} may act in {org} at once."


def describe(request: dict) -> str:
    """The approver's view of a request: org, designee (a group's members as filed),
    proposer, reason, expiry."""
    members = request.get("members")
    return (
        f"Organization: {request.get('org') or '— (an MSPOrg group)'}\n"
        f"For: {designee(request)} ({request.get('kind', 'grant').replace('_', ' ')})\n"
        + (f"Members: {', '.join(members) or '— (none)'}\n" if members is not None else "")
        + (f"Role: {request['role'].replace('_', ' ')}\n" if request.get("role") else "")
        + directory_lines(request.get("directory"))
        + f"Proposed by: {request['proposer']}\n"
        f"Reason: {request.get('reason') or '—'}\n"
        f"Expires: {local_minute(request.get('expires_at'), '—')} "
        f"({expires_in(request.get('expires_at'))})"
    )


def queue_row(request: dict) -> tuple[str, ...]:
    """The approver's queue cells: org, for (naming the kind), proposer, reason, expires."""
    return (
        request.get("org") or "MSPOrg",
        label(request),
        request["proposer"],
        cut(request.get("reason") or ""),
        expires_short(request.get("expires_at")),
    )


def mine_row(request: dict) -> tuple[str, ...]:
    """The proposer's list cells: org, for (naming the kind), approver, status."""
    return (
        request.get("org") or "MSPOrg",
        label(request),
        request["approver"],
        request["status"],
    )


async def approver_choices(client: Client, kind: str, names: dict[str, str]) -> Choices:
    """The approvers the server says are eligible for this very request."""
    return [(person(u), u["username"]) for u in await client.eligible_approvers_of(kind, names)]


def unavailable(page: dict) -> list[str]:
    """The administrators who cannot approve, each with the server's reason (shown under
    the picker, not selectable; issue 27)."""
    return [
        f"{c['username']}: {c['reason']}"
        for c in page.get("candidates", [])
        if not c.get("eligible")
    ]


def nobody_may_approve(page: dict) -> str | None:
    """When the server names no eligible approver for the request (``page``: its answer
    to eligible-approvers), a sentence that says so with each administrator's reason in
    the server's words, to say before any approver is asked for; else None (newcomer
    pass, session 11: the form asked to pick from nobody)."""
    if page.get("items"):
        return None
    why = unavailable(page)
    return "Nobody may approve this request now" + (
        ": " + "; ".join(why) + "." if why else " (MSPOrg has no other administrator)."
    )


def without_me(pane: Pane, people: Choices) -> Choices:
    """``people`` (values 'user:NAME' or 'NAME') without the person filing the request:
    the server refuses a request whose proposer is its designee (proposer_is_designee),
    so it is not offered (newcomer pass, session 11)."""
    me = (pane.app.me or {}).get("username")
    return [(text, value) for text, value in people if value not in (me, f"user:{me}")]


def _split(value: str) -> dict[str, str]:
    """'user:adm2' → {'user': 'adm2'}; 'group:ops' → {'group': 'ops'}."""
    kind, _, name = value.partition(":")
    return {kind: name}


async def _file(
    pane: Pane,
    kind: str,
    title: str,
    fields: list[Field],
    names_of: Callable[[dict[str, str]], dict[str, str]],
    step: int = 1,
    steps: int = 2,
) -> None:
    """The last two steps of every kind: what it names (``fields``; the server checks
    it and answers the eligible approvers), then the approver and a reason."""
    client = pane.app.client

    async def next_step(values: dict) -> dict:
        # A refusal (the proposer as designee, a name unknown, nothing to change) keeps
        # this step open with what was chosen, under the field it is about.
        names = names_of(values)
        page = await client.approver_candidates_of(kind, names)
        if (nobody := nobody_may_approve(page)) is not None:
            # Said in this step, which stays open (choose otherwise, or Esc): no approver
            # is asked for when there is none to pick.
            raise ApiError(
                "no_eligible_approver",
                nobody + " Choose someone else, or Esc and add an MSPOrg administrator who"
                " can approve it (F6 Users).",
            )
        eligible = [(person(u), u["username"]) for u in page["items"]]
        return {"names": names, "eligible": eligible, "unavailable": unavailable(page)}

    first = await pane.form(f"{title} ({step} of {steps})", fields, next_step, action="next")
    if not first:
        return
    names, eligible = first["names"], first["eligible"]

    async def submit(values: dict) -> dict:
        body = {"kind": kind, **names, "approver": values["approver"]}
        if values["reason"]:
            body["reason"] = values["reason"]
        return await client.request_access(body)

    note = effect({"kind": kind, **names})
    if first["unavailable"]:
        note += "\nCannot approve it:\n  " + "\n  ".join(first["unavailable"])
    result = await pane.form(
        f"{title} ({steps} of {steps})",
        [Field("approver", "Approver", choices=eligible, required=True), Field("reason", "Reason")],
        submit,
        note="If approved: " + note,
        action="file the request",
    )
    if result:
        pane.changed("requests", f"Request filed; {result['approver']} has been asked.")


def _selected_client_org(pane: Pane) -> str:
    return pane.org if pane.org and pane.org.lower() != "msporg" else ""


async def _loaded(pane: Pane, load: Callable[[], Awaitable[Choices]]) -> Choices | None:
    try:
        return await load()
    except ApiError as error:
        pane.app.show_error(error, "Cannot file the request")
        return None


async def request_grant(pane: Pane) -> None:
    """``grant``: an org and a designee (MSPOrg user or group), then the approver."""
    client = pane.app.client

    orgs = await _loaded(pane, lambda: choices.client_orgs(client))
    people = await _loaded(pane, lambda: choices.designees(client))
    if orgs is None or people is None:
        return
    people = without_me(pane, people)
    if not orgs:
        pane.app.notify("There is no client organization yet.", severity="warning")
        return
    fields = [
        Field("org", "Organization", value=_selected_client_org(pane), choices=orgs, required=True),
        Field(
            "designee",
            "For (MSPOrg user or group)",
            choices=people,
            required=True,
            api_names=("user", "group"),
        ),
    ]
    await _file(
        pane,
        "grant",
        "Request org access",
        fields,
        lambda v: {"org": v["org"], **_split(v["designee"])},
    )


async def request_account_manager(pane: Pane) -> None:
    """``account_manager``: an org and the MSPOrg user who is to manage it too."""
    client = pane.app.client
    orgs = await _loaded(pane, lambda: choices.client_orgs(client))
    managers = await _loaded(pane, lambda: choices.account_managers(client))
    if orgs is None or managers is None:
        return
    managers = without_me(pane, managers)
    if not orgs:
        pane.app.notify("There is no client organization yet.", severity="warning")
        return
    fields = [
        Field("org", "Organization", value=_selected_client_org(pane), choices=orgs, required=True),
        Field("user", "New account manager", choices=managers, required=True),
    ]
    await _file(
        pane,
        "account_manager",
        "Request an account manager",
        fields,
        lambda v: {"org": v["org"], "user": v["user"]},
    )


async def _msp_groups(client: Client) -> Choices:
    return [(g["name"], g["name"]) for g in await client.groups("MSPOrg")]


async def _msp_people(client: Client) -> Choices:
    return [
        (person(u), u["username"]) for u in await client.users("MSPOrg") if u["status"] == "active"
    ]


async def request_group_member(pane: Pane) -> None:
    """``group_member``: an MSPOrg group and the user who is to join it."""
    client = pane.app.client
    groups = await _loaded(pane, lambda: _msp_groups(client))
    people = await _loaded(pane, lambda: _msp_people(client))
    if groups is None or people is None:
        return
    people = without_me(pane, people)
    if not groups:
        pane.app.notify("MSPOrg has no user group yet.", severity="warning")
        return
    fields = [
        Field("group", "MSPOrg group", choices=groups, required=True),
        Field("user", "User to add", choices=people, required=True),
    ]
    await _file(
        pane,
        "group_member",
        "Request a group member",
        fields,
        lambda v: {"group": v["group"], "user": v["user"]},
    )


async def request_confirmation(pane: Pane) -> None:
    """``user_confirmation``: a client org, then one of its unconfirmed users (a text
    field when I may not list them), then the approver."""
    client = pane.app.client
    orgs = await _loaded(pane, lambda: choices.client_orgs(client))
    if orgs is None:
        return
    if not orgs:
        pane.app.notify("There is no client organization yet.", severity="warning")
        return
    title = "Request a user confirmation"
    first = await pane.form(
        f"{title} (1 of 3)",
        [
            Field(
                "org", "Organization", value=_selected_client_org(pane), choices=orgs, required=True
            )
        ],
        action="next",
    )
    if not first:
        return
    org = first["org"]
    try:
        unconfirmed: Choices | None = [
            (person(u), u["username"])
            for u in await client.users(org)
            if not u.get("confirmed", True) and u["status"] == "active"
        ]
    except ApiError:
        unconfirmed = None  # not mine to list: the name is typed, the server checks it
    if unconfirmed == []:
        pane.app.notify(f"{org} has no user waiting for confirmation.", severity="warning")
        return
    await _file(
        pane,
        "user_confirmation",
        title,
        [Field("user", f"User of {org} to confirm", choices=unconfirmed, required=True)],
        lambda v: {"org": org, "user": v["user"]},
        step=2,
        steps=3,
    )


def directory_lines(config: dict | None) -> str:
    """A ``directory_config`` request's whole configuration as the approver reads it
    (attacker finding 1: e.g. a default role that makes every entry an administrator)."""
    if not config:
        return ""
    roles = config.get("group_roles")
    mapped = (
        "; ".join(f"{m['group']} → {m['role'].replace('_', ' ')}" for m in roles)
        if roles
        else "— (none)"
    )
    default = config.get("default_role")
    ca = config.get("ca_sha256")
    return (
        f"Directory: {config.get('url')}"
        + (" (StartTLS)" if config.get("start_tls") else "")
        + "\n"
        f"CA SHA-256: {', '.join(ca) if ca else '—'}\n"
        f"Service account: {config.get('bind_dn')}\n"
        f"Search base: {config.get('search_base')}\n"
        f"User filter: {config.get('user_filter')}\n"
        f"Username attribute: {config.get('username_attribute') or '—'}\n"
        f"Group roles: {mapped}\n"
        "Everyone else: "
        + (
            f"{default.replace('_', ' ')} (EVERY entry the filter finds)"
            if default
            else "— (no access)"
        )
        + "\n"
        f"Sync every: {config.get('sync_minutes')} minutes (0: on request)\n"
    )


async def request_directory_config(pane: Pane) -> None:
    """``directory_config``: ask a second MSPOrg administrator to approve MSPOrg's pending
    directory configuration (issue 32; the administrator who set it files it). One step:
    an eligible approver (the others listed with the server's reason why not) and a
    reason."""
    client = pane.app.client
    try:
        page = await client.approver_candidates_of("directory_config", {"org": "MSPOrg"})
    except ApiError as error:
        pane.app.show_error(error, "Cannot ask for approval")
        return
    if (nobody := nobody_may_approve(page)) is not None:
        pane.app.notify(nobody, title="Cannot ask for approval", severity="warning", timeout=8)
        return
    eligible = [(person(u), u["username"]) for u in page["items"]]

    async def submit(values: dict) -> dict:
        body = {"kind": "directory_config", "org": "MSPOrg", "approver": values["approver"]}
        if values["reason"]:
            body["reason"] = values["reason"]
        return await client.request_access(body)

    note = "If approved: " + effect({"kind": "directory_config"})
    if cannot := unavailable(page):
        note += "\nCannot approve it:\n  " + "\n  ".join(cannot)
    result = await pane.form(
        "Ask approval of MSPOrg's directory",
        [Field("approver", "Approver", choices=eligible, required=True), Field("reason", "Reason")],
        submit,
        note=note,
        action="file the request",
    )
    if result:
        pane.changed("requests", f"Request filed; {result['approver']} has been asked.")
