"""Accounts of a resource in the vault pane (mixed into ``VaultPane``): add, edit, delete,
set or generate the password, with the policy picker and the org's account fields."""

from __future__ import annotations

from tui.client import ApiError
from tui.logic import choices
from tui.logic import vault_checkout as checkout
from tui.logic import vault_fields as extra
from tui.screens.form import Field, new_password, new_password_fields
from tui.screens.listing import confirm_field
from tui.workers import api_worker


class AccountActions:
    """a new account, E edit, d delete, p set a password, g generate one."""

    async def _account_settings(self) -> tuple[list, list[dict]]:
        client = self.app.client
        try:
            policies = await choices.policies(client, self.org)
        except ApiError:
            policies = []
        try:
            definitions = extra.applicable(await client.field_definitions(self.org), "account")
        except ApiError:
            definitions = []
        return policies, definitions

    @api_worker()
    async def action_new_account(self) -> None:
        """Add an account to the selected resource: name, password (empty: generated under
        the picked policy) and the org's account fields (secret ones typed hidden)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        policy_choices, definitions = await self._account_settings()

        async def submit(v: dict) -> dict:
            body = {"username": v["username"]}
            body |= {"password": v["password"]} if v["password"] else {"generate": True}
            if v.get("policy"):
                body["policy"] = v["policy"]
            if fields := extra.field_values(definitions, v):
                body["fields"] = fields
            return await client.create_account(self.org, resource, body)

        fields = [
            Field("username", "Account name", required=True),
            Field("password", "Password (empty: generate one)", password=True),
        ]
        if policy_choices:
            fields.append(Field("policy", "Password policy", choices=policy_choices))
        fields += extra.form_fields(definitions)
        result = await self.form(
            f"New account on {self.selected_cell('resources', 0)}", fields, submit, action="add"
        )
        if result:
            self.changed("accounts", f"Account {result['username']} added.")

    @api_worker()
    async def action_edit_account(self) -> None:
        """Rename the selected account, change its policy or its additional fields."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        current = await client.account(self.org, account)
        policy_choices, definitions = await self._account_settings()
        fields = [Field("username", "Account name", value=current["username"], required=True)]
        if policy_choices:
            fields.append(
                Field("policy", "Password policy", value=current["policy"], choices=policy_choices)
            )
        fields += extra.form_fields(definitions, current.get("fields") or {})
        secret = any(d["kind"] == "secret" for d in definitions)

        async def submit(v: dict) -> dict:
            data = {k: v[k] for k in ("username", "policy") if v.get(k) and v[k] != current[k]}
            values = extra.field_values(definitions, v)
            if values != (current.get("fields") or {}):
                data["fields"] = values
            return await client.update_account(self.org, account, data)

        result = await self.form(
            f"Edit account {current['username']}",
            fields,
            submit,
            note="Secret fields: type them again when changing the fields (empty clears)."
            if secret
            else "",
        )
        if result:
            self.changed("accounts", f"Account {result['username']} updated.")

    @api_worker()
    async def action_delete_account(self) -> None:
        """Delete the selected account (asks first; needs full permission)."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        name = self.selected_cell("accounts", 0)

        async def submit(_v: dict) -> bool:
            await client.delete_account(self.org, account)
            return True

        if await self.form(
            f"Delete account {name}?",
            [confirm_field()],
            submit,
            note="Its password is gone for good.",
            action="delete",
            danger=True,
        ):
            self.changed("resources", f"Account {name} deleted.")

    @api_worker()
    async def action_generate(self) -> None:
        """Give the selected account a new password generated under its policy (asks
        first: the stored one is replaced)."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        name = self.selected_cell("accounts", 0)
        resource = self.selected_cell("resources", 0)

        async def submit(_v: dict) -> bool:
            try:
                await client.change_account_password(self.org, account, None)
            except ApiError as error:
                if error.code == "checked_out":
                    raise checkout.held_message(error) from None
                raise
            return True

        if await self.form(
            f"Generate a new password for {name} on {resource}?",
            [confirm_field()],
            submit,
            note="It replaces the stored one (under the account's policy).",
            action="generate",
            danger=True,
        ):
            self.changed("audit", f"A new password was generated for {name} on {resource}.")

    @api_worker()
    async def action_set_password(self) -> None:
        """Type a new password for the selected account (checked against its policy)."""
        account = self._account()
        if account is None:
            return
        client = self.app.client

        async def submit(v: dict) -> bool:
            password = new_password(v, "password")
            await client.change_account_password(self.org, account, password)
            return True

        on_target = bool((getattr(self, "_rotation_of", {}).get(account) or {}).get("connector"))
        done = await self.form(
            f"Set the password of {self.selected_cell('accounts', 0)}",
            new_password_fields("password", "New password"),
            submit,
            # Said where it applies (newcomer pass, session 9): p is the vault's record only.
            note=(
                "In the vault only: the target keeps its password. R changes it on the "
                "target and here."
                if on_target
                else ""
            ),
        )
        if done:
            self.changed(
                "audit",
                "Password changed in the vault (not on the target)."
                if on_target
                else "Password changed.",
            )
