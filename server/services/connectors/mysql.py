"""MySQL / MariaDB (aiomysql): the account itself sets its password (MariaDB: ``SET
PASSWORD = PASSWORD(…)``; MySQL: ``ALTER USER CURRENT_USER()``), or ``ALTER USER …
IDENTIFIED BY`` through a reconciliation account (a user with CREATE USER or the
UPDATE privilege on mysql.*; option ``account_host``, default ``%``, names the account's
host part). TLS when the server offers it; verified by connecting (issue 29).

aiomysql rather than asyncmy: it is pure Python on PyMySQL (no compiled extension to build
where no wheel exists), maintained by aio-libs and speaks both MySQL and MariaDB."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import aiomysql
import pymysql

from server.services.connectors.base import Connector, Login, Target, TargetError

_LOGIN_REFUSED = {1045, 1044, 1698}  # access denied (user, database, plugin)


def _context(ca_pem: str) -> ssl.SSLContext:
    """A client context trusting only ``ca_pem`` (PEM text, loaded from memory: nothing is
    read from the server's disk, nothing blocks the event loop), verifying the host name.

    Raises:
        TargetError ``misconfigured`` when ``ca_pem`` is not a PEM CA certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise TargetError(
            "misconfigured", "the ca_pem option is not a PEM CA certificate"
        ) from None
    return context


def _tls(target: Target) -> ssl.SSLContext | None:
    """TLS when the server offers it (aiomysql starts it only then): verified against the
    CA given as PEM text in ``ca_pem`` (never a path on the server: attacker finding 2),
    else unverified; None when ``tls`` is ``off``. Built in memory (no file read, no
    system trust store loaded on the event loop)."""
    mode = str(target.options.get("tls") or "prefer")
    if mode == "off":
        return None
    ca_pem = str(target.options.get("ca_pem") or "")
    if ca_pem:
        return _context(ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class MySqlConnector(Connector):
    """A user of a MySQL or MariaDB server."""

    name = "mysql"
    title = "MySQL / MariaDB"
    resource_types = frozenset({"mysql"})
    fields = ("host", "port")
    options = ("account_host", "tls", "ca_pem")
    default_port = 3306

    def options_problem(self, options: Mapping[str, Any]) -> tuple[str, str] | None:
        """``ca_pem`` must be PEM CA text (checked in memory)."""
        if options.get("ca_pem"):
            try:
                _context(str(options["ca_pem"]))
            except TargetError as exc:
                return "ca_pem", exc.message
        return None

    async def _connect(self, target: Target, login: Login) -> Any:
        ssl_context = _tls(target)
        try:
            return await aiomysql.connect(
                host=target.host,
                port=target.port,
                user=login.username,
                password=login.password,
                connect_timeout=target.timeout,
                ssl=ssl_context,  # used when the server offers TLS
                autocommit=True,
            )
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in _LOGIN_REFUSED:
                raise TargetError(
                    "login_failed", f"the target refused the login of {login.username}"
                ) from None
            raise TargetError(
                "unreachable", f"the target could not be reached (error {exc.args[0]})"
            ) from None
        except TimeoutError:
            raise TargetError("timeout") from None
        except (OSError, pymysql.err.MySQLError) as exc:
            raise TargetError(
                "unreachable", f"the target could not be reached ({type(exc).__name__})"
            ) from None

    async def verify(self, target: Target, account: Login) -> None:
        """Connect as the user (and close)."""
        conn = await self._connect(target, account)
        conn.close()

    async def change_password(
        self, target: Target, account: Login, new_password: str, via: Login | None
    ) -> None:
        """ALTER USER … IDENTIFIED BY, the password bound as a parameter."""
        conn = await self._connect(target, via or account)
        try:
            async with conn.cursor() as cur:
                if via is None and "mariadb" in str(conn.get_server_info()).lower():
                    # MariaDB lets an account set its own password only this way (ALTER
                    # USER needs the CREATE USER privilege there).
                    await cur.execute("SET PASSWORD = PASSWORD(%s)", (new_password,))
                elif via is None:
                    await cur.execute("ALTER USER CURRENT_USER() IDENTIFIED BY %s", (new_password,))
                else:
                    host = str(target.options.get("account_host") or "%")
                    await cur.execute(
                        "ALTER USER %s@%s IDENTIFIED BY %s", (account.username, host, new_password)
                    )
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else "?"
            raise TargetError("refused", f"ALTER USER failed (error {code})") from None
        except (OSError, TimeoutError):
            raise TargetError(
                "unreachable", "the connection ended during ALTER USER", maybe_changed=True
            ) from None
        finally:
            conn.close()
