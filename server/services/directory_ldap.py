"""Talking LDAP to an org's directory (issue 32): TLS always, binds, searches, escaping.

The library is ldap3 (pure Python, so it installs from a wheel everywhere the server runs,
Windows included; bonsai and python-ldap ship no Linux wheel and build against libldap and
SASL headers). ldap3 is synchronous: every exchange here runs in a worker thread
(``asyncio.to_thread``) with short connect and receive timeouts, so a slow or silent
directory never holds the event loop.

TLS: ``ldaps://`` or ``ldap://`` with StartTLS, never plain (``DirectoryRefused``); the
server's certificate is checked against the CA certificate(s) the administrator gave
(only those: the system's trust store is not used) and against the URL's host name, by
Python's ``ssl`` with ``check_hostname`` (ldap3's own host name check is not used).
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 reads names pyasn1 0.6 renamed (tagMap, typeMap): a DeprecationWarning at
    # import, harmless; the suite turns warnings into errors.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap_errors

CONNECT_TIMEOUT = 5.0  # s to open the TCP connection
RECEIVE_TIMEOUT = 10  # s (an int: ldap3 packs it into SO_RCVTIMEO) to wait for any one answer
SIZE_LIMIT = 10000  # entries one sync reads at most


class DirectoryUnavailable(Exception):
    """The directory could not be reached, or its certificate was not trusted."""


class DirectoryRefused(Exception):
    """The directory answered but refused (the service account's bind, a bad filter, ...)."""


def escape_filter_value(value: str) -> str:
    """A value for an LDAP search filter, escaped per RFC 4515 section 3: ``\\``, ``*``,
    ``(``, ``)`` and NUL become ``\\XX``, so a user name such as ``*)(uid=*`` matches only
    an entry of that literal name (OWASP LDAP Injection Prevention Cheat Sheet)."""
    out = []
    for char in value:
        if char in "\\*()\x00":
            out.append(f"\\{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one directory."""

    url: str
    start_tls: bool
    ca_pem: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


@dataclass
class Entry:
    """One directory entry: its DN and attributes (each a list of strings)."""

    dn: str
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The first value of ``name`` (case-insensitive), or ''."""
        for key, values in self.attributes.items():
            if key.lower() == name.lower() and values:
                return str(values[0])
        return ""

    def all(self, name: str) -> list[str]:
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                return [str(v) for v in values]
        return []


def endpoint_problem(url: str, start_tls: bool) -> str | None:
    """Why ``url`` may not be used, or None: ldaps://, or ldap:// only with StartTLS."""
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        return "must be ldaps://host[:port] or ldap://host[:port] with StartTLS"
    if parts.path not in ("", "/") or parts.query:
        return "must name only a host and port"
    if parts.scheme == "ldap" and not start_tls:
        return "plain LDAP is refused: use ldaps://, or ldap:// with start_tls true"
    return None


class _Tls(ldap3.Tls):  # type: ignore[misc]
    """ldap3's TLS with our own context: the given CA only, host name checked."""

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context
        self._host = host

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._host,
        )


def _context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise DirectoryRefused("the CA certificate is not a PEM certificate") from exc
    return context


def ca_problem(ca_pem: str) -> str | None:
    """Why ``ca_pem`` is not a usable CA certificate, or None."""
    try:
        _context(ca_pem)
    except DirectoryRefused as exc:
        return str(exc)
    return None


def _connection(endpoint: Endpoint, user: str | None, password: str | None) -> Any:
    parts = urlsplit(endpoint.url)
    secure = parts.scheme == "ldaps"
    if not secure and not endpoint.start_tls:  # never plain (endpoint_problem)
        raise DirectoryRefused("plain LDAP is refused")
    server = ldap3.Server(
        parts.hostname,
        port=parts.port or (636 if secure else 389),
        use_ssl=secure,
        tls=_Tls(_context(endpoint.ca_pem), endpoint.host),
        get_info=ldap3.NONE,
        connect_timeout=CONNECT_TIMEOUT,
    )
    conn = ldap3.Connection(
        server,
        user=user,
        password=password,
        authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
        receive_timeout=RECEIVE_TIMEOUT,
        auto_bind=ldap3.AUTO_BIND_NONE,
        raise_exceptions=False,
        read_only=True,
    )
    try:
        conn.open()
        if not secure:
            if not conn.start_tls():
                raise DirectoryUnavailable("the directory refused StartTLS")
    except (ldap_errors.LDAPSocketOpenError, ldap_errors.LDAPStartTLSError) as exc:
        _close(conn)
        raise DirectoryUnavailable(_why_unreachable(exc)) from exc
    except (ldap_errors.LDAPException, OSError) as exc:
        _close(conn)
        raise DirectoryUnavailable(_why_unreachable(exc)) from exc
    return conn


def _close(conn: Any) -> None:
    """Unbind and close, whatever state the connection is in."""
    try:
        conn.unbind()
    except (ldap_errors.LDAPException, OSError):
        pass
    sock = getattr(conn, "socket", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def _why_unreachable(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
        return (
            "the directory's certificate is not trusted (not signed by the CA given, or "
            "not for this host name)"
        )
    return "the directory cannot be reached"


def _bind_sync(endpoint: Endpoint, dn: str, password: str) -> bool:
    if not password:  # an empty password is an unauthenticated bind (RFC 4513 5.1.2)
        return False
    conn = _connection(endpoint, dn, password)
    try:
        try:
            return bool(conn.bind())
        except (ldap_errors.LDAPSocketReceiveError, ldap_errors.LDAPSocketOpenError) as exc:
            raise DirectoryUnavailable("the directory stopped answering") from exc
    finally:
        _close(conn)


async def bind(endpoint: Endpoint, dn: str, password: str) -> bool:
    """True when ``dn`` / ``password`` binds (a wrong password: False).

    Raises:
        DirectoryUnavailable: not reachable, or its certificate not trusted.
    """
    return await asyncio.to_thread(_bind_sync, endpoint, dn, password)


def _search_sync(
    endpoint: Endpoint,
    bind_dn: str,
    bind_password: str,
    base: str,
    filter_: str,
    attributes: Iterable[str],
) -> list[Entry]:
    conn = _connection(endpoint, bind_dn, bind_password)
    try:
        try:
            if not conn.bind():
                raise DirectoryRefused(
                    "the directory refused the service account's bind DN or password"
                )
            ok = conn.search(
                base,
                filter_,
                search_scope=ldap3.SUBTREE,
                attributes=list(attributes),
                size_limit=SIZE_LIMIT,
            )
        except ldap_errors.LDAPInvalidFilterError as exc:
            raise DirectoryRefused("the user filter is not a valid LDAP filter") from exc
        except (ldap_errors.LDAPSocketReceiveError, ldap_errors.LDAPSocketOpenError) as exc:
            raise DirectoryUnavailable("the directory stopped answering") from exc
        result = conn.result or {}
        if not ok and result.get("result") not in (0, 4, 32):  # success, size limit, no object
            raise DirectoryRefused(
                f"the directory refused the search: {result.get('description', 'error')}"
            )
        entries = []
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue
            attrs = {
                key: (list(value) if isinstance(value, list) else [value])
                for key, value in (item.get("attributes") or {}).items()
            }
            entries.append(Entry(item["dn"], {k: [str(x) for x in v] for k, v in attrs.items()}))
        return entries
    finally:
        _close(conn)


async def search(
    endpoint: Endpoint,
    bind_dn: str,
    bind_password: str,
    base: str,
    filter_: str,
    attributes: Iterable[str],
) -> list[Entry]:
    """Bind as the service account and search the subtree ``base`` with ``filter_`` (a
    filter this module or the administrator built; user input must go through
    ``escape_filter_value``).

    Raises:
        DirectoryUnavailable (not reachable, certificate not trusted), DirectoryRefused
        (bind refused, bad filter, search refused).
    """
    return await asyncio.to_thread(
        _search_sync, endpoint, bind_dn, bind_password, base, filter_, tuple(attributes)
    )
