"""A late scheduled backup (issue 31, item 2: "failed or late backup (MSPOrg
administrators)"), end to end: the primary's schedule runs "every 3 s" with real backups
(pg_dump, sealed for a recipient); the recipient is broken so none succeeds, then mended,
then broken again. MSPOrg's administrators hear of each lateness once, by e-mail through
aiosmtpd (STARTTLS, AUTH) and by the signed webhook: not at every check, and again only
after a success followed by a new lateness."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from server.backup import archive
from server.backup import crypto as backup_crypto
from server.backup.schedule import interval_seconds, late_at
from server.web.keys import ENV
from tests.conftest import config_for
from tests.server.conftest import make_user
from tests.targets.mail_hooks import HookReceiver, SmtpReceiver

SMTP_USER, SMTP_PASSWORD = "relay", "Smtp-Late-Pass-52!"
BROKEN = "x25519:not-a-key"
LATE = "[Strongroom] A scheduled backup is late"


@pytest.fixture
def config(pg_server, install_files, database, tmp_path):
    """This module's node backs up every 3 s into its own folder, sealed for nothing
    usable (every attempt fails until the test mends the recipient)."""
    config = config_for(pg_server, install_files, database)
    config.backup.schedule = "every 3 s"
    config.backup.dir = str(tmp_path / "backups")
    config.backup.recipient = BROKEN
    config.backup.keep = 2
    return config


def test_late_at_is_interval_plus_a_tenth_plus_the_last_duration():
    start = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)
    assert interval_seconds("02:00") == 86400 and interval_seconds("every 3 s") == 3
    # Daily: a day + 2.4 h + the last dump's 10 minutes after the last success.
    assert late_at("02:00", start, 600, start) == start + datetime.timedelta(hours=26.4, minutes=10)
    # None yet: counted from when this node began to decide as the primary.
    assert late_at("every 1 h", None, 0, start) == start + datetime.timedelta(minutes=66)


async def _until(what, seconds: float = 25):
    for _ in range(int(seconds * 10)):
        found = what()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not in {seconds} s")


async def test_a_late_backup_is_told_once_per_lateness(admin, api, live_server, config):
    with SmtpReceiver.started(SMTP_USER, SMTP_PASSWORD) as smtp:
        async with HookReceiver.started() as hooks:
            status, _ = await admin.call(
                "PUT",
                "/orgs/MSPOrg/notifications/smtp",
                {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "starttls",
                    "username": SMTP_USER,
                    "password": SMTP_PASSWORD,
                    "sender": "strongroom@example.test",
                    "ca_pem": smtp.ca_pem,
                },
            )
            assert status == 200
            status, _ = await admin.call(
                "POST",
                "/orgs/MSPOrg/notifications/webhooks",
                {"name": "noc", "url": hooks.url("/noc"), "ca_pem": hooks.ca_pem},
            )
            assert status == 201
            await make_user(admin, "backadm", "administrator", email="backadm@example.test")
            await make_user(admin, "backusr", "password_user", email="backusr@example.test")

            def late_hooks() -> list[dict]:
                bodies = [json.loads(raw) for _, raw in hooks.calls]
                return [b for b in bodies if b["subject"] == LATE]

            def late_mails(to: str) -> list:
                return [m for m in smtp.messages if m["To"] == to and m["Subject"] == LATE]

            # 1. Nothing ever succeeded: late once the interval and its grace have passed.
            (first,) = await _until(late_hooks)
            assert first["kind"] == "cluster_alert"
            assert "none succeeded since the node started" in first["text"], first
            assert "every 3 s" in first["text"]
            # Failures go on (each one told as a failed backup), the lateness is not told again.
            await asyncio.sleep(4)
            assert len(late_hooks()) == 1
            failed = [json.loads(raw) for _, raw in hooks.calls if b"A backup failed" in raw]
            assert len(failed) >= 2
            (mail,) = await _until(lambda: late_mails("backadm@example.test"))
            assert "none succeeded since the node started" in mail.get_content()
            assert late_mails("backusr@example.test") == []  # not an administrator

            # 2. Mended: a backup succeeds; broken again: a new lateness, told once more.
            folder = config.path(config.backup.dir)
            env = live_server.app[ENV]
            key = X25519PrivateKey.generate()
            env.config.backup.recipient = backup_crypto.format_recipient(key.public_key())
            (made, *_) = await _until(lambda: archive.list_backups(folder), 15)
            env.config.backup.recipient = BROKEN
            good_day = made[1]["created_at"][:10]
            await _until(lambda: len(late_hooks()) == 2, 20)
            second = late_hooks()[1]
            assert "the last good one at" in second["text"], second
            assert f"the last good one at {good_day}T" in second["text"], second
            await asyncio.sleep(4)
            assert len(late_hooks()) == 2
            await _until(lambda: len(late_mails("backadm@example.test")) == 2)
            assert late_mails("backusr@example.test") == []
            everything = "\n".join(
                [m.as_string() for m in smtp.messages] + [raw.decode() for _, raw in hooks.calls]
            )
            assert SMTP_PASSWORD not in everything


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:aiosmtpd")
