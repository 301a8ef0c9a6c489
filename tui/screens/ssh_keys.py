"""My SSH keys (issue 30): the public keys that log me in to the SSH gateway
(``ssh -p 2222 alice@vault``). Opened from My account with ``s``: listed with their
fingerprints; ``a`` adds one (pasted in OpenSSH form), ``d`` revokes the highlighted
one, Esc goes back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.controls.table import fill_table
from tui.logic.fields import Field
from tui.logic.times import minute
from tui.screens.form import FormModal, typed_confirmation
from tui.text import inert
from tui.workers import api_worker

SSH_KEY_DAYS = [
    ("never", ""),
    ("30 days", "30"),
    ("90 days", "90"),
    ("365 days", "365"),
]


class SshKeysModal(ModalScreen[None]):
    """My SSH public keys: add, revoke, back."""

    AUTO_FOCUS = "#ssh-keys"
    BINDINGS = [
        Binding("a", "add", "Add", tooltip="Add an SSH public key", id="ssh-add"),
        Binding("d", "revoke", "Revoke", tooltip="Revoke the SSH key", id="ssh-revoke"),
        Binding("escape", "close", "Back", id="ssh-back"),
    ]

    def compose(self) -> ComposeResult:
        """Title, the keys, the keys of this dialog."""
        with Vertical(classes="dialog wide"):
            yield Static("My SSH keys (for the SSH gateway)", classes="dialog-title")
            table = DataTable(id="ssh-keys", cursor_type="row", zebra_stripes=True)
            table.add_columns("Name", "Fingerprint", "Expires", "Last used")
            yield table
            yield Static("a: add   d: revoke   Esc: back", classes="dialog-keys")

    def on_mount(self) -> None:
        """Fill in from the server."""
        self.load()

    @api_worker(exclusive=True, group="ssh-keys")
    async def load(self) -> None:
        """Fetch my SSH keys."""
        keys = await self.app.client.ssh_keys()
        fill_table(
            self.query_one("#ssh-keys", DataTable),
            (
                (
                    k["id"],
                    (
                        inert(k["name"]),
                        inert(k["fingerprint"]),  # whole: it is compared with ssh-keygen -l
                        (minute(k.get("expires_at")) or "never")
                        + (" (expired)" if k.get("expired") else ""),
                        minute(k.get("last_used_at")) or "never",
                    ),
                )
                for k in keys
            ),
        )

    @api_worker()
    async def action_add(self) -> None:
        """Add a public key pasted in OpenSSH form, with an optional lifetime."""
        client = self.app.client
        made = await self.app.push_screen_wait(
            FormModal(
                "Add an SSH public key",
                [
                    Field(
                        "key",
                        "Public key (the .pub file's line)",
                        required=True,
                        placeholder="ssh-ed25519 AAAA... alice@laptop",
                        api_names=("public_key",),
                    ),
                    Field("name", "Name (default: the key's comment)"),
                    Field(
                        "days",
                        "Expires after",
                        value="",
                        choices=SSH_KEY_DAYS,
                        api_names=("expires_in_days",),
                    ),
                ],
                lambda v: client.add_ssh_key(
                    v["key"].strip(), v["name"].strip() or None, int(v["days"] or 0) or None
                ),
                note="ed25519, ECDSA or RSA of 3072 bits or more.",
                action="add",
                wide=True,
            )
        )
        if made:
            self.app.notify(f"SSH key {made['name']} added: {made['fingerprint']}")
            self.load()

    @api_worker()
    async def action_revoke(self) -> None:
        """Revoke the highlighted key (type its name to confirm)."""
        table = self.query_one("#ssh-keys", DataTable)
        if table.row_count == 0:
            self.app.notify("You have no SSH key to revoke.", severity="warning")
            return
        key_id = str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)
        name = str(table.get_row_at(table.cursor_row)[0])
        client = self.app.client

        async def submit(v: dict) -> bool:
            await client.delete_ssh_key(key_id)
            return True

        if await self.app.push_screen_wait(
            FormModal(
                f"Revoke SSH key {name}",
                [typed_confirmation(name, problem=f"type {name} to revoke it", strip=True)],
                submit,
                note="Logins to the SSH gateway with this key are refused from now on.",
                action="revoke",
                danger=True,
            )
        ):
            self.app.notify(f"SSH key {name} revoked.")
            self.load()

    def action_close(self) -> None:
        """Back to My account."""
        self.dismiss(None)
