"""Master key: refused when unsafe or wrong; rotation re-wraps every key and survives crashes."""

from __future__ import annotations

import os
import shutil

import pytest

from server.security import crypto
from server.security.crypto import MasterKeyError
from server.services import master_key
from server.store import db
from server.store.keyring import KeyRing
from server.web.app import create_app
from tests.conftest import config_for, scratch_dir, start_server


@pytest.fixture
def private_config(pg_server, install_files, database, msp):
    """A config whose conf/ (and master key) belongs to this test alone."""
    home = scratch_dir("strongroom-keys-")
    shutil.copytree(install_files / "conf", home / "conf")
    yield config_for(pg_server, home, database)
    shutil.rmtree(home, ignore_errors=True)


def test_loose_key_file_stops_the_server(private_config):
    """A group-readable master key refuses to start the app."""
    key = private_config.path(private_config.security.master_key)
    key.chmod(0o644)
    with pytest.raises(MasterKeyError, match="readable by group or others"):
        create_app(private_config)


async def test_wrong_key_file_stops_the_server(private_config):
    """A master key from elsewhere is refused before the server listens."""
    key = private_config.path(private_config.security.master_key)
    key.unlink()
    crypto.write_key_file(key, crypto.new_key())
    with pytest.raises(MasterKeyError, match="does not match this database"):
        _runner, _ = await start_server(create_app(private_config), private_config)


async def test_rotation_rewraps_and_old_key_stops_working(private_config):
    """After rotation every data key opens with the new key, and the old key is refused."""
    config = private_config
    key_path = config.path(config.security.master_key)
    old = key_path.read_bytes()
    pool = await db.create_pool(config)
    try:
        count = await master_key.rotate(config, pool)
        assert count >= 2  # MSPOrg's data key and the audit key at least
        new = key_path.read_bytes()
        assert new != old
        assert oct(key_path.stat().st_mode & 0o777) == "0o600"
        ring = KeyRing(new)
        await master_key.check_master_key(ring, pool)
        async with db.transaction(pool) as conn:
            msp_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await db.set_org(conn, msp_id)
            blob = await ring.encrypt(conn, msp_id, "t", msp_id, "c", "still works")
            assert await KeyRing(new).decrypt(conn, msp_id, "t", msp_id, "c", blob) == "still works"
        with pytest.raises(MasterKeyError):
            await master_key.check_master_key(KeyRing(old), pool)
        # Put the shared module database back under the suite's key.
        async with db.transaction(pool) as conn:
            await KeyRing(new).rewrap_all(conn, old)
    finally:
        await pool.close()


async def test_interrupted_rotation_is_finished_or_discarded(private_config):
    """A crash before commit discards the new key; a crash after commit completes the swap."""
    config = private_config
    key_path = config.path(config.security.master_key)
    pending = key_path.with_name("master.key.next")
    pool = await db.create_pool(config)
    try:
        # Crash before the re-wrap committed: the stray new key is thrown away.
        crypto.write_key_file(pending, crypto.new_key())
        assert "discarded" in await master_key.finish_rotation(config, pool)
        assert not pending.exists()
        # Crash after commit, before the file swap: the swap is completed.
        current = KeyRing(key_path.read_bytes())
        new_kek = crypto.new_key()
        crypto.write_key_file(pending, new_kek)
        async with db.transaction(pool) as conn:
            await current.rewrap_all(conn, new_kek)
        assert "completed" in await master_key.finish_rotation(config, pool)
        assert key_path.read_bytes() == new_kek
        assert not pending.exists()
        await master_key.check_master_key(KeyRing(new_kek), pool)
    finally:
        await pool.close()
    assert os.stat(key_path).st_mode & 0o077 == 0
