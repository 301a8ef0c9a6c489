"""The edge without a server: the strict JSON reader, the string rule, field paths, and that
every string rule's JSON-schema pattern says what its check does."""

from __future__ import annotations

import re

import pytest

from server.core.errors import StrongroomError, ValidationFailed
from server.web import strict_json
from server.web.models.common import Text, validate_body
from server.web.models.users import UserCreate
from server.web.models.vault import PolicyCreate, ResourceCreate


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": -Infinity}', "invalid_json"),
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate_key"),
        (b"[" * 33 + b"]" * 33, "too_deep"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"a": ' + b"1" * 21 + b"}", "number_too_large"),
        (b'{"a": ' + b"9" * 5000 + b"}", "number_too_large"),
        (b'{"a": 9007199254740993}', "number_too_large"),
        (b'{"a": 1e999}', "number_too_large"),
        (b'{"a": 0.' + b"1" * 30 + b"}", "number_too_large"),
        (b'{"a": "\\u0000"}', "invalid_string"),
        (b'{"\\u0000": 1}', "invalid_string"),
        (b'{"a": ["ok", "\\udc00"]}', "invalid_string"),
        (b'{"a": "\\ud800x"}', "invalid_string"),
        (b"\xff", "invalid_json"),
        (b"{", "invalid_json"),
    ],
)
def test_strict_reader_refuses(raw, code):
    """Each refusal is a 400 with its stable code."""
    with pytest.raises(StrongroomError) as caught:
        strict_json.loads(raw)
    assert (caught.value.status, caught.value.code) == (400, code)


def test_strict_reader_keeps_good_json():
    """Ordinary JSON, astral characters (a valid surrogate pair) and the depth limit pass."""
    depth = b"[" * 32 + b"]" * 32
    assert strict_json.loads(depth) is not None
    data = strict_json.loads(b'{"a": "\\ud83d\\ude00", "n": -9007199254740992, "f": 1.5}')
    assert data == {"a": "\U0001f600", "n": -(2**53), "f": 1.5}


def test_invalid_string_names_its_path():
    """A NUL deep in a list names the dotted path to it."""
    with pytest.raises(StrongroomError) as caught:
        strict_json.loads(b'{"a": {"b": ["x", "y\\u0000"]}}')
    assert caught.value.extra["field"] == "a.b.1"


def test_field_errors_are_dotted_and_readable():
    """Nested errors name the path; messages are the contract's sentences."""
    with pytest.raises(ValidationFailed) as caught:
        validate_body(
            ResourceCreate, {"name": " ", "type": 1, "fields": {"k": "x" * 2001}, "extra": 1}
        )
    errors = {e["field"]: e["message"] for e in caught.value.extra["errors"]}
    assert errors == {
        "name": "must not be empty",
        "type": "must be a string",
        "fields.k": "must be at most 2000 characters",
        "extra": "is not a known field",
    }


def test_strip_and_passwords():
    """Names are stripped, passwords kept as typed, PATCH-style given() lists what was sent."""
    user = validate_body(
        UserCreate, {"username": " alice ", "role": "password_user", "password": " pw "}
    )
    assert (user.username, user.password) == ("alice", " pw ")
    assert set(user.given()) == {"username", "role", "password"}


def test_integers_are_json_integers():
    """5.0 is the integer 5; true is not an integer; bounds hold."""
    policy = validate_body(PolicyCreate, {"name": "p", "min_length": 5.0, "max_length": 9})
    assert policy.min_length == 5 and type(policy.min_length) is int
    for bad in (True, 5.5, "5", 0, 1025):
        with pytest.raises(ValidationFailed):
            validate_body(PolicyCreate, {"name": "p", "min_length": bad, "max_length": 9})


SAMPLES = [
    "",
    " ",
    "plain",
    "  padded  ",
    "tab\tinside",
    "line\nbreak",
    "bell\x07",
    "nul\x00",
    "zero\u200bwidth",
    "bidi\u202eflip",
    "caf\u00e9",
    "\u3000ideographic space\u3000",
    "a@b.co",
    " a@b.co ",
    "a@@b",
    "alice.smith",
    "-leading",
    "x" * 65,
]
RULES = [
    Text(64),
    Text(64, non_empty=True),
    Text(64, free=True),
    Text(64, free=True, non_empty=True),
    Text(64, non_empty=True, identifier=True),
    Text(64, strip=False, non_empty=True),
    Text(64, multiline=True, strip=False),
    Text(254, pattern=r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+"),
    Text(64, non_empty=True, pattern=r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.schema_pattern()[:40])
def test_schema_pattern_agrees_with_the_check(rule):
    """What the documented pattern (and maxLength) accepts, the check accepts, and the
    other way round: a client following the schema is never refused."""
    pattern = re.compile(rule.schema_pattern())
    for sample in SAMPLES:
        documented = bool(pattern.search(sample)) and len(sample) <= (rule.max_len or 10**9)
        try:
            rule.check(sample)
            accepted = True
        except Exception:
            accepted = False
        assert documented == accepted, (sample, rule.schema_pattern()[:80])
