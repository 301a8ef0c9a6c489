"""The sealed backup stream: what opens it, and every way of cutting or reordering it
that must fail."""

from __future__ import annotations

import datetime
import io
import struct

import pytest

from server.backup import crypto as bc
from server.backup.schedule import BackupStatus, seconds_until_next
from server.core.config import Config, parse_schedule

FAST = bc.Argon2Params(memory_kib=8 * 1024, iterations=1, lanes=1)  # tests only
PASSPHRASE = "correct horse battery staple"


def sealed(chunks: list[bytes], seal=None, chunk_bytes: int = 64) -> bytes:
    """A stream of ``chunks`` (kind D), the last one final."""
    out = io.BytesIO()
    writer = bc.SealedWriter(
        out, {"app": "test"}, seal or bc.passphrase_seal(PASSPHRASE, FAST), chunk_bytes
    )
    for i, data in enumerate(chunks):
        writer.chunk(b"D", data, final=i == len(chunks) - 1)
    return out.getvalue()


def read_all(raw: bytes, unlock: bc.Unlock | None = None) -> list[bytes]:
    """Every chunk's data, opened with ``unlock`` (the test passphrase by default)."""
    reader = bc.SealedReader.open(io.BytesIO(raw), unlock or bc.Unlock(PASSPHRASE))
    return [data for _, data in reader.chunks()]


def split(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(everything before the first chunk, each framed chunk)."""
    (size,) = struct.unpack(">I", raw[8:12])
    start = 12 + size + bc.WRAPPED_BYTES
    prefix, rest, frames = raw[:start], raw[start:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        frames.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return prefix, frames


def test_round_trip_and_header():
    """What was sealed reads back in order; the header is public and names the seal."""
    raw = sealed([b"one", b"two", b"three"])
    assert read_all(raw) == [b"one", b"two", b"three"]
    reader = bc.SealedReader.open(io.BytesIO(raw), None)
    assert reader.header["seal"]["kind"] == "passphrase"
    assert b"three" not in raw


def test_wrong_passphrase():
    """Another passphrase does not open the file key."""
    with pytest.raises(bc.WrongKey, match="passphrase does not open"):
        read_all(sealed([b"x"]), bc.Unlock("a different long passphrase"))


@pytest.mark.parametrize(
    "cut",
    ["drop_last", "drop_middle", "swap", "repeat", "trailing", "mid_chunk", "flip", "header"],
)
def test_cut_reordered_or_altered_streams_fail(cut):
    """Dropping, swapping, repeating chunks, data after the end, a cut inside a chunk, a
    flipped bit or an altered header: each is refused."""
    raw = sealed([b"a" * 64, b"b" * 64, b"c" * 10])
    prefix, frames = split(raw)
    altered = {
        "drop_last": lambda: prefix + b"".join(frames[:2]),
        "drop_middle": lambda: prefix + frames[0] + frames[2],
        "swap": lambda: prefix + frames[1] + frames[0] + frames[2],
        "repeat": lambda: prefix + frames[0] + frames[0] + frames[1] + frames[2],
        "trailing": lambda: raw + frames[2],
        "mid_chunk": lambda: raw[:-5],
        "flip": lambda: raw[:-20] + bytes([raw[-20] ^ 1]) + raw[-19:],
        "header": lambda: raw.replace(b'"test"', b'"tess"'),
    }[cut]()
    with pytest.raises((bc.Damaged, bc.Truncated, bc.WrongKey)):
        read_all(altered)


def test_chunks_from_another_file_do_not_fit():
    """A chunk taken from another backup (same passphrase) fails: each file has its own key."""
    prefix, frames = split(sealed([b"a", b"b"]))
    _, other = split(sealed([b"c", b"d"]))
    with pytest.raises(bc.Damaged):
        read_all(prefix + frames[0] + other[1])


def test_weak_passphrases_are_refused():
    """Short or repetitive passphrases cannot seal a backup or a key file."""
    for weak in ("short", "aaaaaaaaaaaaaaaa", "abababababababab"):
        with pytest.raises(bc.WeakPassphrase):
            bc.passphrase_seal(weak, FAST)


def test_recipient_seal_needs_the_key_file(tmp_path):
    """A stream sealed for a public key opens only with its key file and that file's
    passphrase; another key file or passphrase is refused."""
    key_file, other = tmp_path / "key.json", tmp_path / "other.json"
    recipient = bc.make_key_file(key_file, PASSPHRASE, FAST)
    bc.make_key_file(other, PASSPHRASE, FAST)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    raw = sealed([b"payload"], bc.recipient_seal(recipient))
    assert read_all(raw, bc.Unlock(PASSPHRASE, key_file)) == [b"payload"]
    with pytest.raises(bc.WrongKey, match="--key-file"):
        read_all(raw, bc.Unlock(PASSPHRASE))
    with pytest.raises(bc.WrongKey, match="not the recipient"):
        read_all(raw, bc.Unlock(PASSPHRASE, other))
    with pytest.raises(bc.WrongKey, match="key file"):
        read_all(raw, bc.Unlock("not the passphrase of it", key_file))
    with pytest.raises(FileExistsError):
        bc.make_key_file(key_file, PASSPHRASE, FAST)
    with pytest.raises(bc.BackupCryptoError):
        bc.recipient_seal("x25519:not-a-key")


def test_schedules():
    """Daily times and intervals parse; the next daily run is later today or tomorrow."""
    assert parse_schedule("02:00") == ("daily", 120)
    assert parse_schedule("every 2s") == ("every", 2.0)
    assert parse_schedule("every 6 h") == ("every", 21600.0)
    for bad in ("2am", "24:00", "every 0s", "every 5 days", ""):
        assert parse_schedule(bad) is None
    tz = datetime.UTC
    before = datetime.datetime(2026, 1, 1, 1, 30, tzinfo=tz)
    after = datetime.datetime(2026, 1, 1, 2, 30, tzinfo=tz)
    assert seconds_until_next("02:00", before) == 1800
    assert seconds_until_next("02:00", after) == 23.5 * 3600


def test_backup_status_degraded(tmp_path):
    """Scheduled backups older than max_age_hours (or none at all) make the node degraded;
    without a schedule nothing is overdue."""
    config = Config(home=tmp_path)
    status = BackupStatus(config)
    now = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    assert not status.overdue(now)
    config.backup.schedule, config.backup.max_age_hours = "02:00", 26
    status.refresh()
    assert status.last_good is None and status.overdue(now)
    assert status.as_dict() == {"at": None, "ok": False, "file": None}
    status.last_good = {"at": "2026-01-01T02:00:00+00:00", "file": "f", "bytes": 1}
    status._seen = (0, 0)  # the folder does not exist: no rescan
    assert not status.overdue(now)
    assert status.overdue(now + datetime.timedelta(hours=5))
    status.last_failure_at, status.last_failure = "2026-01-02T02:00:00+00:00", "disk full"
    assert status.as_dict()["ok"] is False and status.as_dict()["failure"] == "disk full"
