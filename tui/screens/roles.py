"""The custom role form: a name, a description and a checklist of the built-in
permissions (the five built-in roles are shown but never edited)."""

from __future__ import annotations

from typing import Any

from server.core.permissions import CAPABILITIES  # shared plain data
from tui.screens.form import Choices, Field

PERMISSION_LABELS = {
    "manage_users": "manage users: the org's users and user groups",
    "read_audit": "read audit: the audit trail and reports",
    "add_resources": "add resources (the user then owns them)",
    "manage_vault": "manage vault: resource groups, policies, types, fields",
}
ROLE_NAME_HINT = "letters, digits, - and _, starting with a letter"


def permission_choices() -> Choices:
    """(label, permission) for each built-in permission, in the server's order."""
    return [(PERMISSION_LABELS.get(p, p.replace("_", " ")), p) for p in CAPABILITIES]


def permissions_text(permissions: list[str]) -> str:
    """'manage users, read audit' ('none' for an empty list)."""
    return ", ".join(p.replace("_", " ") for p in permissions) or "none"


def role_kind(role: dict) -> str:
    """'built-in', 'replicated' (from MSPOrg) or 'custom'."""
    if role.get("builtin"):
        return "built-in"
    return "replicated" if role.get("replicated") else "custom"


def new_role_fields() -> list[Field]:
    """Name, description, permissions (none ticked)."""
    return [
        Field("name", "Role name", required=True, placeholder=ROLE_NAME_HINT),
        Field("description", "Description"),
        Field("permissions", "Permissions", choices=permission_choices(), multiple=True),
    ]


def edit_role_fields(role: dict) -> list[Field]:
    """Description and permissions of ``role``, as they are now."""
    return [
        Field("description", "Description", value=role.get("description") or ""),
        Field(
            "permissions",
            "Permissions",
            choices=permission_choices(),
            multiple=True,
            chosen=tuple(role.get("permissions") or ()),
        ),
    ]


def role_body(values: dict[str, Any]) -> dict[str, Any]:
    """The API body from the form's values (an empty description is left out)."""
    body = {k: v for k, v in values.items() if k != "description"}
    if values.get("description", "").strip():
        body["description"] = values["description"].strip()
    return body


def edit_body(values: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body: the description (possibly emptied) and the permissions."""
    return {"description": values["description"].strip(), "permissions": values["permissions"]}
