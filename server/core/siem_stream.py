"""Audit events as a SIEM receives them, and the receiver's check (plain data, no I/O).

A forwarded audit event is one syslog message (RFC 5424) whose structured data element
``strongroom@32473`` carries the event's org, its sequence number in the org's hash chain,
the chain link's hash and the previous link's hash, and a MAC keyed with the destination's
verification key (shown once, when the destination is made) over those and the body's
SHA-256. The body is the event as JSON, or as CEF (ArcSight Common Event Format).

The receiver's check (``strongroom audit verify-stream FILE``, ``verify_stream``) reads
the received messages, one a line, and reports per org: a gap (a sequence number never
received), a duplicate (the same event again: harmless, at-least-once delivery sends an
event again after a receiver or a node went away), an alteration (the same number with
other content, a previous hash that is not the previous event's hash, a MAC that does not
fit). Source of the rule: issue 31, item 1. 32473 is the private enterprise number
reserved for documentation (RFC 5612); a deployment may keep it, the SD-ID is fixed.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SD_ID = "strongroom@32473"
FACILITY_LOG_AUDIT = 13  # RFC 5424 table 1: "log audit"
SEVERITY = {"success": 6, "failure": 4}  # informational, warning
TEST_MSGID = "test"
AUDIT_MSGID = "audit"


# One encoder for every message (json.dumps with options makes a new one per call).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
# Values JSON and the structured data carry as they are (hex, UUIDs, names of words).
_PLAIN = re.compile(r"[0-9A-Za-z_.:+-]*")


def _canonical(fields: dict[str, Any]) -> bytes:
    return _ENCODER.encode(fields).encode()


def message_mac(key: bytes, org_id: str, seq: int, link_hash: str, prev: str, body: bytes) -> str:
    """The hex MAC a message carries: HMAC-SHA256 under the destination's verification key
    over the org, the sequence number, both hashes and the body's SHA-256."""
    body_sha = hashlib.sha256(body).hexdigest()
    if (
        type(seq) is int
        and _PLAIN.fullmatch(org_id)
        and _PLAIN.fullmatch(link_hash)
        and _PLAIN.fullmatch(prev)
    ):
        # The canonical JSON below, written directly (keys in order, nothing to escape).
        text = (
            f'{{"body_sha256":"{body_sha}","hash":"{link_hash}","org":"{org_id}",'
            f'"prev":"{prev}","seq":{seq}}}'
        ).encode()
    else:
        fields = {"org": org_id, "seq": seq, "hash": link_hash, "prev": prev}
        text = _canonical({**fields, "body_sha256": body_sha})
    return hmac.digest(key, text, "sha256").hex()


def _sd_value(value: str) -> str:
    # RFC 5424 section 6.3.3: '"', '\\' and ']' are escaped inside a PARAM-VALUE.
    if '"' not in value and "\\" not in value and "]" not in value:
        return value
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@functools.lru_cache(maxsize=256)
def _header_word(value: str, limit: int) -> str:
    word = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return word or "-"


def _stamp(at_text: str) -> str:
    """An event's ISO 8601 time as the header's UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if (
        len(at_text) == 32
        and at_text.endswith("+00:00")
        and at_text[19] == "."
        and at_text[4] == "-"
    ):
        return at_text[:26] + "Z"  # already UTC with microseconds (the forwarder's form)
    at = datetime.datetime.fromisoformat(at_text).astimezone(datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_body(event: dict[str, Any]) -> bytes:
    """The JSON body of an event (one line, ASCII only: nothing a receiver escapes)."""
    return _ENCODER.encode(event).encode()


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _cef_ext(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")


def cef_body(event: dict[str, Any], version: str) -> bytes:
    """The CEF body of an event: the operation as signature and name, the outcome as
    severity (3 success, 6 failure), the chain's fields as custom fields."""
    at = datetime.datetime.fromisoformat(event["at"])
    ext = {
        "rt": str(int(at.timestamp() * 1000)),
        "suser": event["actor"],
        "cs1Label": "org",
        "cs1": event["org"],
        "cs2Label": "hash",
        "cs2": event["hash"],
        "cs3Label": "prev",
        "cs3": event["prev_hash"],
        "cs4Label": "target",
        "cs4": f"{event['target_type']}:{event['target']}",
        "cs5Label": "actor_org",
        "cs5": event["actor_org"],
        "cn1Label": "seq",
        "cn1": str(event["seq"]),
        "outcome": event["outcome"],
        "msg": json.dumps(event["details"], sort_keys=True, ensure_ascii=True),
    }
    if event.get("ip"):
        ext["src"] = event["ip"]
    if event.get("reason"):
        ext["reason"] = event["reason"]
    severity = "6" if event["outcome"] == "failure" else "3"
    name = event["operation"]
    fields = ("CEF:0", "Strongroom", "Strongroom", version, name, name, severity)
    header = "|".join(_cef_header(v) for v in fields)
    return (header + "|" + " ".join(f"{k}={_cef_ext(v)}" for k, v in ext.items())).encode()


def syslog_message(
    *,
    key: bytes,
    event: dict[str, Any],
    body_format: str,
    hostname: str,
    version: str = "1",
    msgid: str = AUDIT_MSGID,
) -> bytes:
    """One RFC 5424 message for an event.

    Args:
        key: the destination's verification key (the MAC's key).
        event: the event's fields with ``org_id``, ``org``, ``seq``, ``hash`` and
            ``prev_hash`` (hex); ``at`` in ISO 8601 with zone.
        body_format: ``json`` or ``cef``.
        hostname: the sending node's name.
    Returns:
        The message, without framing (the transport adds it).
    """
    body = cef_body(event, version) if body_format == "cef" else json_body(event)
    mac = message_mac(key, event["org_id"], event["seq"], event["hash"], event["prev_hash"], body)
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY.get(event["outcome"], 5)
    sd = (
        f'[{SD_ID} org="{_sd_value(event["org_id"])}" orgname="{_sd_value(event["org"])}" '
        f'seq="{_sd_value(str(event["seq"]))}" event="{_sd_value(str(event.get("event_id", "")))}" '
        f'hash="{_sd_value(event["hash"])}" prev="{_sd_value(event["prev_hash"])}" mac="{mac}"]'
    )
    head = (
        f"<{pri}>1 {_stamp(event['at'])} {_header_word(hostname, 255)} strongroom - "
        f"{_header_word(msgid, 32)} {sd}"
    )
    return head.encode() + b" " + body


# --- the receiver's side --------------------------------------------------------------

_PARAM = re.compile(r'([A-Za-z0-9_.-]+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Received:
    """One message as received: its chain fields and its body."""

    line: int
    org: str
    seq: int
    link_hash: str
    prev: str
    mac: str
    body: bytes
    test: bool = False


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_line(text: str, line: int) -> Received | None:
    """A received line as ``Received``; None when it holds no Strongroom message.

    Accepts the raw RFC 5424 message (what rsyslog's ``%rawmsg%`` writes), with or without
    a prefix the receiver added before it, and a JSON line holding the JSON body alone
    (its MAC cannot be checked then: the structured data is not in it).

    Raises:
        ValueError: the line names Strongroom's SD-ID but cannot be read.
    """
    start = text.find("[" + SD_ID + " ")
    if start < 0:
        stripped = text.strip()
        if stripped.startswith("{"):
            data = json.loads(stripped)
            if "seq" in data and "hash" in data and "org_id" in data:
                return Received(
                    line,
                    data["org_id"],
                    int(data["seq"]),
                    data["hash"],
                    data["prev_hash"],
                    "",
                    stripped.encode(),
                )
        return None
    # The element ends at the first ']' outside a quoted value.
    i, quoted = start + 1, False
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "]" and not quoted:
            break
        i += 1
    else:
        raise ValueError(f"line {line}: the structured data does not end")
    params = {k: _unescape(v) for k, v in _PARAM.findall(text[start + 1 + len(SD_ID) : i])}
    body = text[i + 1 :]
    if body.startswith(" "):
        body = body[1:]
    body = body.rstrip("\r\n")
    if body.startswith("\ufeff"):
        body = body[1:]
    head = text[:start].split()
    msgid = head[-1] if head else ""
    try:
        return Received(
            line,
            params["org"],
            int(params["seq"]),
            params["hash"],
            params["prev"],
            params.get("mac", ""),
            body.encode(),
            test=msgid == TEST_MSGID,
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"line {line}: structured data without {exc}") from exc


@dataclass
class StreamReport:
    """What the check found for one org's stream."""

    org: str
    events: int = 0  # distinct sequence numbers received
    first: int | None = None
    last: int | None = None
    duplicates: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)  # ranges, inclusive
    altered: list[str] = field(default_factory=list)
    unchecked_macs: int = 0

    @property
    def ok(self) -> bool:
        """No gap and no alteration (duplicates are allowed: at-least-once delivery)."""
        return not self.missing and not self.altered

    def lines(self) -> list[str]:
        """The report in words, one finding a line."""
        state = "OK" if self.ok else "BROKEN"
        out = [
            f"org {self.org}: {state}: {self.events} event(s), seq {self.first}..{self.last}, "
            f"{self.duplicates} duplicate(s)"
        ]
        for low, high in self.missing:
            out.append(f"  missing: seq {low}" + (f"..{high}" if high != low else ""))
        out.extend(f"  altered: {a}" for a in self.altered)
        if self.unchecked_macs:
            out.append(f"  {self.unchecked_macs} MAC(s) not checked (no verification key given)")
        return out


def verify_stream(
    lines: Iterable[str], keys: dict[str, bytes] | None = None, key: bytes | None = None
) -> list[StreamReport]:
    """Check received messages, per org: gaps, duplicates and alterations.

    Args:
        lines: the received messages, one a line (others are skipped).
        keys: org id -> verification key; ``key``: one key for every org.
    Returns:
        One report per org seen, in order of first appearance. The first number received
        is where the stream starts (a destination added later starts at the chain's then
        head, a purge leaves a checkpoint): numbers before it are not reported missing.
    Raises:
        ValueError: a line names Strongroom's structured data but cannot be read.
    """
    seen: dict[str, dict[int, Received]] = {}
    reports: dict[str, StreamReport] = {}
    for number, text in enumerate(lines, start=1):
        msg = parse_line(text, number)
        if msg is None or msg.test:
            continue
        report = reports.setdefault(msg.org, StreamReport(msg.org))
        org_key = (keys or {}).get(msg.org, key)
        if not msg.mac:
            report.unchecked_macs += 1
        elif org_key is None:
            report.unchecked_macs += 1
        else:
            want = message_mac(org_key, msg.org, msg.seq, msg.link_hash, msg.prev, msg.body)
            if not hmac.compare_digest(want, msg.mac):
                report.altered.append(f"seq {msg.seq} (line {number}): its MAC does not fit")
                continue
        by_seq = seen.setdefault(msg.org, {})
        before = by_seq.get(msg.seq)
        if before is None:
            by_seq[msg.seq] = msg
        elif (before.link_hash, before.prev, before.body) == (msg.link_hash, msg.prev, msg.body):
            report.duplicates += 1
        else:
            report.altered.append(
                f"seq {msg.seq} received twice with different content "
                f"(lines {before.line} and {number})"
            )
    for org, by_seq in seen.items():
        report = reports[org]
        numbers = sorted(by_seq)
        report.events = len(numbers)
        report.first, report.last = numbers[0], numbers[-1]
        for a, b in itertools.pairwise(numbers):
            if b != a + 1:
                report.missing.append((a + 1, b - 1))
            elif by_seq[b].prev != by_seq[a].link_hash:
                report.altered.append(
                    f"seq {b} (line {by_seq[b].line}) does not follow seq {a}: "
                    "its previous hash is not that event's hash"
                )
    return list(reports.values())
