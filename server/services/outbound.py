"""Where the server may connect on a user's say-so: SIEM destinations, webhooks and the
connections of rotation targets (attacker finding 3). The one rule: never the vault host
itself (loopback, ``localhost``), link-local addresses (169.254.0.0/16, fe80::/10: the
cloud's metadata service), the unspecified address (0.0.0.0, ::, which reach this host) or
multicast; a name is resolved and every address it gives is checked. Private ranges stay
allowed: an MSP's SIEM and its targets live on private networks. ``[outbound]
allow_loopback = true`` lets loopback through (a test suite, or a receiver on this very
host on purpose); the rest is always refused.

Source: OWASP ASVS 5.0 V1.3.6 / V15.3 (server-side request forgery), the outside tester's
finding 3 (session 8).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket

from server.core.errors import field_error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The server will not connect there; the text says why, naming no resolved address
    beyond the one refused."""


class OutboundUnresolved(Exception):
    """The name did not resolve (now): nothing can be said about where it points."""


def address_problem(address: str, allow_loopback: bool = False) -> str | None:
    """Why the server must not connect to the IP address ``address`` (None: it may).

    IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are judged as the IPv4 address.
    Loopback is allowed only when ``allow_loopback``; link-local, unspecified and multicast
    never are.
    """
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "the unspecified address reaches this server itself"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address reaches this server itself"
    if ip.is_link_local:
        return "a link-local address (e.g. the cloud metadata service) is not allowed"
    if ip.is_multicast:
        return "a multicast address is not allowed"
    return None


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def _literal(host: str) -> str | None:
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None
    return bare


async def resolve(host: str, port: int, allow_loopback: bool = False) -> list[str]:
    """The addresses ``host`` stands for, each checked by ``address_problem`` (an IP
    literal is itself; a name is resolved without blocking the event loop).

    Raises:
        OutboundRefused: any address is refused (a name that also points at this host is
            refused as a whole: the connection might use that address).
        OutboundUnresolved: the name does not resolve.
    """
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
            if not allow_loopback:
                raise OutboundRefused(f"{host} is this server itself")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise OutboundUnresolved(f"{host} does not resolve") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise OutboundUnresolved(f"{host} does not resolve")
    for address in addresses:
        problem = address_problem(address, allow_loopback)
        if problem:
            raise OutboundRefused(
                problem if address == host else f"{host} points at {address}: {problem}"
            )
    return addresses


async def check_configured(host: str, port: int, allow_loopback: bool = False) -> str | None:
    """Why a destination set now at ``host`` is refused (None: accepted). A name that does
    not resolve now is accepted: it is checked again at each connection (``resolve``)."""
    try:
        await resolve(host, port, allow_loopback)
    except OutboundRefused as exc:
        return str(exc)
    except OutboundUnresolved:
        return None
    return None


async def refuse_forbidden(field: str, host: str, port: int, allow_loopback: bool) -> None:
    """Refuse (422 ``destination_not_allowed`` on ``field``) a destination being set at an
    address the server must not connect to (``check_configured``); SIEM destinations,
    webhooks and rotation target connections call it when they are set."""
    problem = await check_configured(host, port, allow_loopback)
    if problem:
        raise field_error(field, problem, code="destination_not_allowed")


def connect_failure(host: str, port: int, exc: BaseException, listener: str) -> str:
    """A failed connection to a receiver as a sentence (no Python exception text): "could
    not connect to 192.0.2.20:6514 (refused): check the address and that the collector
    listens". ``exc`` is the OSError or TimeoutError raised (aiohttp's connector error
    too: its ``os_error``); ``listener`` names what should listen ("the collector").
    SIEM forwarding and webhook deliveries say it (newcomer pass, session 10)."""
    inner = getattr(exc, "os_error", None) or exc
    number = getattr(inner, "errno", None)
    if isinstance(inner, ConnectionRefusedError) or number == errno.ECONNREFUSED:
        reason = "refused"
    elif isinstance(inner, TimeoutError) or number == errno.ETIMEDOUT:
        reason = "timed out"
    elif number in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN):
        reason = "no route"
    elif number:
        reason = os.strerror(number).lower()
    else:
        reason = "the connection failed"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"could not connect to {where} ({reason}): check the address and that {listener} listens"
