"""Additional fields of resources and accounts, as the org defines them
(GET /orgs/{org}/field-definitions): which apply, their form fields, the values to send.

Kinds: text, number, date (YYYY-MM-DD), choice (a picker) and, for accounts, secret
(typed like a password, sealed by the server, shown only when the password is revealed).
"""

from __future__ import annotations

import datetime
from typing import Any

from tui.logic.fields import Field, refusal

HINTS = {"number": " (number)", "date": " (YYYY-MM-DD)", "secret": " (secret)"}


def applicable(definitions: list[dict], applies_to: str, resource_type: str = "") -> list[dict]:
    """The definitions for a resource of ``resource_type`` (or for accounts)."""
    return [
        d
        for d in definitions
        if d["applies_to"] == applies_to
        and (not d.get("resource_type") or d["resource_type"].lower() == resource_type.lower())
    ]


def _key(index: int) -> str:
    return f"extra{index}"


def _check(kind: str):
    def number(value: str) -> str | None:
        try:
            float(value)
        except ValueError:
            return "must be a number"
        return None

    def date(value: str) -> str | None:
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return "must be a date (YYYY-MM-DD)"
        return None

    return {"number": number, "date": date}.get(kind)


def form_fields(definitions: list[dict], current: dict[str, Any] | None = None) -> list[Field]:
    """One form field per definition, filled with ``current`` values (or the defaults);
    the server's refusals of ``fields.NAME`` land under them."""
    out = []
    for index, d in enumerate(definitions):
        given = (current or {}).get(d["name"])
        value = "" if d["kind"] == "secret" else str(given if given is not None else "")
        if current is None and d.get("default") is not None:
            value = str(d["default"])
        out.append(
            Field(
                _key(index),
                d["name"] + HINTS.get(d["kind"], ""),
                value=value,
                password=d["kind"] == "secret",
                choices=[(c, c) for c in d["choices"]] if d["kind"] == "choice" else None,
                required=bool(d.get("required")) and d["kind"] != "secret",
                check=_check(d["kind"]),
                api_names=(f"fields.{d['name']}",),
            )
        )
    return out


def field_values(definitions: list[dict], values: dict[str, str]) -> dict[str, Any]:
    """The ``fields`` object to send: typed values of the filled-in fields (numbers as
    numbers); an empty field is left out (the server then applies its default)."""
    out: dict[str, Any] = {}
    for index, d in enumerate(definitions):
        text = values.get(_key(index), "").strip()
        if not text:
            continue
        if d["kind"] == "number":
            try:
                number = float(text)
            except ValueError:
                raise refusal(_key(index), "must be a number") from None
            out[d["name"]] = int(number) if number.is_integer() else number
        else:
            out[d["name"]] = text
    return out


def summary(fields: dict[str, Any]) -> str:
    """'os: Ubuntu · rack: 4' (plain fields only; secret ones never come in a list)."""
    return " · ".join(f"{k}: {v}" for k, v in sorted(fields.items()) if v not in (None, ""))
