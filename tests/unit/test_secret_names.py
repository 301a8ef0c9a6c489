"""The one rule of which field names may hold a secret (server/core/secret_names.py)."""

from __future__ import annotations

from server.core.secret_names import answer_holds_secret, names_secret


def test_names_by_their_words():
    for name in (
        "password",
        "new_password",
        "token",
        "key",
        "private_key",
        "totp_secret",
        "token_hash",
        "Passphrase",
    ):
        assert names_secret(name), name
    for name in (
        "password_policy",
        "key_id",
        "totp_required",
        "username",
        "code",
        "recovery_codes",
        "fingerprint",
    ):
        assert not names_secret(name), name


def test_answers_with_one_time_codes_hold_a_secret():
    assert answer_holds_secret({"recovery_codes": ["abcd-efgh"]})
    assert answer_holds_secret({"username": "a", "activation_code": "x", "expires_at": "t"})
    assert answer_holds_secret({"items": [{"name": "k", "key": "sr_..."}]})
    assert not answer_holds_secret({"recovery_codes_remaining": 9, "id": "u"})
    assert not answer_holds_secret({"items": [{"line": 1, "code": "name_taken"}]})
