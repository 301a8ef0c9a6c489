"""Login throttling and Argon2id password hashing."""

from __future__ import annotations

import pytest

from server.security.passwords import Argon2Params, PasswordHasher, check_login_password
from server.security.ratelimit import LoginThrottle


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


def test_spray_from_many_addresses_cannot_keep_the_user_out_of_its_known_address():
    """55 failures from 11 addresses (then one every 5 min) never block the user's known
    address, while every new address is slowed after a few guesses (issue 13, item 1)."""
    throttle = LoginThrottle()
    throttle.succeeded("victim", "10.0.0.5", now=0)
    now = 1.0
    allowed = 0
    for host in range(1, 12):
        for _ in range(5):
            if throttle.retry_after("victim", f"127.0.8.{host}", now=now) == 0:
                allowed += 1
                throttle.failed("victim", f"127.0.8.{host}", now=now)
            now += 0.1
    assert allowed <= throttle.per_user + 2  # few guesses across all the addresses
    assert throttle.retry_after("victim", "127.0.8.12", now=now) > 0  # new address: slowed
    assert throttle.retry_after("victim", "10.0.0.5", now=now) == 0  # known one: free
    for _ in range(24):  # one wrong guess every five minutes for two hours
        now += 300
        throttle.failed("victim", "127.0.8.1", now=now)
        assert throttle.retry_after("victim", "10.0.0.5", now=now + 1) == 0


def test_known_address_is_still_held_by_its_own_limits():
    """Guessing from a known address is slowed by the (user, address) limit."""
    throttle = LoginThrottle()
    throttle.succeeded("u", "10.0.0.5", now=0)
    for i in range(5):
        throttle.failed("u", "10.0.0.5", now=1 + i)
    assert throttle.retry_after("u", "10.0.0.5", now=5.5) > 0


def test_known_addresses_are_bounded():
    """A user keeps at most known_per_user addresses; the oldest is forgotten."""
    throttle = LoginThrottle(known_per_user=2)
    for i in range(3):
        throttle.succeeded("u", f"10.0.0.{i}", now=i)
    assert not throttle.is_known("u", "10.0.0.0", now=3)
    assert throttle.is_known("u", "10.0.0.2", now=3)


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
