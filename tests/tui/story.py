"""The seed's whole story as key presses and typed text, shared by the Pilot test and the
real-terminal (tmux) test: a fresh node whose first administrator has never logged in."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.services.first_run import INITIAL_PASSWORD_FILE
from server.services.orgs import bootstrap_msp
from server.services.runtime import hasher_for
from server.store import db
from server.store.keyring import KeyRing
from tests.conftest import config_for, free_port, scratch_dir
from tests.tui.conftest import TuiServer, start_serve

FIRST_PASSWORD = "generated-First-pw-1"  # what init would have generated and kept


@dataclass
class Person:
    """Someone in the story: username, first password (set by an admin), own password."""

    username: str
    initial: str
    final: str


ADMIN = Person("admin", FIRST_PASSWORD, "Admin-own-pass-22")
PROPOSER = Person("adm2", "adm2-initial-pw-1", "adm2-own-pass-22")
APPROVER = Person("adm3", "adm3-initial-pw-1", "adm3-own-pass-22")
DESIGNEE = Person("adm4", "adm4-initial-pw-1", "adm4-own-pass-22")
CLIENT = Person("carol", "carol-initial-pw-1", "carol-own-pass-22")
ORG = "acme"
SECRET = "Web01-root-Secret!"


@pytest.fixture(scope="module")
def fresh_node(pg_server, install_files, database) -> Iterator[TuiServer]:
    """A server on a new database and install directory, as init leaves it: MSPOrg, its
    administrator who must change the password, and conf/initial-admin-password."""
    home = scratch_dir("strongroom-story-")
    shutil.copytree(install_files, home, dirs_exist_ok=True)
    kept = home / INITIAL_PASSWORD_FILE
    kept.write_text(FIRST_PASSWORD + "\n")
    kept.chmod(0o600)
    config = config_for(pg_server, home, database)
    config.security.argon2_memory_kib = 19456

    async def bootstrap() -> None:
        ring = KeyRing.from_file(config.path(config.security.master_key))
        pool = await db.create_pool(config)
        try:
            await bootstrap_msp(pool, ring, hasher_for(config), ADMIN.username, FIRST_PASSWORD)
        finally:
            await pool.close()

    asyncio.run(bootstrap())
    server = start_serve(config, free_port())
    server.home = home
    yield server
    server.process.terminate()
    server.process.wait(timeout=20)
    shutil.rmtree(home, ignore_errors=True)


def initial_password(home: Path) -> str:
    """What a new administrator reads from the file the login screen names."""
    return (home / INITIAL_PASSWORD_FILE).read_text().strip()
