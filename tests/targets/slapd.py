"""A real OpenLDAP directory for tests: slapd on 127.0.0.1, its own test CA, LDAPS and StartTLS.

General helper for every test that needs a directory (directory login, issue 32; an LDAP
password-rotation connector). It uses the Debian package's binaries (slapd, ldap-utils; see
setup/lib.sh ensure_slapd) and never the system service: each `Slapd` lives in its own
temporary directory with its own slapd.conf, MDB database, test CA and server certificate, on
free loopback ports, and `stop()` / `close()` remove everything it started or wrote.

Layout of the directory it serves (suffix `dc=strongroom,dc=test` unless given):

    ou=people,<suffix>    users: inetOrgPerson (uid, cn, sn, mail, userPassword)
    ou=groups,<suffix>    groups: groupOfNames (member); users carry memberOf (memberof overlay)
    ou=services,<suffix>  cn=strongroom: a service account that may read people and groups

Passwords are stored as given (slapd hashes nothing itself unless asked; the rootdn may write
them with `set_password`, which uses the password-modify extended operation and so stores an
{SSHA} hash). Anonymous clients may only bind; authenticated ones read everything but
userPassword; a user may change its own password.

Typical use (session-scoped: slapd starts in well under a second):

    with running_slapd() as directory:
        directory.add_group("admins")
        directory.add_user("alice", "alice-pw", name="Alice Example", groups=["admins"])
        directory.ldaps_url, directory.ca_file, directory.bind_dn, directory.bind_password
        directory.stop(); directory.start()      # the directory unreachable, then back

`make_ca()` makes another CA, e.g. one that did NOT sign the server's certificate (an
"untrusted certificate" test gives the client that CA's file).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SLAPD = "/usr/sbin/slapd"
MODULE_PATH = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class TestCA:
    """A certificate authority made for one test run: its PEM certificate file and key."""

    cert_file: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def issue_server_cert(self, directory: Path, name: str = "slapd") -> tuple[Path, Path]:
        """Issue a server certificate for 127.0.0.1 / localhost; returns (cert file, key file)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file = directory / f"{name}.crt"
        key_file = directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        return cert_file, key_file


def make_ca(directory: Path, name: str = "Strongroom test directory CA") -> TestCA:
    """Make a self-signed CA in `directory` (file `<slug>.ca.crt`); returns it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    slug = "".join(c if c.isalnum() else "-" for c in name.lower())
    cert_file = directory / f"{slug}.ca.crt"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TestCA(cert_file=cert_file, key=key, cert=cert)


def _ldif_value(value: str) -> str:
    """`attr: value` or `attr:: base64` as LDIF needs (RFC 2849)."""
    if value and value.isascii() and value.isprintable() and value[0] not in " :<":
        if not value.endswith(" "):
            return f" {value}"
    return ": " + base64.b64encode(value.encode()).decode()


def _entry(dn: str, attrs: Iterable[tuple[str, str]]) -> str:
    lines = [f"dn:{_ldif_value(dn)}"]
    lines += [f"{name}:{_ldif_value(value)}" for name, value in attrs]
    return "\n".join(lines) + "\n\n"


@dataclass
class Slapd:
    """One slapd of a test run. Build with `Slapd.create()` or `running_slapd()`.

    Attributes tests use: `ldaps_url`, `ldap_url` (StartTLS), `ca_file`, `suffix`,
    `people_dn`, `groups_dn`, `bind_dn` / `bind_password` (the read-only service account),
    `root_dn` / `root_password` (the directory manager).
    """

    root: Path
    suffix: str
    ca: TestCA
    ldap_port: int
    ldaps_port: int
    root_password: str = "directory-manager-password"
    bind_password: str = "service-account-password"
    process: subprocess.Popen[bytes] | None = None
    _owns_root: bool = field(default=False, repr=False)
    cert_file: Path = field(init=False, repr=False)
    key_file: Path = field(init=False, repr=False)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, suffix: str = "dc=strongroom,dc=test", root: Path | None = None) -> Slapd:
        """Write the configuration, CA and certificates into a new temporary directory."""
        owns = root is None
        base = Path(tempfile.mkdtemp(prefix="slapd-", dir="/tmp")) if root is None else root
        base.mkdir(parents=True, exist_ok=True)
        (base / "data").mkdir(exist_ok=True)
        ca = make_ca(base)
        server = cls(
            root=base,
            suffix=suffix,
            ca=ca,
            ldap_port=_free_port(),
            ldaps_port=_free_port(),
            _owns_root=owns,
        )
        server.cert_file, server.key_file = ca.issue_server_cert(base)
        server._write_config()
        return server

    @property
    def ca_file(self) -> Path:
        return self.ca.cert_file

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ldap_url(self) -> str:
        """Plain LDAP port: clients must use StartTLS on it (the server also accepts plain)."""
        return f"ldap://127.0.0.1:{self.ldap_port}"

    @property
    def ldapi_url(self) -> str:
        return "ldapi://" + quote(str(self.root / "ldapi"), safe="")

    @property
    def root_dn(self) -> str:
        return f"cn=manager,{self.suffix}"

    @property
    def bind_dn(self) -> str:
        return f"cn=strongroom,ou=services,{self.suffix}"

    @property
    def people_dn(self) -> str:
        return f"ou=people,{self.suffix}"

    @property
    def groups_dn(self) -> str:
        return f"ou=groups,{self.suffix}"

    def user_dn(self, uid: str) -> str:
        return f"uid={uid},{self.people_dn}"

    def group_dn(self, cn: str) -> str:
        return f"cn={cn},{self.groups_dn}"

    def _write_config(self) -> None:
        schemas = "\n".join(
            f"include {SCHEMA_DIR}/{name}.schema"
            for name in ("core", "cosine", "inetorgperson", "nis")
        )
        config = f"""\
{schemas}
pidfile {self.root}/slapd.pid
modulepath {MODULE_PATH}
moduleload back_mdb
moduleload memberof
moduleload refint
TLSCACertificateFile {self.ca.cert_file}
TLSCertificateFile {self.cert_file}
TLSCertificateKeyFile {self.key_file}
disallow bind_anon
require none
loglevel none

database mdb
maxsize 104857600
suffix "{self.suffix}"
rootdn "{self.root_dn}"
rootpw {self.root_password}
directory {self.root}/data
index objectClass eq
index uid,cn,mail eq
index member,memberOf eq
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay refint
refint_attributes member
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by users read
    by * none
"""
        (self.root / "slapd.conf").write_text(config)
        (self.root / "ldap.conf").write_text(f"TLS_CACERT {self.ca.cert_file}\n")

    # ---- life ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Start slapd (again, with the same data and ports) and wait until it answers."""
        if self.running:
            return
        urls = f"{self.ldap_url}/ {self.ldaps_url}/ {self.ldapi_url}"
        with open(self.root / "slapd.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [SLAPD, "-d", "0", "-h", urls, "-f", str(self.root / "slapd.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "slapd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {log}")
            if self._answers():
                if not self._initialised():
                    self._load_base()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("slapd did not answer in time")

    def stop(self) -> None:
        """Stop slapd (SIGTERM, then SIGKILL); its data stays for a later `start()`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def close(self) -> None:
        """Stop slapd and remove its temporary directory (if this object made it)."""
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def _answers(self) -> bool:
        done = self._tool(
            ["ldapwhoami", "-x", "-D", self.root_dn, "-w", self.root_password], check=False
        )
        return done.returncode == 0

    def _initialised(self) -> bool:
        done = self.ldap(["ldapsearch", "-LLL", "-b", self.suffix, "-s", "base", "dn"], check=False)
        return done.returncode == 0

    def _load_base(self) -> None:
        org = self.suffix.split(",")[0].split("=", 1)[1]
        ldif = _entry(
            self.suffix,
            [
                ("objectClass", "top"),
                ("objectClass", "dcObject"),
                ("objectClass", "organization"),
                ("o", org),
                ("dc", org),
            ],
        )
        for ou in ("people", "groups", "services"):
            ldif += _entry(
                f"ou={ou},{self.suffix}", [("objectClass", "organizationalUnit"), ("ou", ou)]
            )
        ldif += _entry(
            self.bind_dn,
            [
                ("objectClass", "organizationalRole"),
                ("objectClass", "simpleSecurityObject"),
                ("cn", "strongroom"),
                ("userPassword", self.bind_password),
            ],
        )
        self.add(ldif)

    # ---- tools --------------------------------------------------------------------------
    def _tool(
        self, argv: list[str], *, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LDAPTLS_CACERT": str(self.ca.cert_file),
            "LDAPTLS_REQCERT": "demand",
            "LDAPCONF": str(self.root / "ldap.conf"),  # not /etc/ldap/ldap.conf
            "LDAPRC": str(self.root / "ldaprc"),
        }
        done = subprocess.run(
            [*argv, "-H", self.ldapi_url],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def ldap(
        self, argv: list[str], *, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run an ldap-utils tool as the directory manager over the local socket."""
        return self._tool(
            [*argv, "-x", "-D", self.root_dn, "-w", self.root_password], stdin=stdin, check=check
        )

    def add(self, ldif: str) -> None:
        """Add the entries of an LDIF text (as the directory manager)."""
        self.ldap(["ldapadd"], stdin=ldif)

    def modify(self, ldif: str) -> None:
        """Apply an LDIF change text (changetype: modify/delete/...)."""
        self.ldap(["ldapmodify"], stdin=ldif)

    def delete(self, dn: str) -> None:
        """Delete one entry (group memberships follow through refint)."""
        self.ldap(["ldapdelete", dn])

    def search(self, filter_: str = "(objectClass=*)", *attrs: str, base: str = "") -> str:
        """ldapsearch as the directory manager; LDIF text of the result."""
        argv = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", base or self.suffix, filter_]
        return self.ldap([*argv, *attrs]).stdout

    # ---- people and groups --------------------------------------------------------------
    def add_group(self, cn: str, members: Iterable[str] = ()) -> str:
        """Add a groupOfNames (members given as uids); returns its DN.

        groupOfNames needs one member: an empty group holds the directory manager's DN.
        """
        member_dns = [self.user_dn(uid) for uid in members] or [self.root_dn]
        self.add(
            _entry(
                self.group_dn(cn),
                [("objectClass", "groupOfNames"), ("cn", cn)]
                + [("member", dn) for dn in member_dns],
            )
        )
        return self.group_dn(cn)

    def add_user(
        self,
        uid: str,
        password: str,
        *,
        name: str | None = None,
        mail: str | None = None,
        groups: Iterable[str] = (),
    ) -> str:
        """Add an inetOrgPerson under ou=people and make it a member of `groups`; its DN."""
        display = name or uid
        attrs = [
            ("objectClass", "inetOrgPerson"),
            ("uid", uid),
            ("cn", display),
            ("sn", display.split()[-1]),
            ("mail", mail or f"{uid}@strongroom.test"),
            ("userPassword", password),
        ]
        self.add(_entry(self.user_dn(uid), attrs))
        for group in groups:
            self.add_member(group, uid)
        return self.user_dn(uid)

    def add_member(self, group: str, uid: str) -> None:
        self.modify(
            f"dn: {self.group_dn(group)}\nchangetype: modify\n"
            f"add: member\nmember: {self.user_dn(uid)}\n\n"
        )

    def remove_member(self, group: str, uid: str) -> None:
        self.modify(
            f"dn: {self.group_dn(group)}\nchangetype: modify\n"
            f"delete: member\nmember: {self.user_dn(uid)}\n\n"
        )

    def delete_user(self, uid: str) -> None:
        self.delete(self.user_dn(uid))

    def set_password(self, uid: str, password: str) -> None:
        """Set a user's password as the directory manager (password-modify, RFC 3062)."""
        self.ldap(["ldappasswd", "-s", password, self.user_dn(uid)])

    def can_bind(self, dn: str, password: str, *, url: str | None = None) -> bool:
        """True when `dn` / `password` binds (over LDAPS unless another URL is given)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LDAPTLS_CACERT": str(self.ca.cert_file),
            "LDAPTLS_REQCERT": "demand",
            "LDAPCONF": str(self.root / "ldap.conf"),  # not /etc/ldap/ldap.conf
            "LDAPRC": str(self.root / "ldaprc"),
        }
        done = subprocess.run(
            ["ldapwhoami", "-x", "-H", url or self.ldaps_url, "-D", dn, "-w", password],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        return done.returncode == 0


@contextlib.contextmanager
def running_slapd(suffix: str = "dc=strongroom,dc=test") -> Iterator[Slapd]:
    """A started `Slapd` in a fresh temporary directory; stopped and removed on exit."""
    server = Slapd.create(suffix=suffix)
    try:
        server.start()
        yield server
    finally:
        server.close()
