"""The directory section's forms and sentences (issue 32): an org's LDAP / Active
Directory configuration, what a test connection found and what a sync changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui.client import ApiError
from tui.screens.form import Field, refusal
from tui.wording import counted

YES_NO = [("no (ldaps://, or plain refused)", "no"), ("yes (ldap:// with StartTLS)", "yes")]


def mappings_text(mappings: list[dict[str, str]]) -> str:
    """'cn=admins,ou=groups,dc=x -> administrator; ...' (the form's one-line mapping)."""
    return "; ".join(f"{m['group']} -> {m['role']}" for m in mappings)


def mappings_problem(text: str) -> str | None:
    """A problem with typed mappings, or None."""
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if "->" not in part:
            return "write each mapping as: group DN -> role (separated by ;)"
    return None


def parse_mappings(text: str) -> list[dict[str, str]]:
    """The typed mappings as the API takes them, in order."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        group, _, role = part.rpartition("->")
        out.append({"group": group.strip(), "role": role.strip()})
    return out


def directory_fields(current: dict[str, Any] | None) -> list[Field]:
    """The configuration form, filled with ``current`` (the pending or active one)."""
    c = current or {}
    return [
        Field(
            "url",
            "URL (ldaps://host:636, or ldap://host:389 with StartTLS)",
            c.get("url", ""),
            required=True,
        ),
        Field("start_tls", "StartTLS", "yes" if c.get("start_tls") else "no", choices=YES_NO),
        Field(
            "ca_file",
            "CA certificate file (PEM) on this computer" + (" (empty: keep)" if c else ""),
            required=not c,
        ),
        Field("bind_dn", "Service account DN", c.get("bind_dn", ""), required=True),
        Field(
            "bind_password",
            "Service account password" + (" (empty: keep)" if c else ""),
            password=True,
            required=not c,
        ),
        Field("search_base", "User search base", c.get("search_base", ""), required=True),
        Field("user_filter", "User filter", c.get("user_filter", "(objectClass=inetOrgPerson)")),
        Field("username_attribute", "User name attribute", c.get("username_attribute", "uid")),
        Field(
            "group_roles",
            "Role of each directory group (write: group DN -> role; first match wins; ; between)",
            mappings_text(c.get("group_roles", [])),
            check=mappings_problem,
        ),
        Field(
            "default_role",
            "Role of users in no group (empty: no access)",
            c.get("default_role") or "",
        ),
        Field(
            "sync_minutes",
            "Sync every how many minutes (0: only on demand)",
            str(c.get("sync_minutes", 60)),
        ),
    ]


def directory_body(values: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The PUT body from the form (the CA read from the file named; kept when empty).

    Raises:
        ApiError (``refusal``) for a CA file that cannot be read or a bad number.
    """
    ca = (current or {}).get("ca_certificate", "")
    path = values["ca_file"].strip()
    if path:
        try:
            ca = Path(path).expanduser().read_text()
        except OSError as exc:
            raise refusal("ca_file", f"cannot read it: {exc.strerror or exc}") from None
    minutes = values["sync_minutes"].strip() or "60"
    if not minutes.isdigit():
        raise refusal("sync_minutes", "must be a whole number of minutes")
    body: dict[str, Any] = {
        "url": values["url"].strip(),
        "start_tls": values["start_tls"] == "yes",
        "ca_certificate": ca,
        "bind_dn": values["bind_dn"].strip(),
        "search_base": values["search_base"].strip(),
        "user_filter": values["user_filter"].strip() or "(objectClass=inetOrgPerson)",
        "username_attribute": values["username_attribute"].strip() or "uid",
        "group_roles": parse_mappings(values["group_roles"]),
        "default_role": values["default_role"].strip(),  # "": users in no group get no access
        "sync_minutes": int(minutes),
    }
    if values["bind_password"]:
        body["bind_password"] = values["bind_password"]
    return body


def rows(directory: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(setting, active, pending) rows of the section's table."""
    active, pending = directory.get("active") or {}, directory.get("pending") or {}

    def cell(config: dict[str, Any], key: str) -> str:
        if not config:
            return ""
        value = config.get(key)
        if key == "group_roles":
            return mappings_text(value or [])
        if key == "start_tls":
            return "yes" if value else "no"
        return "" if value is None else str(value)

    names = (
        ("URL", "url"),
        ("StartTLS", "start_tls"),
        ("Service account", "bind_dn"),
        ("Search base", "search_base"),
        ("Filter", "user_filter"),
        ("User name attribute", "username_attribute"),
        ("Role of each group", "group_roles"),
        ("Default role", "default_role"),
        ("Sync (minutes)", "sync_minutes"),
        ("Last sync", "last_sync_at"),
        ("Set by", "configured_by"),
    )
    return [(label, cell(active, key), cell(pending, key)) for label, key in names]


def state_text(org: str, directory: dict[str, Any]) -> str:
    """One sentence: whether the org has a directory, and what waits for approval."""
    if not directory.get("active") and not directory.get("pending"):
        return f"{org} has no directory: e sets one (its users then log in with it)."
    line = (
        f"{org}'s users may log in with its directory."
        if directory.get("active")
        else (f"{org} has no active directory yet.")
    )
    if directory.get("pending"):
        line += (
            " A change waits for a second MSPOrg administrator's approval: press a "
            "(Ask approval) to ask one."
        )
    return line


def test_text(found: dict[str, Any]) -> str:
    """What a test connection found, as a sentence."""
    if not found.get("ok"):
        return (
            f"Test of the {found.get('configuration')} configuration failed: {found.get('problem')}"
        )
    groups = ", ".join(f"{g['role']}: {g['members']}" for g in found.get("groups", []))
    sample = ", ".join(found.get("sample", []))
    return (
        f"Test of the {found['configuration']} configuration: "
        f"{counted(found['users_found'], 'user')} "
        f"found ({sample}{', …' if found['users_found'] > len(found.get('sample', [])) else ''}); "
        f"by role: {groups or 'no group mapped'}; {found['without_role']} without a role."
    )


def sync_text(changed: dict[str, Any]) -> str:
    """What a sync changed, as a sentence."""
    parts = []
    for key, word in (("created", "created"), ("disabled", "disabled"), ("enabled", "enabled")):
        if changed.get(key):
            parts.append(f"{word}: {', '.join(changed[key])}")
    if changed.get("updated"):
        parts.append(
            "updated: "
            + ", ".join(
                f"{u['username']} ({', '.join(k for k in u if k != 'username')})"
                for u in changed["updated"]
            )
        )
    if changed.get("skipped"):
        parts.append(
            "skipped: " + ", ".join(f"{s['username']} ({s['reason']})" for s in changed["skipped"])
        )
    body = "; ".join(parts) if parts else "nothing changed"
    return f"Sync done: {body}; {changed.get('unchanged', 0)} unchanged."


def in_form_words(error: ApiError) -> ApiError:
    """The server's refusal of the form in the form's own words (its API fields named
    as the form labels them), or ``error`` as it is."""
    if error.code == "directory_insecure" and "start_tls" in error.detail:
        return refusal(
            "url",
            "plain LDAP is refused: use ldaps://, or ldap:// with StartTLS set to yes",
        )
    return error
