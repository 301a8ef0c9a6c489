"""PostgreSQL (asyncpg): ``ALTER ROLE … PASSWORD`` as the role itself or through a
reconciliation account (a superuser or a role with CREATEROLE). The password is sent as a
SCRAM-SHA-256 verifier computed here, as psql's \\password does, so the plaintext never
reaches the server's statement log. TLS when the server offers it (option ``tls``:
``prefer``, the default, or ``require``); verified by connecting (issue 29)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import ssl

import asyncpg

from server.services.connectors.base import Connector, Login, Target, TargetError

SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677)."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresConnector(Connector):
    """A login role of a PostgreSQL server."""

    name = "postgresql"
    title = "PostgreSQL"
    resource_types = frozenset({"postgresql"})
    fields = ("host", "port")
    options = ("database", "tls")
    default_port = 5432

    def _ssl(self, target: Target) -> str | ssl.SSLContext:
        """``prefer`` (asyncpg reads no file for it), or for ``require`` a context built in
        memory: asyncpg's own would read PGSSLROOTCERT / ~/.postgresql/root.crt from the
        server's disk on the event loop (attacker finding 2: no connector's TLS depends on a
        server path or blocks the loop). Encrypted, not verified, as libpq's require."""
        mode = str(target.options.get("tls") or "prefer")
        if mode != "require":
            return "prefer"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect(self, target: Target, login: Login) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                host=target.host,
                port=target.port,
                user=login.username,
                password=login.password,
                database=str(target.options.get("database") or "postgres"),
                ssl=self._ssl(target),
                timeout=target.timeout,
                command_timeout=target.timeout,
                server_settings={"application_name": "strongroom-rotation"},
            )
            return conn
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            raise TargetError(
                "login_failed", f"the target refused the login of {login.username}"
            ) from None
        except TimeoutError:
            raise TargetError("timeout") from None
        except ssl.SSLError:
            raise TargetError("tls_failed") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise TargetError(
                "unreachable", f"the target could not be reached ({type(exc).__name__})"
            ) from None

    async def verify(self, target: Target, account: Login) -> None:
        """Connect as the role (and close)."""
        conn = await self._connect(target, account)
        await conn.close(timeout=target.timeout)

    async def change_password(
        self, target: Target, account: Login, new_password: str, via: Login | None
    ) -> None:
        """ALTER ROLE with a SCRAM verifier, as the role or through ``via``."""
        conn = await self._connect(target, via or account)
        statement = (
            f"ALTER ROLE {_ident(account.username)} PASSWORD '{scram_verifier(new_password)}'"
        )
        try:
            await conn.execute(statement)
        except asyncpg.PostgresError as exc:
            raise TargetError(
                "refused", f"ALTER ROLE failed ({exc.sqlstate}: {type(exc).__name__})"
            ) from None
        except (OSError, TimeoutError, asyncpg.InterfaceError):
            raise TargetError(
                "unreachable", "the connection ended during ALTER ROLE", maybe_changed=True
            ) from None
        finally:
            if not conn.is_closed():
                await conn.close(timeout=target.timeout)
