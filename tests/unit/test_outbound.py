"""The outbound address rule (server/services/outbound.py; attacker finding 3): never this
host, link-local, unspecified or multicast; private ranges allowed; loopback only when
the configuration allows it."""

from __future__ import annotations

import asyncio
import errno

import aiohttp
import pytest

from server.services import outbound


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1%eth0",
        "0.0.0.0",  # noqa: S104
        "0.1.2.3",
        "::",
        "224.0.0.251",
        "ff02::1",
    ],
)
def test_refused(address):
    assert outbound.address_problem(address) is not None


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.2", "172.16.0.1", "fd00::1", "8.8.8.8"])
def test_allowed(address):
    assert outbound.address_problem(address) is None


def test_loopback_only_when_allowed():
    assert outbound.address_problem("127.0.0.1", allow_loopback=True) is None
    assert outbound.address_problem("169.254.169.254", allow_loopback=True) is not None
    unspecified = "0.0.0.0"  # noqa: S104 - an address refused, not bound
    assert outbound.address_problem(unspecified, allow_loopback=True) is not None


def test_names_are_resolved():
    with pytest.raises(outbound.OutboundRefused):
        asyncio.run(outbound.resolve("localhost", 443))
    with pytest.raises(outbound.OutboundRefused):
        asyncio.run(outbound.resolve("[::1]", 443))
    assert asyncio.run(outbound.resolve("localhost", 443, allow_loopback=True))
    assert asyncio.run(outbound.check_configured("no-such-host.invalid", 443)) is None


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('192.0.2.20', 6514)"),
         "refused"),
        (OSError(errno.ECONNREFUSED, "Connect call failed ('192.0.2.20', 6514)"), "refused"),
        (TimeoutError(), "timed out"),
        (OSError(errno.EHOSTUNREACH, "Connect call failed ('192.0.2.20', 6514)"), "no route"),
        (OSError(errno.ENETUNREACH, "Connect call failed ('192.0.2.20', 6514)"), "no route"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), "the connection failed"),
    ],
)  # fmt: skip
def test_a_failed_connection_is_a_sentence(exc, reason):
    """SIEM and webhook deliveries say why a connection failed in words, never Python's
    exception text (newcomer pass, session 10: "Connect call failed ('192.0.2.20', 6514)")."""
    said = outbound.connect_failure("192.0.2.20", 6514, exc, "the collector")
    assert said == (
        f"could not connect to 192.0.2.20:6514 ({reason}): check the address and that the "
        "collector listens"
    )
    assert "Connect call" not in said and "Errno" not in said


def test_aiohttp_connector_error_is_a_sentence():
    """aiohttp's connector error (a webhook) says its OS error's reason."""
    key = aiohttp.client_reqrep.ConnectionKey("192.0.2.20", 443, True, True, None, None, None)
    exc = aiohttp.ClientConnectorError(key, OSError(errno.EHOSTUNREACH, "Connect call failed"))
    said = outbound.connect_failure("hooks.example", 443, exc, "the webhook's server")
    assert said.startswith("could not connect to hooks.example:443 (no route): ")
    assert outbound.connect_failure("::1", 9, TimeoutError(), "x").startswith(
        "could not connect to [::1]:9 (timed out)"
    )
