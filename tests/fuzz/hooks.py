"""Schemathesis hooks for the fuzz stage (loaded through SCHEMATHESIS_HOOKS).

``positive_data_not_malformed``: a request generated to fit the schema must never be
refused by the request models or the strict JSON reader. The fuzz server marks such a
refusal with ``X-Refused-By: request``; a refusal by a domain rule (a weak password, a
minimum above a maximum, a cursor this list never gave) is not marked, and stays allowed.
"""

from __future__ import annotations

import schemathesis


@schemathesis.check
def positive_data_not_malformed(ctx, response, case):
    """Fail when schema-valid data is refused as malformed."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    refused = response.headers.get("x-refused-by") or []
    if "request" in refused:
        raise AssertionError(
            f"schema-valid request refused as malformed: {response.status_code} "
            f"{response.text[:500]}"
        )
    return None
