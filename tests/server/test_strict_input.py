"""Strict input at the edge (issue 14): what Python's JSON reader lets through, charsets,
repeated parameters and over-long URLs all get a 4xx problem+json with a stable code."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}


async def send(admin, method: str, path: str, raw: bytes, headers: dict | None = None):
    """Send ``raw`` bytes as the body; return (status, problem, content type)."""
    status, body = await admin.call(method, path, data=raw, headers=headers or JSON)
    return status, body, admin.last_headers.get("Content-Type", "")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"name":"n","type":"Linux","fields":{"x":NaN}}', "invalid_json"),
        (b'{"name":"n","type":"Linux","fields":{"x":Infinity}}', "invalid_json"),
        (b'{"name":"n","type":"Linux","fields":{"x":-Infinity}}', "invalid_json"),
        (b'{"name":"n","type":"Linux","fields":{"k":"x\\u0000y"}}', "invalid_string"),
        (b'{"name":"n","type":"Linux","fields":{"k\\u0000":"v"}}', "invalid_string"),
        (b'{"name":"n","type":"Linux","fields":{"k":"\\ud800"}}', "invalid_string"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"name":"n","type":"Linux","fields":' + b'{"a":' * 40 + b"1" + b"}" * 41, "too_deep"),
        (b'{"name":"n","name":"m","type":"Linux"}', "duplicate_key"),
        (b'{"name":"n","type":"Linux","fields":{"x":1e400}}', "number_too_large"),
        (b'{"name":"n","type":"Linux","fields":{"x":9007199254740993}}', "number_too_large"),
        (b'{"name":"n","type":"Linux"} trailing', "invalid_json"),
        (b'{"name":"n","type":"Linux\xff"}', "invalid_json"),
    ],
)
async def test_resource_bodies_python_would_accept_are_refused(admin, raw, code):
    """The issue's 500s and their kin: each a 400 with its code, nothing created."""
    status, problem, ctype = await send(admin, "POST", "/orgs/MSPOrg/resources", raw)
    assert (status, problem["code"]) == (400, code), problem
    assert ctype.startswith(PROBLEM)
    assert problem["detail"]
    _, listing = await admin.call("GET", "/orgs/MSPOrg/resources")
    assert listing["items"] == []


async def test_nul_names_its_place(admin):
    """A NUL deep in the body says where it is, as a dotted path."""
    raw = b'{"name":"n","type":"Linux","fields":{"k":"x\\u0000y"}}'
    status, problem, _ = await send(admin, "POST", "/orgs/MSPOrg/resources", raw)
    assert (status, problem["field"]) == (400, "fields.k")


async def test_policy_with_a_5000_digit_length(admin):
    """min_length of 5,000 digits is number_too_large, not a crash in int()."""
    raw = b'{"name":"p","min_length":' + b"9" * 5000 + b',"max_length":20}'
    status, problem, _ = await send(admin, "POST", "/orgs/MSPOrg/password-policies", raw)
    assert (status, problem["code"]) == (400, "number_too_large")


async def test_policy_lengths_are_bounded_by_the_model(admin):
    """A length the reader accepts but the model bounds is a 422 naming the field."""
    body = {"name": "p", "min_length": 10**15, "max_length": 20}
    status, problem = await admin.call("POST", "/orgs/MSPOrg/password-policies", body)
    assert (status, problem["code"]) == (422, "validation_failed")
    assert problem["errors"][0]["field"] == "min_length"


async def test_nested_fields_are_named_by_dotted_path(admin):
    """A field error inside an object names the path: fields.<key>."""
    body = {"name": "n", "type": "Linux", "fields": {"serial": "x" * 3000}}
    status, problem = await admin.call("POST", "/orgs/MSPOrg/resources", body)
    assert (status, problem["code"]) == (422, "validation_failed")
    assert problem["errors"][0]["field"] == "fields.serial"
    body = {"name": "n", "type": "Linux", "fields": {"nested": {"a": 1}}}
    status, problem = await admin.call("POST", "/orgs/MSPOrg/resources", body)
    assert status == 422 and problem["errors"][0]["field"] == "fields.nested"


async def test_unknown_and_mistyped_fields(admin):
    """Unknown fields are refused; a number is not a string nor a boolean a number."""
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "n", "type": "Linux", "owner": "me"}
    )
    assert status == 422
    assert problem["errors"] == [{"field": "owner", "message": "is not a known field"}]
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/password-policies", {"name": "p", "min_length": True, "max_length": 9}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "min_length")
    status, problem = await admin.call("POST", "/orgs/MSPOrg/resources", {"name": 5, "type": "x"})
    assert problem["errors"] == [{"field": "name", "message": "must be a string"}]


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "windows-1252"])
async def test_non_utf8_charsets_are_refused(admin, charset):
    """A declared charset other than UTF-8 is 415 unsupported_charset, not decoded as UTF-8."""
    headers = {"Content-Type": f"application/json; charset={charset}"}
    raw = '{"name":"caf\u00e9","type":"Linux"}'.encode("latin-1")
    status, problem, _ = await send(admin, "POST", "/orgs/MSPOrg/resources", raw, headers)
    assert (status, problem["code"]) == (415, "unsupported_charset")


async def test_utf8_charset_is_fine(admin):
    """charset=utf-8 (any spelling) is accepted."""
    for charset in ("utf-8", "UTF8"):
        headers = {"Content-Type": f"application/json; charset={charset}"}
        raw = '{"name":"caf\u00e9 ' + charset + '","type":"Linux"}'
        status, body, _ = await send(admin, "POST", "/orgs/MSPOrg/resources", raw.encode(), headers)
        assert status == 201, body


async def test_repeated_query_parameter(admin):
    """?limit=1&limit=5 is 400 repeated_parameter, not 'the last one wins'."""
    status, problem = await admin.call("GET", "/orgs?limit=1&limit=5")
    assert (status, problem["code"], problem["parameter"]) == (400, "repeated_parameter", "limit")


async def test_query_values_are_checked(admin):
    """A query value of the wrong type or with a NUL is a 422 naming the parameter."""
    status, problem = await admin.call("GET", "/orgs?limit=ten")
    assert (status, problem["errors"][0]["field"]) == (422, "limit")
    status, problem = await admin.call("GET", "/orgs/MSPOrg/resources?q=a%00b")
    assert (status, problem["code"]) == (400, "invalid_characters")
    status, problem = await admin.call("GET", "/org-access-requests?status=whatever")
    assert (status, problem["errors"][0]["field"]) == (422, "status")


async def test_over_long_url_is_problem_json(admin):
    """A URL over 8 KB answers 414 problem+json (uri_too_long), not aiohttp's text/plain."""
    status, problem = await admin.call("GET", "/orgs/MSPOrg/resources?q=" + "a" * 9000)
    assert (status, problem["code"]) == (414, "uri_too_long")
    assert admin.last_headers["Content-Type"].startswith(PROBLEM)


async def test_login_with_bad_json_is_not_a_login_failure(api):
    """The public login route refuses malformed JSON with the same codes."""
    status, problem = await api.call(
        "POST", "/auth/login", data=b'{"username":"a","username":"b"}', headers=JSON
    )
    assert (status, problem["code"]) == (400, "duplicate_key")
