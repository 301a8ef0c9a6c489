"""One SSH packet, one write: the gateway's connections skip asyncssh's empty
``SSH_MSG_IGNORE`` before each packet (issue 30, item 7: keystroke echo latency).

asyncssh (2.24) sends an empty ``SSH_MSG_IGNORE`` packet before every packet it encrypts,
each in a ``write`` of its own: a keystroke crossing the gateway went out as two TCP
segments, so the gateway made two ``send`` system calls and the peer (the user's ``ssh``,
or the target's sshd) woke up to read a packet it throws away before the one that
matters. That empty packet is the old countermeasure to the chosen-plaintext attack on
CBC mode, where each packet's IV is the previous packet's last cipher block; it does
nothing for CTR, GCM or chacha20-poly1305, whose keystream never depends on earlier
ciphertext, and OpenSSH does not send it at all. The gateway negotiates only those modes
on both of its sides (``GATEWAY_CIPHERS``, and asyncssh's defaults towards a target, none
of which is CBC); should a connection ever use a CBC cipher, the packet is sent as before.
"""

from __future__ import annotations

from typing import Any

from server.security.ssh_keys import asyncssh

MSG_IGNORE = 2  # RFC 4253 section 11.2
_EMPTY = asyncssh.packet.String(b"")


def one_write_per_packet(conn: Any) -> None:
    """Make ``conn`` (an asyncssh connection, client or server) skip the empty ignore
    packet asyncssh puts before every packet, unless its send cipher is CBC (see the
    module's docstring; source: issue 30 item 7, RFC 4253 sections 6.3 and 11.2)."""
    send = conn.send_packet

    def send_packet(pkttype: int, *args: bytes, **kwargs: Any) -> None:
        if pkttype == MSG_IGNORE and args == (_EMPTY,) and not _cbc(conn):
            return
        send(pkttype, *args, **kwargs)

    conn.send_packet = send_packet


def _cbc(conn: Any) -> bool:
    """Is the cipher ``conn`` sends with a CBC one (or not negotiated yet)."""
    cipher = conn.get_extra_info("send_cipher")
    return not cipher or "cbc" in str(cipher)
