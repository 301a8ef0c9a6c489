"""The additional field definition form: what it applies to, its kind, choices,
whether it is required and its default."""

from __future__ import annotations

from typing import Any

from tui.screens.form import Choices, Field

APPLIES_TO: Choices = [("resources", "resource"), ("accounts", "account")]
KINDS: Choices = [
    ("text", "text"),
    ("number", "number"),
    ("date (YYYY-MM-DD)", "date"),
    ("choice: one of a list", "choice"),
    ("secret: sealed like a password (accounts only)", "secret"),
]
YES_NO: Choices = [("no", "no"), ("yes", "yes")]
ALL_TYPES = ""  # a resource field for every type


def applies_to_text(definition: dict) -> str:
    """'accounts', 'resources' or 'resources: Linux'."""
    if definition["applies_to"] == "account":
        return "accounts"
    rtype = definition.get("resource_type")
    return f"resources: {rtype}" if rtype else "resources"


def definition_fields(types: list[str]) -> list[Field]:
    """The form: applies to, resource type (resources only), name, kind, choices,
    required, default."""
    return [
        Field("applies_to", "Applies to", value="resource", choices=APPLIES_TO, required=True),
        Field(
            "resource_type",
            "Resource type (resources only; none = every type)",
            choices=[(t, t) for t in types],
            placeholder="every type (type to search, Space for the list)",
        ),
        Field(
            "name",
            "Field name",
            required=True,
            placeholder="letters, digits and _, starting with a letter",
        ),
        Field("kind", "Kind", value="text", choices=KINDS, required=True),
        Field("choices", "Choices (for a choice field; comma-separated)"),
        Field("required", "Required", value="no", choices=YES_NO),
        Field("default", "Default (none for a secret)"),
    ]


def definition_body(values: dict[str, Any]) -> dict[str, Any]:
    """The API body from the form's values: empty optional fields are left out,
    choices split at commas, required as true/false."""
    body: dict[str, Any] = {
        "applies_to": values["applies_to"],
        "name": values["name"].strip(),
        "kind": values["kind"],
        "required": values.get("required") == "yes",
    }
    if values.get("resource_type"):
        body["resource_type"] = values["resource_type"]
    choices = [c.strip() for c in values.get("choices", "").split(",") if c.strip()]
    if choices:
        body["choices"] = choices
    if values.get("default", "").strip():
        body["default"] = values["default"].strip()
    return body


def describe(definition: dict) -> str:
    """'rack: resources: Mainframe, choice of A1, B2; required; default A1'."""
    kind = definition["kind"]
    if kind == "choice":
        kind = "choice of " + ", ".join(definition.get("choices") or ())
    parts = [f"{definition['name']}: {applies_to_text(definition)}, {kind}"]
    if definition.get("required"):
        parts.append("required")
    if definition.get("default") is not None:
        parts.append(f"default {definition['default']}")
    if definition.get("replicated"):
        parts.append("replicated from MSPOrg")
    return "; ".join(parts)
