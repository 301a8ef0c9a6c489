"""The messages a SIEM receives and the receiver's check (server/core/siem_stream.py):
a gap, a duplicate and an alteration are each found; escaping survives the round trip."""

from __future__ import annotations

import hashlib

from server.core import siem_stream

KEY = bytes(range(32))
ORG = "4b1f5a36-5c1e-4f1b-9a59-6b9a0e6a2b10"


def _stream(count: int, body_format: str = "json") -> list[str]:
    prev = "00" * 32
    lines = []
    for seq in range(1, count + 1):
        link = hashlib.sha256(f"{prev}{seq}".encode()).hexdigest()
        event = {
            "org_id": ORG,
            "org": 'Acme"]\\',
            "seq": seq,
            "event_id": 100 + seq,
            "at": "2026-12-07T04:00:00.000001+00:00",
            "actor": "admin",
            "actor_org": "MSPOrg",
            "ip": "127.0.0.1",
            "operation": "resource_created",
            "target_type": "resource",
            "target": f"r|{seq}=x]",
            "outcome": "success",
            "reason": None,
            "details": {"name": 'caf\u00e9 ] " \\ \n'},
            "node": "n1",
            "hash": link,
            "prev_hash": prev,
        }
        message = siem_stream.syslog_message(
            key=KEY, event=event, body_format=body_format, hostname="n1"
        )
        assert b"\n" not in message
        lines.append("2026-12-07 prefix " + message.decode())
        prev = link
    return lines


def test_an_intact_stream_with_a_duplicate_holds():
    for body_format in ("json", "cef"):
        lines = _stream(5, body_format)
        (report,) = siem_stream.verify_stream([*lines, lines[2], "unrelated line"], key=KEY)
        assert report.ok, report.lines()
        assert (report.events, report.first, report.last, report.duplicates) == (5, 1, 5, 1)
        assert report.org == ORG


def test_a_gap_is_reported():
    lines = _stream(6)
    (report,) = siem_stream.verify_stream(lines[:2] + lines[4:], key=KEY)
    assert not report.ok
    assert report.missing == [(3, 4)]
    assert "missing: seq 3..4" in "\n".join(report.lines())


def test_an_altered_body_or_chain_is_reported():
    lines = _stream(4)
    changed = lines[1].replace('"actor":"admin"', '"actor":"mallory"')
    (report,) = siem_stream.verify_stream([lines[0], changed, *lines[2:]], key=KEY)
    assert not report.ok and "seq 2" in report.altered[0] and "MAC" in report.altered[0]
    # Without the key the MAC cannot be checked, but a seq received twice with other
    # content still shows, and so does a previous hash that is not the previous event's.
    (report,) = siem_stream.verify_stream([*lines, changed])
    assert not report.ok and "received twice" in report.altered[0]
    assert report.unchecked_macs == 5
    other = _stream(4)[2].replace(ORG, ORG)  # the same message: intact
    assert siem_stream.verify_stream([*lines[:2], other, lines[3]])[0].ok
    forged = lines[2].replace('prev="', 'prev="ff', 1)
    (report,) = siem_stream.verify_stream([*lines[:2], forged, lines[3]])
    assert any("does not follow" in a for a in report.altered)
    # A wrong key: every MAC fails.
    (report,) = siem_stream.verify_stream(lines, key=bytes(32))
    assert len(report.altered) == 4


def test_test_messages_are_skipped_and_json_lines_read():
    event = {
        "org_id": ORG, "org": "A", "seq": 0, "event_id": 0, "at": "2026-12-07T04:00:00+00:00",
        "actor": "a", "actor_org": "M", "ip": "", "operation": "siem_test_sent",
        "target_type": "", "target": "", "outcome": "success", "reason": None,
        "details": {}, "node": "", "hash": "0" * 64, "prev_hash": "0" * 64,
    }  # fmt: skip
    test = siem_stream.syslog_message(
        key=KEY, event=event, body_format="json", hostname="n", msgid=siem_stream.TEST_MSGID
    ).decode()
    assert siem_stream.verify_stream([test]) == []
    bodies = [line.split("] ", 1)[1] for line in _stream(3)]
    (report,) = siem_stream.verify_stream(bodies)
    assert report.ok and report.events == 3 and report.unchecked_macs == 3


def test_password_expiry_words():
    """The vault's words for a password's expiry (issue 31, item 3)."""
    import datetime

    from server.core.password_policy import expires_at, expiry_words

    now = datetime.datetime(2026, 12, 7, 12, tzinfo=datetime.UTC)
    changed = now - datetime.timedelta(days=87, hours=1)
    assert expires_at(changed, None) is None and expiry_words(None, now) == ""
    assert expiry_words(expires_at(changed, 90), now) == "expires in 2 d"
    assert expiry_words(expires_at(changed, 87), now) == "expired"
    assert expiry_words(now + datetime.timedelta(hours=5), now) == "expires today"


def test_messages_are_byte_for_byte_as_before_the_fast_path():
    """The forwarder's fast path (a shared encoder, the MAC's canonical JSON written
    directly, the header's time cut from the event's UTC time, escaping skipped when
    nothing needs it) sends exactly the bytes the plain implementation sent: the SHA-256
    of each message, JSON and CEF, with values that need escaping, a time in another zone
    and a previous hash that is no hex (the slow paths)."""
    event = {
        "org_id": "5f0c2a8e-0d7e-4c1a-9a55-3d2b1c0e9f11",
        "org": 'Acme "EU" [a]\\b',
        "seq": 42,
        "event_id": 4242,
        "at": "2026-12-07T12:34:56.789012+00:00",
        "actor": "admin",
        "actor_org": "MSPOrg",
        "ip": "10.0.0.9",
        "operation": "password_revealed",
        "target_type": "account",
        "target": "db/sa=x|y",
        "outcome": "success",
        "reason": "ticket \u00e9 7",
        "details": {"z": [1, None], "a": "\u00fc\n"},
        "node": "node-1",
        "hash": "ab" * 32,
        "prev_hash": "cd" * 32,
    }
    other = {
        **event,
        "at": "2026-12-07T14:34:56+02:00",
        "outcome": "failure",
        "reason": None,
        "ip": "",
        "prev_hash": 'x"]',
    }
    got = [
        hashlib.sha256(
            siem_stream.syslog_message(
                key=KEY, event=e, body_format=f, hostname="node 1\u00e9", version="1"
            )
        ).hexdigest()
        for e in (event, other)
        for f in ("json", "cef")
    ]
    assert got == [
        "ed07a95cb59e2b5201db89d20f86862b66863f46f1e6fc5f6267cfc78c8a1bc9",
        "f6a7dca044d45712af966499caea110b0945c3a59f15c462542ae662223bb93d",
        "1766bd3e609fd9a9990513fd9b64b6f679e265482ecf69e54adce631e389eee8",
        "519a12bd6216d7c5ac05a59e439266a18e78e778b8be82588d6cf3530de263c7",
    ]
