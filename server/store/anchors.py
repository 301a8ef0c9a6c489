"""The audit anchor log: every org's chain head, kept outside the database it protects.

A hash chain shows that no event was changed or removed *inside* the chain, but
whoever can write the database (a DBA, a superuser) can delete the newest events
and move ``audit_heads`` back: what is left is a shorter, perfectly valid chain.
So each time the chainer moves a head, the new head (org, seq, hash) is appended to
``audit/anchors.jsonl`` in the node's directory (``security.anchor_log``; it may live
on other storage), fsync'd, each line signed with
HMAC-SHA-256 under a key derived (HKDF) from the audit key, which only the master
key unwraps. Verification compares the chain with the org's latest anchor and names
the missing tail (OWASP Logging Cheat Sheet, "Protection": tamper detection kept
apart from the data; ASVS 4.0 V7.3.3). The primary's monitor copies new anchors to
its peer (POST /cluster/anchors), so the secondary holds them too and keeps
checking after a failover.

The key derives from the audit key rather than straight from the master key so that
``keys rotate-master`` (which re-wraps the audit key) leaves the log valid.

Anchors are written right after the chain's commit: a crash in between leaves the
newest links unanchored until the next event, which is the window this cannot cover.
Several processes (the server, ``strongroom audit verify``) may append; an exclusive
lock (``flock``; ``msvcrt.locking`` on Windows, server.core.hostos) serialises them and
each reader picks up what others wrote. The file is compacted to one line per org once it
passes ``COMPACT_BYTES``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.core import hostos
from server.store import db
from server.store.keyring import AUDIT_KEY, KeyRing

log = logging.getLogger(__name__)

COMPACT_BYTES = 4 * 1024 * 1024
_KDF_INFO = b"strongroom audit anchor log v1"


@dataclass(frozen=True)
class Anchor:
    """One org's chain head as it was at ``at``."""

    org_id: uuid.UUID
    seq: int
    hash: bytes
    at: str
    node: str = ""

    def record(self) -> dict[str, Any]:
        """The line's fields (before its MAC)."""
        return {
            "org_id": str(self.org_id),
            "seq": self.seq,
            "hash": self.hash.hex(),
            "at": self.at,
            "node": self.node,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Anchor:
        """Parse a line's fields (KeyError/ValueError/TypeError when malformed)."""
        seq = record["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("seq must be a non-negative integer")
        return cls(
            uuid.UUID(record["org_id"]),
            seq,
            bytes.fromhex(record["hash"]),
            str(record["at"]),
            str(record.get("node", "")),
        )


def anchor_key(audit_key: bytes) -> bytes:
    """The anchor log's HMAC key, derived from the audit key (domain-separated)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(audit_key)


def sign(key: bytes, record: dict[str, Any]) -> str:
    """The MAC of a line's fields."""
    body = {k: v for k, v in record.items() if k != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _line(key: bytes, anchor: Anchor) -> str:
    """One signed line of the file."""
    record = anchor.record()
    record["mac"] = sign(key, record)
    return json.dumps(record, separators=(",", ":")) + "\n"


class AnchorLog:
    """The node's append-only, signed, fsync'd file of chain heads."""

    def __init__(self, path: Path, ring: KeyRing, pool: asyncpg.Pool | None = None) -> None:
        self.path = path
        self.ring = ring
        self.pool = pool
        self._key: bytes | None = None
        self._lock = asyncio.Lock()
        self._latest: dict[uuid.UUID, Anchor] = {}
        self._offset = 0
        self._inode: int | None = None
        self._unwritten: dict[uuid.UUID, Anchor] = {}
        self.rejected = 0  # lines whose MAC did not match (tampering, or another key)
        self.unshipped: dict[uuid.UUID, Anchor] = {}  # not yet copied to the peer

    async def key(self, conn: asyncpg.Connection | None = None) -> bytes:
        """The HMAC key (reads the audit key once)."""
        if self._key is None:
            if conn is not None:
                audit_key = await self.ring.system_key(conn, AUDIT_KEY)
            else:
                assert self.pool is not None
                async with db.transaction(self.pool, readonly=True) as tx:
                    audit_key = await self.ring.system_key(tx, AUDIT_KEY)
            self._key = anchor_key(audit_key)
        return self._key

    async def record(
        self, heads: dict[uuid.UUID, tuple[int, bytes]], node: str, key: bytes | None = None
    ) -> None:
        """Append the new heads (and any an earlier failure left unwritten), durably.

        Raises OSError when the file cannot be written; the heads are kept and tried
        again with the next call.
        """
        key = key or await self.key()
        at = datetime.datetime.now(datetime.UTC).isoformat()
        async with self._lock:
            for org_id, (seq, digest) in heads.items():
                self._unwritten[org_id] = Anchor(org_id, seq, digest, at, node)
            anchors = list(self._unwritten.values())
            await asyncio.to_thread(self._append, key, anchors)
            self._unwritten.clear()
            for anchor in anchors:
                self.unshipped[anchor.org_id] = anchor

    async def accept(self, records: list[dict[str, Any]]) -> int:
        """Store anchors copied from the peer after checking their MACs; return how many
        were newer than what this node held. Raises ValueError on a bad record."""
        key = await self.key()
        fresh: list[Anchor] = []
        async with self._lock:
            await asyncio.to_thread(self._refresh, key)
            for record in records:
                if not isinstance(record, dict) or not hmac.compare_digest(
                    str(record.get("mac", "")), sign(key, record)
                ):
                    raise ValueError("an anchor's signature does not match")
                anchor = Anchor.from_record(record)
                held = self._latest.get(anchor.org_id)
                if held is None or anchor.seq > held.seq:
                    fresh.append(anchor)
            if fresh:
                await asyncio.to_thread(self._append, key, fresh)
        return len(fresh)

    async def latest(
        self, org_id: uuid.UUID, conn: asyncpg.Connection | None = None
    ) -> Anchor | None:
        """The org's newest anchor (highest seq) in the file, or None."""
        key = await self.key(conn)
        async with self._lock:
            await asyncio.to_thread(self._refresh, key)
            return self._latest.get(org_id)

    def signed(self, anchor: Anchor) -> dict[str, Any]:
        """An anchor as a signed line's fields (the key must be loaded)."""
        assert self._key is not None
        record = anchor.record()
        record["mac"] = sign(self._key, record)
        return record

    # -- the file (called in a worker thread) -------------------------------------

    def _open_locked(self, flags: int, exclusive: bool) -> int:
        """A descriptor of the current file holding ``lock``; reopens when a compaction
        replaced the file while this process waited for the lock."""
        while True:
            fd = os.open(self.path, flags, 0o600)
            hostos.lock(fd, exclusive)
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            hostos.unlock(fd)
            os.close(fd)

    def _append(self, key: bytes, anchors: list[Anchor]) -> None:
        lines = [_line(key, anchor) for anchor in anchors]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open_locked(os.O_RDWR | os.O_CREAT | os.O_APPEND, exclusive=True)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
            self._read_from(fd, key)
            if os.fstat(fd).st_size > COMPACT_BYTES:
                self._compact(key)
        finally:
            hostos.unlock(fd)
            os.close(fd)

    def _refresh(self, key: bytes) -> None:
        """Read what was appended since the last read (by anyone) into ``_latest``."""
        if not self.path.exists():
            return
        fd = self._open_locked(os.O_RDONLY, exclusive=False)
        try:
            self._read_from(fd, key)
        finally:
            hostos.unlock(fd)
            os.close(fd)

    def _read_from(self, fd: int, key: bytes) -> None:
        stat = os.fstat(fd)
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._inode, self._offset = stat.st_ino, 0  # a new or compacted file
            self._latest.clear()
        os.lseek(fd, self._offset, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
        complete = data.rfind(b"\n") + 1  # a torn last line waits for its end
        for line in data[:complete].splitlines():
            self._take(key, line)
        self._offset += complete

    def _take(self, key: bytes, line: bytes) -> None:
        try:
            record = json.loads(line)
            if not hmac.compare_digest(str(record.get("mac", "")), sign(key, record)):
                raise ValueError("MAC mismatch")
            anchor = Anchor.from_record(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.rejected += 1
            log.error("audit anchor log %s: a line fails its signature; ignored", self.path)
            return
        held = self._latest.get(anchor.org_id)
        if held is None or anchor.seq >= held.seq:
            self._latest[anchor.org_id] = anchor

    def _compact(self, key: bytes) -> None:
        """Rewrite the file as one line per org (its latest anchor), atomically; the
        caller holds the exclusive lock and has read the whole file."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(out, "".join(_line(key, a) for a in self._latest.values()).encode())
            os.fsync(out)
        finally:
            os.close(out)
        try:
            os.replace(tmp, self.path)
        except PermissionError:
            # Windows: a file another process holds open cannot be replaced; the
            # appended file stays valid and is compacted on a later pass.
            os.unlink(tmp)
            log.info("audit anchor log %s: compaction postponed (file in use)", self.path)
            return
        hostos.fsync_dir(self.path.parent)
        self._inode, self._offset = None, 0
