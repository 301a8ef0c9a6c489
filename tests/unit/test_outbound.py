"""The outbound address rule (server/services/outbound.py; attacker finding 3): never this
host, link-local, unspecified or multicast; private ranges allowed; loopback only when
the configuration allows it."""

from __future__ import annotations

import asyncio

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
