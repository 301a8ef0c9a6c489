"""Users' SSH public keys for the SSH gateway (issue 30, item 2): register, list with
fingerprints, revoke; the accepted kinds and sizes; API keys cannot add keys; audited."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import make_user

ALL_ZERO_ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)


def keygen(folder: Path, name: str, kind: str, bits: int | None = None) -> str:
    """A fresh key pair made by OpenSSH's ssh-keygen; returns the public key line."""
    path = folder / name
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@laptop", "-f", str(path)]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True, capture_output=True)
    return (folder / f"{name}.pub").read_text().strip()


def fingerprint(line: str, folder: Path) -> str:
    """OpenSSH's own SHA256 fingerprint of a public key line."""
    (folder / "fp.pub").write_text(line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(folder / "fp.pub")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("sshkeys")
    made = {
        "ed": keygen(folder, "ed", "ed25519"),
        "ec": keygen(folder, "ec", "ecdsa", 384),
        "rsa3072": keygen(folder, "rsa3072", "rsa", 3072),
        "rsa2048": keygen(folder, "rsa2048", "rsa", 2048),
    }
    made.update({f"fp_{k}": fingerprint(v, folder) for k, v in list(made.items())})
    return made


async def test_register_list_revoke(api, admin, keys):
    """A user registers ed25519, ECDSA and RSA-3072 keys, sees OpenSSH's fingerprints,
    revokes one; each change is in the audit trail."""
    password = await make_user(admin, "sshuser", "password_user")
    user = await api.login("sshuser", password)
    status, ed = await user.call("POST", "/me/ssh-keys", {"public_key": keys["ed"]})
    assert status == 201, ed
    assert (ed["name"], ed["algorithm"], ed["bits"]) == ("ed@laptop", "ssh-ed25519", 256)
    assert ed["fingerprint"] == keys["fp_ed"] and ed["expires_at"] is None
    status, ec = await user.call(
        "POST",
        "/me/ssh-keys",
        {"public_key": keys["ec"], "name": "work", "expires_in_days": 30},
    )
    assert status == 201, ec
    assert (ec["name"], ec["bits"], ec["expired"]) == ("work", 384, False)
    assert ec["fingerprint"] == keys["fp_ec"] and ec["expires_at"]
    status, rsa = await user.call("POST", "/me/ssh-keys", {"public_key": keys["rsa3072"]})
    assert (status, rsa["bits"]) == (201, 3072), rsa

    status, page = await user.call("GET", "/me/ssh-keys")
    assert status == 200
    assert [k["fingerprint"] for k in page["items"]] == [
        keys["fp_ed"],
        keys["fp_ec"],
        keys["fp_rsa3072"],
    ]
    status, _ = await user.call("DELETE", f"/me/ssh-keys/{ec['id']}")
    assert status == 204
    status, again = await user.call("DELETE", f"/me/ssh-keys/{ec['id']}")
    assert (status, again["code"]) == (404, "not_found")
    page = (await user.call("GET", "/me/ssh-keys"))[1]
    assert keys["fp_ec"] not in [k["fingerprint"] for k in page["items"]]

    status, events = await admin.call("GET", "/orgs/MSPOrg/audit?actor=sshuser")
    assert status == 200, events
    ops = [(e["operation"], e["details"].get("fingerprint")) for e in events["items"]]
    assert ("ssh_key_added", keys["fp_ed"]) in ops
    assert ("ssh_key_deleted", keys["fp_ec"]) in ops


async def test_refused_keys_and_callers(api, admin, keys):
    """Short RSA, an all-zero ed25519 key, a private key, garbage, a duplicate of one's
    own (another user's is theirs: not refused, not revealed), an API key
    adding or revoking a key, another user's key id: each refused with its code, and
    nothing is registered."""
    password = await make_user(admin, "sshother", "password_user")
    user = await api.login("sshother", password)
    for text, why in (
        (keys["rsa2048"], "at least 3072"),
        (ALL_ZERO_ED25519, "small order"),  # attacker finding 4: a degenerate key
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----", "private"),
        ("ssh-ed25519 not-base64", "not an SSH public key"),
        (keys["ed"] + "\n" + keys["ec"], "one public key"),
    ):
        status, problem = await user.call("POST", "/me/ssh-keys", {"public_key": text})
        assert (status, problem["code"]) == (422, "ssh_key_refused"), problem
        assert why in problem["detail"]
        assert "AAAA" not in problem["detail"]
    status, problem = await user.call(
        "POST", "/me/ssh-keys", {"public_key": keys["ed"], "expires_in_days": 0}
    )
    assert (status, problem["code"]) == (422, "validation_failed")

    status, mine = await user.call("POST", "/me/ssh-keys", {"public_key": keys["ec"]})
    assert status == 201, mine
    status, problem = await user.call("POST", "/me/ssh-keys", {"public_key": keys["ec"]})
    assert (status, problem["code"]) == (409, "ssh_key_exists")
    # Attacker finding 4: another user registering the same public key neither is told
    # whose it is nor blocks its owner (a key is unique per user, migration 046) ...
    status, theirs = await admin.call("POST", "/me/ssh-keys", {"public_key": keys["ec"]})
    assert status == 201, theirs
    status, problem = await admin.call("POST", "/me/ssh-keys", {"public_key": keys["ec"]})
    assert (status, problem["code"]) == (409, "ssh_key_exists")
    assert "sshother" not in problem["detail"]
    status, _ = await admin.call("DELETE", f"/me/ssh-keys/{theirs['id']}")
    assert status == 204
    # ... nor revokes it.
    status, problem = await admin.call("DELETE", f"/me/ssh-keys/{mine['id']}")
    assert (status, problem["code"]) == (404, "not_found")

    status, made = await user.call("POST", "/me/api-keys", {"name": "script"})
    assert status == 201
    script = user.as_(made["key"])
    status, problem = await script.call("POST", "/me/ssh-keys", {"public_key": keys["rsa3072"]})
    assert (status, problem["code"]) == (403, "session_required")
    status, problem = await script.call("DELETE", f"/me/ssh-keys/{mine['id']}")
    assert (status, problem["code"]) == (403, "session_required")
    page = (await user.call("GET", "/me/ssh-keys"))[1]
    assert [k["fingerprint"] for k in page["items"]] == [keys["fp_ec"]]
