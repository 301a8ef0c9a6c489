"""Strict JSON for request bodies: what ``json.loads`` would let through, refused with a code.

Python's reader accepts ``NaN`` and ``Infinity``, keeps the last of two equal keys, reads
integers of thousands of digits (and then fails far away), recurses until it runs out of
stack, and hands over lone surrogates and NUL characters that PostgreSQL cannot store.
Here each of those is a 400 problem+json with a stable code, before any handler runs:

=====================  ==========================================================
``invalid_json``       not JSON (syntax, ``NaN``/``Infinity``, bytes that are not UTF-8)
``duplicate_key``      the same key twice in one object
``too_deep``           arrays and objects nested deeper than ``MAX_DEPTH``
``number_too_large``   an integer beyond ±2**53 or a number of more than ``MAX_DIGITS`` digits
``invalid_string``     a NUL character or a lone surrogate in a string or key
=====================  ==========================================================
"""

from __future__ import annotations

import json
import re
from typing import Any

from server.core.errors import BadRequest, coded

MAX_DEPTH = 32
MAX_DIGITS = 20
SAFE_INT = 2**53
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


class _Refused(Exception):
    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("duplicate_key", f"the key {key[:64]!r} appears twice in one object")
        out[key] = value
    return out


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused("number_too_large", f"a number has more than {MAX_DIGITS} digits")
    value = int(text)
    if not -SAFE_INT <= value <= SAFE_INT:
        raise _Refused("number_too_large", "an integer is beyond ±2**53")
    return value


def _float(text: str) -> float:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    if len(mantissa) > MAX_DIGITS or len(text) > 2 * MAX_DIGITS:
        raise _Refused("number_too_large", f"a number has more than {MAX_DIGITS} digits")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused("number_too_large", "a number is too large")
    return value


def _constant(name: str) -> Any:
    raise _Refused("invalid_json", f"{name} is not a JSON number")


def _check(value: Any, depth: int, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and NUL or lone surrogates in any string."""
    if isinstance(value, str):
        if _BAD_CHAR.search(value):
            raise _Refused("invalid_string", _string_problem(value, path), path)
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if _BAD_CHAR.search(key):
                raise _Refused("invalid_string", _string_problem(key, path, "key"), path)
            _check(item, depth + 1, where)
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for index, item in enumerate(value):
            _check(item, depth + 1, f"{path}.{index}" if path else str(index))


def _string_problem(value: str, path: str, what: str = "string") -> str:
    where = f" (at {path[:200]})" if path else ""
    if "\x00" in value:
        return f"a {what} holds a NUL character{where}"
    return f"a {what} holds a lone surrogate, which is not a Unicode character{where}"


def _too_deep() -> _Refused:
    return _Refused("too_deep", f"arrays and objects are nested deeper than {MAX_DEPTH}")


def _reader() -> json.JSONDecoder:
    return json.JSONDecoder(
        object_pairs_hook=_pairs,
        parse_int=_integer,
        parse_float=_float,
        parse_constant=_constant,
    )


_READER = _reader()  # made once: a reader per request cost about 1 % of a reveal (issue 28)


def loads(raw: bytes) -> Any:
    """Parse ``raw`` (UTF-8 JSON) strictly; raise a 400 StrongroomError with a stable code."""
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused("invalid_json", "the request body is not UTF-8") from None
        try:
            data = _READER.decode(text)
        except json.JSONDecodeError as exc:
            raise _Refused(
                "invalid_json",
                f"the request body is not valid JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno})",
            ) from None
        except RecursionError:  # the C reader recurses per level; Python stops it in time
            raise _too_deep() from None
        _check(data, 0, "")
        return data
    except _Refused as refused:
        extra = {} if refused.field is None else {"field": refused.field[:200]}
        raise coded(BadRequest, refused.code, refused.detail, **extra) from None
