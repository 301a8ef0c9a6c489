"""What a form is made of, as plain data (no widget): a field, its choices, a refusal
shown under a field, the "new password + repeat" pair and the typed-confirmation field.
``tui.screens.form.FormModal`` draws them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tui.client import ApiError

Choices = list[tuple[str, str]]  # (what the user sees, the value sent)


@dataclass
class Field:
    """One field of a form: a text input, a password, a picker (``choices``), or a
    checklist (``choices`` with ``multiple``; its value is a list, ``chosen`` the rows
    checked at first)."""

    name: str
    label: str
    value: str = ""
    password: bool = False
    placeholder: str = ""
    choices: Choices | None = None
    required: bool = False
    check: Callable[[str], str | None] | None = None  # a problem with the value, or None
    api_names: tuple[str, ...] = field(default_factory=tuple)  # server names mapped here
    multiple: bool = False
    chosen: tuple[str, ...] = ()
    # Choices fetched from the server once the form is open (a picker only): the form
    # shows at once, the user types into the first fields meanwhile.
    load: Callable[[], Awaitable[Choices]] | None = None


def refusal(field: str, message: str) -> ApiError:
    """A refusal made in the client, shown like the server's: under ``field``."""
    return ApiError(
        "validation_failed", message, body={"errors": [{"field": field, "message": message}]}
    )


REPEAT = "repeat"  # the name of the field a new password is typed again in


def new_password_fields(
    name: str,
    label: str,
    repeat_label: str = "Repeat it",
    api_names: tuple[str, ...] = (),
) -> list[Field]:
    """The "new password + repeat" pair: the password field ``name`` and the ``repeat``
    field it must be typed again in (``new_password`` reads the pair on submit)."""
    return [
        Field(name, label, password=True, required=True, api_names=api_names),
        Field(REPEAT, repeat_label, password=True, required=True),
    ]


def new_password(values: dict[str, Any], name: str) -> str:
    """The new password of a ``new_password_fields`` pair; raises a refusal under the
    repeat field (``ApiError validation_failed``) when the two typed values differ."""
    if values[name] != values[REPEAT]:
        raise refusal(REPEAT, "differs from the first")
    return values[name]


def typed_confirmation(
    word: str,
    label: str = "",
    problem: str = "",
    *,
    strip: bool = False,
    any_case: bool = False,
) -> Field:
    """The "type the name to confirm" field of a delete, revoke or other dangerous
    dialog: the form is refused until it reads ``word`` (surrounding spaces ignored with
    ``strip``, letter case with ``any_case``). ``label`` defaults to 'Type WORD to
    confirm', ``problem`` (shown under the field while it does not match) to 'type WORD'.
    """

    def check(value: str) -> str | None:
        typed = value.strip() if strip or any_case else value
        if any_case:
            typed = typed.lower()
        return None if typed == word else (problem or f"type {word}")

    return Field("confirm", label or f"Type {word} to confirm", required=True, check=check)
