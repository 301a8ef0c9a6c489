"""The catalogue of audited operations: every name the audit trail records, its category
and what it means (plain data, no I/O).

The one list the audit writer (server/store/audit.py: an event of an operation not listed
here cannot be made), the audit settings and alerts (server/services/audit_settings.py)
and ``GET /audit/operations`` (so the TUI's operation picker keeps no copy) read.

Categories:

- ``routine``: a change of metadata that holds no secret, no access right, no key and no
  login; an org may stop recording these (audit operation type settings).
- ``security``: everything else that changes who may do what, or the vault, the org,
  its keys, its audit or its backups; always recorded.
- ``secret_access``: a secret read or handed out (a reveal, a check-out and its
  requests); always recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["routine", "security", "secret_access"]
ROUTINE: Category = "routine"
SECURITY: Category = "security"
SECRET_ACCESS: Category = "secret_access"  # noqa: S105 - a category name
CATEGORIES: tuple[Category, ...] = (ROUTINE, SECURITY, SECRET_ACCESS)


@dataclass(frozen=True)
class Operation:
    """One audited operation: its name in events, its category, what it records."""

    name: str
    category: Category
    description: str

    @property
    def switchable(self) -> bool:
        """May an org stop recording it? Routine operations only."""
        return self.category == ROUTINE


def _catalogue(*entries: tuple[str, Category, str]) -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for name, category, description in entries:
        if name in found:
            raise ValueError(f"operation {name!r} is listed twice")
        found[name] = Operation(name, category, description)
    return dict(sorted(found.items()))


OPERATIONS: dict[str, Operation] = _catalogue(
    # Secrets: reading them, and the check-out that hands them out.
    ("password_revealed", SECRET_ACCESS, "An account's password (and notes) was revealed."),
    (
        "password_reveal_failed",
        SECRET_ACCESS,
        "A reveal failed: the stored secret did not pass its integrity check.",
    ),
    ("password_access_requested", SECRET_ACCESS, "Access to a controlled password was requested."),
    ("password_access_approved", SECRET_ACCESS, "A password access request was approved."),
    ("password_access_rejected", SECRET_ACCESS, "A password access request was rejected."),
    ("password_access_withdrawn", SECRET_ACCESS, "A password access request was withdrawn."),
    ("password_checked_in", SECRET_ACCESS, "A checked-out password was checked in."),
    # The vault.
    ("resource_created", SECURITY, "A resource was added to the vault."),
    ("resource_updated", ROUTINE, "A resource's details were changed."),
    ("resource_deleted", SECURITY, "A resource and its accounts were deleted."),
    ("account_created", SECURITY, "An account (with its password) was added to a resource."),
    ("account_updated", SECURITY, "An account's details were changed."),
    ("account_deleted", SECURITY, "An account was deleted."),
    ("password_changed", SECURITY, "An account's or a user's password was changed."),
    ("access_control_changed", SECURITY, "Password access control (check-out) was changed."),
    (
        "access_control_change_requested",
        SECURITY,
        "A change weakening a password access control was asked for (its approvers decide).",
    ),
    (
        "access_control_change_approved",
        SECURITY,
        "An approver of a password access control approved a change weakening it.",
    ),
    (
        "access_control_change_rejected",
        SECURITY,
        "An approver of a password access control rejected a change weakening it.",
    ),
    (
        "access_control_change_withdrawn",
        SECURITY,
        "A request to weaken a password access control was withdrawn.",
    ),
    ("password_policy_created", SECURITY, "A password policy was created."),
    ("resource_group_created", SECURITY, "A resource group was created."),
    ("resource_group_updated", SECURITY, "A resource group's members or details changed."),
    ("resource_group_deleted", SECURITY, "A resource group was deleted."),
    ("share_added", SECURITY, "A resource or group was shared with a user or group."),
    ("share_removed", SECURITY, "A share was removed."),
    # The org's settings.
    ("resource_type_created", ROUTINE, "A resource type was added to the org's catalogue."),
    ("resource_type_deleted", ROUTINE, "A resource type was removed from the catalogue."),
    ("field_defined", SECURITY, "An additional field was defined."),
    ("field_removed", SECURITY, "An additional field definition was removed."),
    ("role_created", SECURITY, "A custom role was created."),
    ("role_updated", SECURITY, "A custom role's permissions or description changed."),
    ("role_deleted", SECURITY, "A custom role was deleted."),
    ("settings_replicated", SECURITY, "MSPOrg's settings were replicated to client orgs."),
    # Users, groups and logins.
    ("user_created", SECURITY, "A user was created."),
    ("user_updated", SECURITY, "A user's role, status or details changed."),
    ("user_deleted", SECURITY, "A user was deleted."),
    ("user_confirmed", SECURITY, "A client administrator confirmed an MSP-made user."),
    ("ownership_transferred", SECURITY, "A deleted user's resources went to a new owner."),
    ("founding_phase_closed", SECURITY, "The org's founding phase ended."),
    (
        "user_activation_issued",
        SECURITY,
        "A second administrator issued an activation code for an account (never the code).",
    ),
    ("user_activated", SECURITY, "An activated account set its password: its own person now."),
    ("person_recovered", SECURITY, "A person was recovered on the server's console."),
    ("notice_acknowledged", SECURITY, "A user acknowledged a notice shown at login (GET /me)."),
    ("group_created", SECURITY, "A user group was created."),
    ("group_updated", SECURITY, "A user group's members or settings changed."),
    ("group_deleted", SECURITY, "A user group was deleted."),
    ("login", SECURITY, "A user logged in."),
    ("login_failed", SECURITY, "A login was refused."),
    ("logout", SECURITY, "A user logged out."),
    ("session_refreshed", ROUTINE, "A session's lifetime was extended."),
    ("session_moved", SECURITY, "A session moved to this node from another."),
    ("session_move_refused", SECURITY, "A session moved from another node was refused."),
    ("api_key_created", SECURITY, "An API key was created."),
    ("api_key_deleted", SECURITY, "An API key was deleted."),
    ("ssh_key_added", SECURITY, "A user registered an SSH public key (for the SSH gateway)."),
    ("ssh_key_deleted", SECURITY, "A user revoked one of their SSH public keys."),
    (
        "gateway_request_refused",
        SECURITY,
        "The SSH gateway refused a request of a logged-in connection (shell, exec, "
        "forwarding, SFTP or another subsystem).",
    ),
    ("totp_enrolment_started", SECURITY, "Two-factor (TOTP) enrolment began."),
    ("totp_enabled", SECURITY, "Two-factor (TOTP) login was switched on."),
    ("totp_disabled", SECURITY, "Two-factor (TOTP) login was switched off."),
    ("totp_disable_failed", SECURITY, "Switching off two-factor login was refused."),
    ("totp_recovery_code_used", SECURITY, "A two-factor recovery code was used to log in."),
    ("totp_recovery_codes_regenerated", SECURITY, "A user made new two-factor recovery codes."),
    ("totp_recovery_codes_failed", SECURITY, "Making new recovery codes was refused (code)."),
    ("totp_reset", SECURITY, "An administrator turned another user's two-factor login off."),
    # Orgs and the MSP's access to them.
    ("org_created", SECURITY, "An org was created."),
    ("org_updated", SECURITY, "An org's details or settings changed."),
    ("org_deleted", SECURITY, "An org was deleted (kept for its recovery window)."),
    ("org_restored", SECURITY, "A deleted org was restored within its recovery window."),
    ("org_purged", SECURITY, "A deleted org was purged for good (window ended or approved)."),
    ("org_security_updated", SECURITY, "An org's two-factor policy changed."),
    ("org_imported", SECURITY, "Orgs were imported from a file."),
    ("org_access_requested", SECURITY, "Access to an org was requested (dual control)."),
    ("org_access_approved", SECURITY, "An org access request was approved."),
    ("org_access_rejected", SECURITY, "An org access request was rejected."),
    ("org_access_cancelled", SECURITY, "An org access request was cancelled."),
    ("org_access_expired", SECURITY, "An org access request expired unanswered."),
    ("org_access_revoked", SECURITY, "A user's or group's access to an org was revoked."),
    # The audit trail and backups.
    # Refused attempts (server/services/denials.py), aggregated per actor, code and route.
    (
        "access_denied",
        SECURITY,
        "A request was refused by an access-control rule (counted per actor, code and route).",
    ),
    (
        "access_denied_overflow",
        SECURITY,
        "Refused requests of too many distinct callers to count each one (their total).",
    ),
    ("audit_settings_changed", SECURITY, "Audit retention or operation settings changed."),
    ("audit_purged", SECURITY, "Events past the retention were purged behind a checkpoint."),
    ("backup_created", SECURITY, "A backup was written (or the attempt failed)."),
    ("backup_late", SECURITY, "No scheduled backup succeeded within its interval and grace."),
    ("backup_restored", SECURITY, "This node was made from a backup."),
    # The pair (issue 33).
    (
        "replication_mode_changed",
        SECURITY,
        "The primary's replication changed: synchronous, asynchronous (its standby away), "
        "or writes refused while a required standby is away.",
    ),
    (
        "cluster_node_removed",
        SECURITY,
        "A secondary was removed from the primary (its slot dropped, no longer waited for).",
    ),  # Passwords changed on the systems they open (issue 29).
    (
        "password_rotation_started",
        SECURITY,
        "A password change on the target began (the new password sealed as pending).",
    ),
    # Directory login (issue 32).
    (
        "directory_configured",
        SECURITY,
        "An org's directory configuration was set (or, for MSPOrg, proposed for approval) "
        "or removed; never the bind password.",
    ),
    (
        "directory_synced",
        SECURITY,
        "Directory users were created, updated or disabled from the org's directory.",
    ),
    # SIEM forwarding of the audit trail (issue 31).
    ("siem_destination_added", SECURITY, "A SIEM destination of the org's audit trail was added."),
    ("siem_destination_changed", SECURITY, "A SIEM destination was paused or resumed."),
    ("siem_destination_removed", SECURITY, "A SIEM destination was removed."),
    ("siem_test_sent", SECURITY, "A test message was sent to a SIEM destination."),
    (
        "notification_settings_changed",
        SECURITY,
        "The SMTP relay, a webhook or the notification templates changed.",
    ),
    (
        "password_rotation_failed",
        SECURITY,
        "A password change on the target failed; the current password was kept.",
    ),
    (
        "password_rotation_resolved",
        SECURITY,
        "An interrupted change was settled by checking which password logs in.",
    ),
    ("password_verified", SECURITY, "A password was verified by logging in to its target."),
    (
        "password_history_revealed",
        SECRET_ACCESS,
        "An earlier password of an account was revealed from its history.",
    ),
    (
        "target_connection_changed",
        SECURITY,
        "A resource's connection to its target (connector, host, pinned key) was changed.",
    ),
    (
        "target_host_key_refused",
        SECURITY,
        "A target presented a host key other than the pinned one; nothing was sent.",
    ),
    ("rotation_schedule_changed", SECURITY, "A rotation or verification schedule was changed."),
    # Brokered sessions through the SSH gateway (issue 30): the password used, never shown.
    (
        "session_started",
        SECRET_ACCESS,
        "A brokered SSH session to an account's target was opened through the gateway.",
    ),
    (
        "session_ended",
        SECRET_ACCESS,
        "A brokered session ended (duration, bytes, its recording's SHA-256 and size).",
    ),
    (
        "session_refused",
        SECURITY,
        "A brokered session was refused (entitlement, check-out, target or host key).",
    ),
    ("session_recording_read", SECRET_ACCESS, "A brokered session's recording was fetched."),
)


def get(name: str) -> Operation | None:
    """The operation named ``name``, or None when the catalogue has no such operation."""
    return OPERATIONS.get(name)


def switchable() -> frozenset[str]:
    """The names of the operations an org may stop recording (the routine ones)."""
    return frozenset(name for name, op in OPERATIONS.items() if op.switchable)
