"""An rsyslogd of the test's own on 127.0.0.1: a SIEM's syslog receiver (issue 31).

Usage (the daemon is the Debian packages rsyslog and rsyslog-gnutls' binary, no system
service)::

    with Rsyslog.started() as receiver:
        ... forward to 127.0.0.1:receiver.tls_port, trusting receiver.ca_pem ...
        await receiver.wait_for(lambda lines: len(lines) >= 3)
        receiver.lines()           # every message received, as it came (%rawmsg%)
        receiver.stop(); ...; receiver.start()   # away for a while, back on the same ports
    # the daemon is stopped and its directory removed

Listeners: ``tls_port`` (RFC 5425: TLS, octet-counted frames; the server certificate is
issued by the test CA ``ca_pem`` for 127.0.0.1 and localhost, no client certificate
asked), ``mtls_port`` (the same, but a client certificate issued by the test CA is
required: ``client_cert_pem``/``client_key_pem``), ``tcp_port`` (plain TCP) and
``udp_port`` (RFC 5426). Everything received goes, one message a line and unchanged, to
one file. ``untrusted_ca_pem`` is a CA that issued nothing here (a destination trusting
only it must refuse the receiver's certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.targets.certs import ca, leaf

RSYSLOGD = "/usr/sbin/rsyslogd"

CONFIG = """\
global(
  workDirectory="{work}"
  maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{dir}/ca.pem"
  defaultNetstreamDriverCertFile="{dir}/server.pem"
  defaultNetstreamDriverKeyFile="{dir}/server.key"
)
module(load="imtcp" maxSessions="200")
module(load="imudp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="keep") {{
  action(type="omfile" file="{dir}/received.log" template="raw" flushOnTXEnd="on")
}}
input(type="imtcp" address="127.0.0.1" port="{tls_port}" ruleset="keep"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{mtls_port}" ruleset="keep"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid"
      streamDriver.permitExpiredCerts="off")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="keep"
      streamDriver.name="ptcp")
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="keep")
"""


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Rsyslog:
    """One rsyslogd of the test's own, with its certificates and received file."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="strongroom-rsyslog-"))
        authority = ca("Strongroom test syslog CA")
        self.ca_pem = authority[0].public_bytes(serialization.Encoding.PEM).decode()
        self.untrusted_ca_pem = (
            ca("Someone else's CA")[0].public_bytes(serialization.Encoding.PEM).decode()
        )
        server_pem, server_key = leaf(authority, "127.0.0.1", server=True)
        self.client_cert_pem, self.client_key_pem = leaf(
            authority, "strongroom-client", server=False
        )
        (self.dir / "ca.pem").write_text(self.ca_pem)
        (self.dir / "server.pem").write_text(server_pem)
        (self.dir / "server.key").write_text(server_key)
        os.chmod(self.dir / "server.key", 0o600)
        (self.dir / "work").mkdir()
        self.tls_port = _free_port()
        self.mtls_port = _free_port()
        self.tcp_port = _free_port()
        self.udp_port = _free_port(socket.SOCK_DGRAM)
        self.file = self.dir / "received.log"
        (self.dir / "rsyslog.conf").write_text(
            CONFIG.format(
                work=self.dir / "work",
                dir=self.dir,
                tls_port=self.tls_port,
                mtls_port=self.mtls_port,
                tcp_port=self.tcp_port,
                udp_port=self.udp_port,
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether rsyslogd and its GnuTLS driver are installed."""
        return Path(RSYSLOGD).exists() and any(Path("/usr/lib").rglob("lmnsd_gtls.so"))

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[Rsyslog]:
        """A running receiver; stopped and removed afterwards, whatever happened."""
        receiver = cls()
        try:
            receiver.start()
            yield receiver
        finally:
            receiver.stop()
            shutil.rmtree(receiver.dir, ignore_errors=True)

    def start(self) -> None:
        """Start (again) on the same ports; wait until the TLS listener accepts."""
        log = open(self.dir / "rsyslogd.out", "ab")
        self.process = subprocess.Popen(
            [
                RSYSLOGD,
                "-n",
                "-f",
                str(self.dir / "rsyslog.conf"),
                "-i",
                str(self.dir / "rsyslogd.pid"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "rsyslogd exited: " + (self.dir / "rsyslogd.out").read_text()[-2000:]
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("rsyslogd did not listen within 15 s")

    def stop(self) -> None:
        """Stop the daemon (SIGTERM: it writes what it received, then exits)."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def lines(self) -> list[str]:
        """Every message received so far, one a line, as received."""
        if not self.file.exists():
            return []
        return self.file.read_text(encoding="utf-8", errors="replace").splitlines()

    async def wait_for(self, done: Callable[[list[str]], bool], seconds: float = 20.0) -> list[str]:
        """The lines once ``done(lines)`` (polling without blocking the event loop, where
        the server under test runs); AssertionError with the last lines on timeout."""
        deadline = time.monotonic() + seconds
        while True:
            lines = self.lines()
            if done(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"rsyslog did not receive in time; last: {lines[-3:]}")
            await asyncio.sleep(0.1)
