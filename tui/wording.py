"""Words, not the API: the server's refusals as a TUI user reads them.

The server's problem+json ``detail`` is written for every client, so a few say how to
call the API ("send 'Authorization: Bearer <token>'", "or null", ``POST /org-access-
requests {"kind": …}``, a field path such as ``fields.serial``). The TUI says the same
thing in its own words: what happened and what to do here (issue 35). ``readable`` is the
one place that rewrites them; ``tests/tui/test_wording.py`` walks the server's refusals
and fails on TUI text with JSON, a header name, "null" or a field path.
"""

from __future__ import annotations

import re

from server.core.operations import OPERATIONS  # shared plain data

# (pattern, the TUI's words), applied in order.
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"send 'Authorization: Bearer <token>' \(log in first\)"),
        "the session has ended; log in again",  # the login screen says why it may have
    ),
    (
        re.compile(r"a new account manager needs an approved request: POST /org-access-requests.*"),
        "a new account manager needs a second administrator's approval: file the request "
        "from Access (F4), m",
    ),
    (
        re.compile(r"a new display name needs an approved request: POST /org-access-requests.*"),
        "a new display name needs a second administrator's approval: file the request "
        "from Access (F4)",
    ),
    (
        re.compile(r'\(or send "generate": true\)'),
        "(or leave the password empty to generate one)",
    ),
    (re.compile(r"\(or null for no limit\)"), "(or empty for no limit)"),
    (re.compile(r"\btrue or false\b"), "yes or no"),
    (re.compile(r"\b(\w+): true\b"), r"\1"),
    (re.compile(r",? or null\b"), ", or empty"),
    (re.compile(r"\bnull\b"), "empty"),
    (re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) /\S+"), "the request"),
    (re.compile(r"\s*\{[^{}]*\}"), ""),  # a JSON fragment
]
# A field path as the server names nested fields ('fields.serial', 'members.0'); only
# these parents, so a host or file name typed by a user ('db01.example.net') stays.
_FIELD_PATH = re.compile(r"\b(?:fields|members|approvers|resources|categories|choices)(?:\.\w+)+")


def field_label(path: str) -> str:
    """A field's name as a label: 'full_name' → 'Full name', 'fields.serial' → 'Serial',
    'approvers[0]' → 'Approvers' (never the path)."""
    parts = [p for p in re.split(r"[.\[\]]", path or "") if p and not p.isdigit()]
    name = parts[-1] if parts else ""
    return name.replace("_", " ").strip().capitalize() or "Request"


def readable(text: str) -> str:
    """The server's ``detail`` (or a field error's message) in the TUI's words: no header
    names, JSON, "null", API paths or field paths."""
    for pattern, words in _REWRITES:
        text = pattern.sub(words, text)
    return _FIELD_PATH.sub(lambda m: repr(field_label(m.group(0)).lower()), text)


def readable_problem(problem: dict) -> dict:
    """A problem+json answer with its ``detail`` and each field error's ``message`` in
    the TUI's words (codes and field names kept: the forms place errors by them)."""
    out = dict(problem)
    if isinstance(out.get("detail"), str):
        out["detail"] = readable(out["detail"])
    errors = out.get("errors")
    if isinstance(errors, list):
        out["errors"] = [
            {**e, "message": readable(str(e.get("message", "")))} if isinstance(e, dict) else e
            for e in errors
        ]
    return out


def operation_words(operation: str) -> str:
    """An audited operation as words: 'password_revealed' → 'password revealed' (the
    audit lists and the audit settings; the event's details add the catalogue's
    sentence, ``operation_meaning``)."""
    return operation.replace("_", " ")


def operation_meaning(operation: str) -> str:
    """What the operation records, as the server's catalogue says it ('An account's
    password (and notes) was revealed.'); '' for an operation the catalogue lacks."""
    known = OPERATIONS.get(operation)
    return known.description if known is not None else ""


_ROLE_WORDS = {  # the two administrator roles must not read alike in a narrow column
    "privileged_administrator": "PRIVILEGED admin",
    "administrator": "administrator",
}


def role_words(role: str) -> str:
    """A role as lists and pickers show it: 'password_user' → 'password user';
    'privileged_administrator' → 'PRIVILEGED admin', so it never reads like (or is cut
    to) 'administrator' (issue 35)."""
    return _ROLE_WORDS.get(role, role.replace("_", " "))


# A field error's message that only completes its field's label ('must be a number').
_PREDICATE = re.compile(
    r"^(?:must|is|are|was|cannot|can|should|may|needs?|does|do|has|have|not|too|already|"
    r"contains?|exceeds?|expected|invalid|required|unknown|missing)\b",
    re.IGNORECASE,
)
_COMMON_START = {"the", "only", "you", "a", "an", "this", "that", "no", "it", "its", "there"}


def field_refusal(field: str, message: str) -> str:
    """A field error about a field the form does not show, as one sentence: 'Port must be
    a number.' when the message completes the field's label, else the message itself
    ('carol is already its own person.'; never 'Username carol is …')."""
    message = message.strip().rstrip(".")
    if not message:
        return f"{field_label(field)} was refused."
    if _PREDICATE.match(message):
        return f"{field_label(field)} {message}."
    first = message.split(maxsplit=1)[0]
    if first in _COMMON_START:
        message = message[0].upper() + message[1:]
    return f"{message}."


# An audit event's outcome and its reason code in words (issue 35: never a snake_case
# code). The reasons are the server's stable codes: a target's (server/services/
# connectors/base.py REASONS, also sent prefixed 'target_'), a refused login's and a
# refused reveal's; a code not listed reads as its words ('user_gone' → 'user gone').
_OUTCOME_WORDS = {"success": "succeeded", "failure": "failed"}
_REASON_WORDS = {
    "unreachable": "the target could not be reached",
    "timeout": "the target did not answer in time",
    "host_key_unknown": "no host key is pinned for the target yet",
    "host_key_changed": "the target presented a host key other than the pinned one",
    "tls_failed": "the TLS connection to the target failed",
    "login_failed": "the target refused the login",
    "refused": "the target refused the password change",
    "no_reconciliation_account": "the reconciliation account is missing",
    "misconfigured": "the connection settings are incomplete",
    "not_allowed": "the target's address is not allowed",
    "wrong_password": "wrong user name or password",
    "unknown_user": "no such user",
    "user_disabled": "the user is disabled",
    "ssh_key_expired": "the SSH key has expired",
    "https_login_first": "the user must log in over HTTPS first",
    "too_many_denials": "too many refusals in a row",
    "ciphertext_invalid": "the stored secret could not be decrypted",
}
_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def is_code(text: str) -> bool:
    """Whether ``text`` is a snake_case code ('host_key_changed'), not words."""
    return bool(_CODE.match(text))


def code_words(code: str) -> str:
    """A stable code as words: 'host_key_changed' → 'the target presented a host key
    other than the pinned one' (``_REASON_WORDS``), else its words ('user_gone' → 'user
    gone')."""
    words = _REASON_WORDS.get(code) or _REASON_WORDS.get(code.removeprefix("target_"))
    return words or code.replace("_", " ")


def outcome_words(outcome: str, reason: str | None = None) -> str:
    """An audit event's Outcome line: 'succeeded', or 'failed: the target presented a
    host key other than the pinned one' (``reason``: the event's code)."""
    said = _OUTCOME_WORDS.get(outcome) or code_words(outcome)
    return f"{said}: {code_words(reason)}" if reason else said


# What the SSH gateway refused on a logged-in connection (gateway_request_refused's
# reason): the gateway opens only the TUI or a brokered connect (issue 30).
GATEWAY_REQUESTS = {
    "exec": "a command (exec)",
    "sftp": "a file transfer (sftp)",
    "subsystem": "an SSH subsystem",
    "shell_without_pty": "a shell without a terminal",
    "port_forwarding": "port forwarding",
    "remote_port_forwarding": "remote port forwarding",
    "unix_socket_forwarding": "socket forwarding",
}
GATEWAY_WAY = "the gateway opens only the TUI or connect"
VIA_WORDS = {"ssh_gateway": "the SSH gateway", "https": "HTTPS", "api": "the API"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 client org', '5 alert events': a count with its noun in the singular or the
    plural (issue 35: never 'org(s)')."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


def event_outcome_words(event: dict) -> str:
    """An audit event's Outcome line in words, the event's kind considered: a refused
    gateway request says what was refused and the way ('refused: a command (exec) — the
    gateway opens only the TUI or connect'); a refused API request 'refused: …'; else
    ``outcome_words``."""
    reason = event.get("reason")
    if event.get("operation") == "gateway_request_refused" and reason:
        what = GATEWAY_REQUESTS.get(reason) or code_words(reason)
        return f"refused: {what} — {GATEWAY_WAY}"
    if event.get("operation") == "access_denied" and event.get("outcome") == "failure":
        return "refused" + (f": {code_words(reason)}" if reason else "")
    return outcome_words(event.get("outcome") or "", reason)


def detail_line(key: str, value: object) -> str | None:
    """One detail of an audit event said as a whole line where its key and value read
    better together ('via the SSH gateway', 'answer: refused (403)', 'within 60 s');
    None: the caller says it as 'key: value'."""
    if key == "via" and isinstance(value, str):
        return f"via {VIA_WORDS.get(value) or code_words(value)}"
    if key == "status" and isinstance(value, int) and not isinstance(value, bool):
        said = "refused" if 400 <= value < 500 else "failed" if value >= 500 else "done"
        return f"answer: {said} ({value})"
    if key == "window_seconds" and isinstance(value, int | float):
        return f"counted within {value:g} s"
    if key == "request" and isinstance(value, str) and value in GATEWAY_REQUESTS:
        return f"request: {GATEWAY_REQUESTS[value]}"
    return None
