"""The caller's SSH public keys for the SSH gateway: /me/ssh-keys (issue 30)."""

from __future__ import annotations

from pydantic import Field

from server.services.ssh_keys import MAX_DAYS
from server.web.models.common import Answer, Body, integer, text


class SshKeyBody(Body):
    """``POST /me/ssh-keys``: one public key in OpenSSH form (ed25519, ECDSA, or RSA of at
    least 3072 bits), an optional name (default: the key's comment) and an optional
    lifetime in days (left out: the key does not expire)."""

    public_key: text(4096, non_empty=True) = Field(
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9... alice@laptop"]
    )
    name: text(100, non_empty=True) = None  # type: ignore[assignment]
    expires_in_days: integer(1, MAX_DAYS) = None  # type: ignore[assignment]


class SshKey(Answer):
    """An SSH public key as listed: its fingerprint (OpenSSH's SHA256: form), never needed
    again in full."""

    id: str
    name: str
    algorithm: str = Field(examples=["ssh-ed25519"])
    bits: int
    fingerprint: str = Field(examples=["SHA256:zbScnGtu3Rf6kiBXdL54k8+GUXfh2+rN2X/NGDeoHWI"])
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    expired: bool
