"""Key hierarchy primitives: the master key file, wrapping, place-bound field encryption."""

from __future__ import annotations

import uuid

import pytest

from server.security import crypto


def test_master_key_file_rules(tmp_path):
    """A missing, loose or short key file is refused with a clear reason; 0600 loads."""
    path = tmp_path / "master.key"
    with pytest.raises(crypto.MasterKeyError, match="missing"):
        crypto.load_master_key(path)
    crypto.write_key_file(path, crypto.new_key())
    assert len(crypto.load_master_key(path)) == 32
    path.chmod(0o640)
    with pytest.raises(crypto.MasterKeyError, match="chmod 600"):
        crypto.load_master_key(path)
    path.chmod(0o604)
    with pytest.raises(crypto.MasterKeyError, match="readable by group or others"):
        crypto.load_master_key(path)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    with pytest.raises(crypto.MasterKeyError, match="exactly 32 bytes"):
        crypto.load_master_key(short)
    with pytest.raises(FileExistsError):
        crypto.write_key_file(path, crypto.new_key())


def test_wrapped_key_is_bound_to_org_and_version():
    """A wrapped DEK opens only with its KEK, its org and its version."""
    kek, dek, org = crypto.new_key(), crypto.new_key(), uuid.uuid4()
    wrapped = crypto.wrap_key(kek, dek, org, 1)
    assert crypto.unwrap_key(kek, wrapped, org, 1) == dek
    for args in (
        (crypto.new_key(), wrapped, org, 1),
        (kek, wrapped, uuid.uuid4(), 1),
        (kek, wrapped, org, 2),
    ):
        with pytest.raises(crypto.DecryptionFailed):
            crypto.unwrap_key(*args)


def test_ciphertext_is_bound_to_its_place():
    """A secret copied to another row, column, table or org, or altered, fails to decrypt."""
    dek, org, row = crypto.new_key(), uuid.uuid4(), uuid.uuid4()
    blob = crypto.encrypt_field(dek, 3, "hunter2", org, "accounts", row, "password")
    assert crypto.field_version(blob) == 3
    assert crypto.decrypt_field(dek, blob, org, "accounts", row, "password") == "hunter2"
    wrong_places = [
        (org, "accounts", uuid.uuid4(), "password"),
        (org, "accounts", row, "notes"),
        (org, "users", row, "password"),
        (uuid.uuid4(), "accounts", row, "password"),
    ]
    for place in wrong_places:
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt_field(dek, blob, *place)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(dek, bytes(tampered), org, "accounts", row, "password")
    relabelled = (4).to_bytes(4, "big") + blob[4:]
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(dek, relabelled, org, "accounts", row, "password")


def test_nonces_are_fresh():
    """Encrypting the same secret twice gives different ciphertexts."""
    dek, org, row = crypto.new_key(), uuid.uuid4(), uuid.uuid4()
    a = crypto.encrypt_field(dek, 1, "same", org, "t", row, "c")
    b = crypto.encrypt_field(dek, 1, "same", org, "t", row, "c")
    assert a != b
