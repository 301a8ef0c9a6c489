"""Login throttling and Argon2id password hashing."""

from __future__ import annotations

import pytest

from server.passwords import Argon2Params, PasswordHasher, check_login_password
from server.ratelimit import LoginThrottle


def test_throttle_delays_after_threshold_and_caps_the_delay():
    """Five failures from one address delay that pair; the delay never exceeds the cap."""
    throttle = LoginThrottle(max_delay=300)
    for i in range(5):
        assert throttle.retry_after("u", "1.1.1.1", now=100 + i) == 0
        throttle.failed("u", "1.1.1.1", now=100 + i)
    assert throttle.retry_after("u", "1.1.1.1", now=104.5) >= 1
    for i in range(40):
        throttle.failed("u", "1.1.1.1", now=200 + i)
    assert throttle.retry_after("u", "1.1.1.1", now=240) <= 300


def test_attacker_elsewhere_does_not_lock_out_the_victim():
    """Failures from an attacker's address do not stop the victim's own address."""
    throttle = LoginThrottle()
    for i in range(10):
        throttle.failed("victim", "6.6.6.6", now=i)
    assert throttle.retry_after("victim", "6.6.6.6", now=10) > 0
    assert throttle.retry_after("victim", "10.0.0.5", now=10) == 0


def test_throttle_forgets_after_quiet_window_and_on_success():
    """Counters expire after the window and a success clears the user's count."""
    throttle = LoginThrottle(window=900)
    for i in range(8):
        throttle.failed("u", "a", now=i)
    assert throttle.retry_after("u", "a", now=8) > 0
    assert throttle.retry_after("u", "a", now=8 + 901) == 0
    for i in range(8):
        throttle.failed("u", "a", now=2000 + i)
    throttle.succeeded("u", "a")
    assert throttle.retry_after("u", "a", now=2008) == 0


def test_argon2id_hash_verify_and_rehash():
    """Hashes are Argon2id PHC strings; verify is exact; weaker hashes ask for rehash."""
    weak = PasswordHasher(Argon2Params(19456, 2, 1))
    strong = PasswordHasher(Argon2Params(19456, 3, 1))
    phc = weak.hash_sync("correct horse battery")
    assert phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert weak.verify_sync("correct horse battery", phc)
    assert not weak.verify_sync("correct horse batterz", phc)
    assert not weak.verify_sync("x", "not a hash")
    assert strong.needs_rehash(phc)
    assert not weak.needs_rehash(phc)


def test_parameters_below_owasp_minimum_are_refused():
    """The hasher refuses parameters weaker than OWASP's minimum."""
    with pytest.raises(ValueError, match="OWASP"):
        PasswordHasher(Argon2Params(8192, 2, 1))


@pytest.mark.parametrize(
    ("password", "ok"), [("short", False), ("a" * 12, True), ("Alice1234567", False)]
)
def test_login_password_rules(password, ok):
    """Login passwords need 12+ characters and must not be the username."""
    assert (check_login_password(password, "alice1234567") is None) == ok
