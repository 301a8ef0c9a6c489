"""Reveal, copy and check-out in the vault pane (mixed into ``VaultPane``): a reason when
the org asks for one; on an account under access control the request form is offered
right there; a password held by someone else says who holds it until when."""

from __future__ import annotations

from tui.client import ApiError
from tui.clipboard import copied_sentence, copy_for_a_while
from tui.logic import vault_checkout as checkout
from tui.logic.approvers import checkout_note
from tui.logic.times import local_clock
from tui.screens.form import Field
from tui.screens.listing import confirm_field
from tui.screens.modals import RevealModal
from tui.workers import api_worker


class RevealActions:
    """r reveal, c copy, o request a check-out, i check in (on the highlighted account)."""

    async def _secret(self, account: str) -> dict | None:
        """Reveal ``account``: a reason when the org asks for one; under access control the
        request form is offered; a password held by another says by whom until when."""
        client = self.app.client
        if await self._refused_beforehand(account):
            return None
        try:
            return await client.reveal(self.org, account)
        except ApiError as error:
            if error.code == "checkout_required":
                if await self._waiting(account):
                    return None
                await self._request_checkout(
                    account, "This password is under access control: ask for it first."
                )
                return None
            if error.code == "checked_out":
                self.app.show_error(checkout.held_message(error), "Checked out")
                return None
            if error.code != "reason_required":
                self.app.show_error(error, "Not revealed")
                return None
        return await self.form(
            "Reason for revealing",
            [Field("reason", "Reason (ticket, change…)", required=True)],
            lambda v: client.reveal(self.org, account, v["reason"]),
            note="This organization asks why a password is revealed.",
            action="reveal",
        )

    async def _refused_beforehand(self, account: str) -> bool:
        """Decide from the account's access state, without a refused reveal (issue 35: a
        refusal is recorded as access_denied and may raise an alert): under access control
        and not mine, say who holds it or open the request form. The list's state may be
        old, so a controlled account's state is read again (a GET, never a refusal)."""
        if not (self._access_of.get(account) or {}).get("controlled"):
            return False  # the reveal's own answer still covers a control set since
        try:
            access = (await self.app.client.account(self.org, account)).get("access") or {}
        except ApiError:
            return False
        self._access_of[account] = access
        if not access.get("controlled") or access.get("state") == "mine":
            return False
        if access.get("state") == "held":
            self.app.notify(
                f"Held by {access.get('holder')} until {local_clock(access.get('until'))}.",
                title="Checked out",
                severity="error",
                timeout=8,
            )
        elif not await self._waiting(account):
            await self._request_checkout(
                account, "This password is under access control: ask for it first."
            )
        return True

    @api_worker(group="reveal")
    async def action_reveal(self) -> None:
        """Reveal the selected account's password; it hides itself after a while."""
        account = self._account()
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        secret = await self._secret(account)
        if not secret:
            return
        self.changed("audit")
        await self.app.push_screen(
            RevealModal(
                f"Password of {name}",
                secret["password"],
                self.app.reveal_seconds,
                secret.get("fields") or {},
            )
        )

    @api_worker(group="reveal")
    async def action_copy(self) -> None:
        """Copy the selected account's password without showing it; the clipboard is
        cleared again after the app's ``clipboard_seconds``."""
        account = self._account()
        if account is None:
            return
        secret = await self._secret(account)
        if not secret:
            return
        seconds = self.app.clipboard_seconds
        copy_for_a_while(self.app, secret["password"], seconds)
        what = f"Password of {self.selected_cell('accounts', 0)}"
        self.changed("audit", copied_sentence(self.app, what, seconds))

    async def _waiting(self, account: str) -> bool:
        """Say so when my request for ``account`` is still waiting for approval."""
        if account not in await checkout.pending_accounts(self.app.client, self.org):
            return False
        name = self.selected_cell("accounts", 0)
        self.app.notify(
            f"Your check-out request for {name} is waiting for approval (F4 shows it).",
            severity="warning",
        )
        return True

    async def _request_checkout(self, account: str, why: str = "") -> None:
        client = self.app.client
        name = self.selected_cell("accounts", 0)
        try:
            control = await client.access_control(self.org, "account", account)
        except ApiError:
            control = {}  # the server still says how long the window may be

        async def submit(values: dict) -> dict:
            try:
                return await client.request_password(
                    self.org, checkout.request_body(account, values)
                )
            except ApiError as error:
                raise checkout.readable_refusal(error) from None

        try:  # who could approve it, and why not (issue 27)
            who = checkout_note(await client.checkout_approvers(self.org, account)) + "\n"
        except ApiError:
            who = ""
        done = await self.form(
            f"Request the password of {name}",
            checkout.request_fields(control.get("max_window_minutes")),
            submit,
            note=(why + "\n" if why else "")
            + who
            + "The approvers are asked; reveal once approved.",
            action="request",
        )
        if done:
            self.changed("accounts", f"Check-out of {name} requested; waiting for approval.")

    @api_worker()
    async def action_check_out(self) -> None:
        """Ask for the selected (access-controlled) password: reason and window."""
        account = self._account()
        if account is not None and not await self._waiting(account):
            await self._request_checkout(account)

    @api_worker("Not checked in")
    async def action_check_in(self) -> None:
        """Give back the selected password that I hold."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        mine = await checkout.my_checkout(client, self.org, account)
        if mine is None:
            self.app.notify("You hold no check-out of this password.", severity="warning")
            return
        current = await client.account(self.org, account)
        before = current["password_changed_at"]
        try:
            rotates = (await client.access_control(self.org, "account", account)).get(
                "rotate_on_checkin"
            )
        except ApiError:
            rotates = None  # the check-in still says whether it was replaced
        if not await self.form(
            f"Check in {mine['account']}?",
            [confirm_field()],
            note="You give the password back"
            + ("; a new password replaces it." if rotates else ".")
            + " Revealing it again needs a new check-out.",
            action="check in",
        ):
            return
        back = await client.check_in(self.org, mine["id"])
        after = (await client.account(self.org, account))["password_changed_at"]
        replaced = "; its password was replaced by a new one" if after != before else ""
        if back.get("rotated_on_target") is True:
            replaced += " on its target"
        elif back.get("rotated_on_target") is False:
            # Issue 29: the target could not be changed; the vault kept the password that
            # still opens it, and the schedule retries.
            replaced = (
                "; changing its password on the target failed, so the current one stays "
                "(retried later; see the account's last change)"
            )
        # A check-in cannot rotate secret fields: the server names the ones left as seen.
        stale = back.get("secret_fields_to_change") or []
        if stale:
            replaced += "; change its secret fields too: " + ", ".join(stale)
        self.changed("accounts", f"{mine['account']} checked in{replaced}.")
