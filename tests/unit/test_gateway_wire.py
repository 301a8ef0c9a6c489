"""The gateway's connections send one SSH packet per keystroke, not asyncssh's empty
ignore packet before each (server/gateway/wire.py; issue 30, item 7's echo latency)."""

from __future__ import annotations

import logging

import pytest

from server.gateway.wire import MSG_IGNORE, one_write_per_packet
from server.security.ssh_keys import asyncssh


class _Conn:
    """Stands for an asyncssh connection: records what it was asked to send."""

    def __init__(self, cipher: str | None) -> None:
        self.cipher = cipher
        self.sent: list[tuple[int, tuple[bytes, ...]]] = []

    def get_extra_info(self, name: str) -> str | None:
        return self.cipher if name == "send_cipher" else None

    def send_packet(self, pkttype: int, *args: bytes, **kwargs: object) -> None:
        self.sent.append((pkttype, args))


@pytest.mark.parametrize(
    ("cipher", "kept"),
    [
        ("aes128-gcm@openssh.com", False),
        ("aes256-ctr", False),
        ("chacha20-poly1305@openssh.com", False),
        ("aes256-cbc", True),  # CBC keeps its countermeasure
        (None, True),  # before the key exchange: nothing changes
    ],
)
def test_only_the_empty_ignore_packet_goes_and_only_off_cbc(cipher, kept) -> None:
    conn = _Conn(cipher)
    one_write_per_packet(conn)
    empty = asyncssh.packet.String(b"")
    conn.send_packet(MSG_IGNORE, empty)
    conn.send_packet(MSG_IGNORE, asyncssh.packet.String(b"padding"))  # not the countermeasure
    conn.send_packet(94, b"\0\0\0\1", asyncssh.packet.String(b"k"))  # CHANNEL_DATA
    expected = [(MSG_IGNORE, (asyncssh.packet.String(b"padding"),)), (94, ...)]
    assert [kind for kind, _ in conn.sent] == ([MSG_IGNORE] if kept else []) + [
        kind for kind, _ in expected
    ]


async def _ignore_packets_received(wrap: bool, caplog: pytest.LogCaptureFixture) -> int:
    """Run a real asyncssh server that echoes 5 keystrokes to a real asyncssh client
    (both wrapped, as the gateway's two sides are, or neither); the number of ignore
    packets either received after the login."""
    key = asyncssh.generate_private_key("ssh-ed25519")

    class Server(asyncssh.SSHServer):  # type: ignore[misc]
        def connection_made(self, conn) -> None:
            if wrap:
                one_write_per_packet(conn)

        def begin_auth(self, username: str) -> bool:
            return False  # no authentication needed

    async def echo(process) -> None:
        while True:
            data = await process.stdin.read(1)
            if not data:
                break
            process.stdout.write(data)
        process.exit(0)

    server = await asyncssh.create_server(
        Server,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        process_factory=echo,
        encryption_algs=["aes128-gcm@openssh.com"],
    )
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect(
            "127.0.0.1", port, known_hosts=None, username="u", config=None
        ) as conn:
            if wrap:
                one_write_per_packet(conn)
            caplog.clear()
            process = await conn.create_process()
            for char in "hello":
                process.stdin.write(char)
                assert await process.stdout.readexactly(1) == char
            process.stdin.write_eof()
            await process.wait()
    finally:
        server.close()
        await server.wait_closed()
    return sum("Received MSG_IGNORE" in r.getMessage() for r in caplog.records)


async def test_a_keystroke_crosses_as_one_packet(caplog: pytest.LogCaptureFixture) -> None:
    asyncssh.set_debug_level(3)  # asyncssh logs each packet it receives
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    try:
        plain = await _ignore_packets_received(False, caplog)
        wrapped = await _ignore_packets_received(True, caplog)
    finally:
        asyncssh.set_debug_level(1)
        asyncssh.set_log_level(logging.WARNING)
    if plain == 0:
        pytest.skip("this asyncssh sends no ignore packets: nothing to skip")
    assert plain >= 10  # one before each keystroke and each echo (and each other packet)
    assert wrapped == 0
