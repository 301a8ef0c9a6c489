"""An account of an LDAPv3 directory (OpenLDAP or any other): the password-modify extended
operation (RFC 3062) bound as the account itself (with its current password) or as a
reconciliation account (a directory manager, or an entry with write access to
userPassword); verified by binding. Always over TLS — LDAPS, or StartTLS on the plain port
— with the directory's certificate checked against the CA certificate the connection
gives (option ``ca_pem``; the system's trust store is not used) and against the host name;
plain LDAP is refused (issue 29).

An account's name is its DN, or a name put into the option ``user_dn_template``
(``uid={},ou=people,dc=example,dc=com``; the name is escaped as an RDN value). ldap3 is
synchronous: each exchange runs in a worker thread with short timeouts, as the directory
login does (issue 32)."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Mapping
from typing import Any

from server.services.connectors.base import Connector, Login, Target, TargetError

with warnings.catch_warnings():
    # ldap3 2.9.1 reads names pyasn1 0.6 renamed: a DeprecationWarning at import, harmless.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap_errors
    from ldap3.utils.dn import escape_rdn


class _Tls(ldap3.Tls):  # type: ignore[misc]
    """ldap3's TLS with our own context: the given CA only, the host name checked."""

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
    except (ssl.SSLError, ValueError):
        raise TargetError(
            "misconfigured", "the ca_pem option is not a PEM CA certificate"
        ) from None
    return context


def _close(conn: Any) -> None:
    try:
        conn.unbind()
    except (ldap_errors.LDAPException, OSError):
        pass


class LdapConnector(Connector):
    """An entry of an LDAPv3 directory with a userPassword."""

    name = "ldap"
    title = "LDAP directory"
    resource_types = frozenset({"generic", "ldap", "directory", "ldap directory"})
    fields = ("host", "port")
    options = ("tls", "ca_pem", "user_dn_template")
    default_port = 636

    def options_problem(self, options: Mapping[str, Any]) -> tuple[str, str] | None:
        """``ca_pem`` must be PEM CA text (checked in memory)."""
        if options.get("ca_pem"):
            try:
                _context(str(options["ca_pem"]))
            except TargetError as exc:
                return "ca_pem", exc.message
        return None

    def _dn(self, target: Target, username: str) -> str:
        if "=" in username:
            return username  # a DN already
        template = str(target.options.get("user_dn_template") or "")
        if "{}" not in template:
            raise TargetError(
                "misconfigured",
                "the account name is no DN and the connection has no user_dn_template",
            )
        return template.replace("{}", escape_rdn(username))

    def _open(self, target: Target, login: Login) -> Any:
        """A connection bound as ``login`` (its name made a DN), over TLS."""
        mode = str(target.options.get("tls") or ("ldaps" if target.port == 636 else "starttls"))
        if mode not in ("ldaps", "starttls"):
            raise TargetError("misconfigured", "plain LDAP is refused: tls is ldaps or starttls")
        ca_pem = str(target.options.get("ca_pem") or "")
        if not ca_pem:
            raise TargetError("misconfigured", "the connection has no ca_pem to verify the server")
        if not login.password:  # an empty password is an unauthenticated bind (RFC 4513)
            raise TargetError("login_failed", "an empty password does not authenticate")
        server = ldap3.Server(
            target.host,
            port=target.port,
            use_ssl=mode == "ldaps",
            tls=_Tls(_context(ca_pem), target.host),
            get_info=ldap3.NONE,
            connect_timeout=target.timeout,
        )
        conn = ldap3.Connection(
            server,
            user=self._dn(target, login.username),
            password=login.password,
            authentication=ldap3.SIMPLE,
            receive_timeout=int(target.timeout),
            auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=False,
        )
        try:
            conn.open()
            if mode == "starttls" and not conn.start_tls():
                raise TargetError("tls_failed", "the directory refused StartTLS")
            bound = conn.bind()
        except (ldap_errors.LDAPException, OSError) as exc:
            _close(conn)
            text = str(exc).lower()
            if "certificate" in text or "ssl" in text or "tls" in text:
                raise TargetError(
                    "tls_failed",
                    "the directory's certificate is not trusted (not signed by the CA given, "
                    "or not for this host name)",
                ) from None
            raise TargetError("unreachable", "the directory could not be reached") from None
        if not bound:
            _close(conn)
            raise TargetError("login_failed", f"the directory refused the bind of {login.username}")
        return conn

    def _verify(self, target: Target, account: Login) -> None:
        _close(self._open(target, account))

    def _change(self, target: Target, account: Login, new: str, via: Login | None) -> None:
        dn = self._dn(target, account.username)
        conn = self._open(target, via or account)
        try:
            done = conn.extend.standard.modify_password(
                user=dn, old_password=account.password if via is None else None, new_password=new
            )
        except (ldap_errors.LDAPException, OSError):
            _close(conn)
            raise TargetError(
                "unreachable",
                "the connection ended during the password change",
                maybe_changed=True,
            ) from None
        result = dict(conn.result or {})
        _close(conn)
        if not done:
            raise TargetError(
                "refused",
                f"password modify failed ({result.get('description') or 'no answer'})",
            )

    async def verify(self, target: Target, account: Login) -> None:
        """Bind as the account (and unbind)."""
        await asyncio.to_thread(self._verify, target, account)

    async def change_password(
        self, target: Target, account: Login, new_password: str, via: Login | None
    ) -> None:
        """RFC 3062 password modify, as the account (old password given) or as ``via``."""
        await asyncio.to_thread(self._change, target, account, new_password, via)
