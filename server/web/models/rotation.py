"""Passwords changed on the systems they open (issue 29): a resource's connection to its
target, reset / verify / history of an account, schedules and the report.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.web.models.common import Answer, Body, integer, text

Password = text(1024, strip=False)
OptionValue = text(10000, multiline=True) | bool | integer(0, 65535)  # ca_pem: a PEM


# PUT /orgs/{org}/resources/{id}/connection: host_key given pins that fingerprint (by hand,
# or the one POST …/connection/scan showed and the administrator confirmed); "" unpins;
# left out, the pin stays while host and port stay the same.
class ConnectionSet(Body):
    connector: text(64, non_empty=True)
    host: text(255, non_empty=True)
    port: integer(1, 65535) | None = None
    host_key: text(200) | None = None
    reconciliation_account: text(64) | None = None
    options: Annotated[dict[Annotated[str, text(64)], OptionValue], Field(max_length=20)] = {}
    max_parallel: integer(1, 64) | None = None


class Connection(Answer):
    """A resource's connection to its target (``configured: false`` when none)."""

    configured: bool
    connector: str | None = None
    connector_title: str | None = None
    host: str | None = None
    port: int | None = None
    host_key: str | None = None
    host_key_set_by: str | None = None
    pins_host_key: bool | None = None
    reconciliation_account: str | None = None
    reconciliation_username: str | None = None
    options: dict[str, str | bool | int] | None = None
    max_parallel: int | None = None
    updated_at: str | None = None


class HostKeyScan(Answer):
    """The key a target presents now, and whether it is the pinned one."""

    presented: str
    pinned: str
    matches: bool


class ConnectorInfo(Answer):
    """A connector this server offers."""

    name: str
    title: str
    resource_types: list[str]
    fields: list[str]
    options: list[str]
    default_port: int
    pins_host_key: bool


class Outcome(Answer):
    """The last change or verification: ``ok``, ``failed`` (with why) or ``never``."""

    state: Literal["ok", "failed", "never"]
    at: str | None = None
    reason: str | None = None


class RotationState(Answer):
    """An account's password on its target: connector (null: vault only), what runs now,
    the last change and verification, the effective schedule and the next runs."""

    connector: str | None
    in_progress: Literal["change", "verify"] | None = None
    pending_since: str | None = None
    last_change: Outcome
    last_verification: Outcome | None = None
    rotate_every_days: int | None = None
    verify_every_hours: int | None = None
    next_rotation: str | None = None
    next_verification: str | None = None
    change_due: bool | None = None


# POST /orgs/{org}/accounts/{id}/rotation/reset: a password, or none (generated under the
# account's policy; "generate": true says so explicitly).
class ResetBody(Body):
    password: Password = ""
    generate: bool = True


class ResetDone(Answer):
    """The password was changed on the target, verified and made current."""

    outcome: Literal["changed"]
    rotation: RotationState


class Verified(Answer):
    """A verification's outcome (``ok`` false: ``reason`` and ``message`` say why)."""

    ok: bool
    reason: str | None = None
    message: str | None = None
    rotation: RotationState


class HistoryEntry(Answer):
    """An earlier password of an account (no secret): when, by whom, how it was replaced."""

    id: str
    replaced_at: str
    replaced_by: str
    how: Literal["reset", "rotation", "checkin"]


class HistoryRevealed(Answer):
    """An earlier password."""

    password: str


# PUT …/rotation-schedule on an account, a resource or a resource group: null = inherit.
class ScheduleSet(Body):
    rotate_every_days: integer(1, 3650) | None = None
    verify_every_hours: integer(1, 8760) | None = None


class Schedule(Answer):
    """A schedule as set (null: inherited, or none)."""

    rotate_every_days: int | None
    verify_every_hours: int | None


class ReportItem(Answer):
    """One account in the rotation report."""

    id: str
    account: str
    resource: str
    at: str | None = None
    reason: str | None = None
    age_days: int | None = None
    max_age_days: int | None = None


class RotationReport(Answer):
    """Accounts whose verification or change failed, or whose password is past its age."""

    failed_verifications: list[ReportItem]
    failed_changes: list[ReportItem]
    over_age: list[ReportItem]
