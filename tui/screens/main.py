"""The main screen: a top band (org, user, server state) over tabbed panes."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Select, Static, TabbedContent, TabPane

from tui.client import ApiError
from tui.messages import OrgSelected
from tui.screens.modals import FormField, FormModal, TextModal
from tui.screens.totp import TotpModal
from tui.text import inert
from tui.widgets.access import AccessPane
from tui.widgets.audit import AuditPane
from tui.widgets.orgs import OrgsPane
from tui.widgets.users import UsersPane
from tui.widgets.vault import VaultPane


class MainScreen(Screen):
    """Everything after login."""

    BINDINGS = [
        Binding("f2", "show('vault')", "Vault", id="tab-vault"),
        Binding("f3", "show('orgs')", "Orgs", id="tab-orgs"),
        Binding("f4", "show('access')", "Access", id="tab-access"),
        Binding("f5", "show('audit')", "Audit", id="tab-audit"),
        Binding("f6", "show('users')", "Users", id="tab-users"),
        Binding("ctrl+o", "pick_org", "Org", id="pick-org"),
        Binding("ctrl+t", "two_factor", "2FA", id="two-factor"),
        Binding("ctrl+k", "cluster", "Server", id="cluster"),
        Binding("ctrl+l", "logout", "Log out", id="logout"),
    ]

    def compose(self) -> ComposeResult:
        """Top band, banner, tabs, footer."""
        me = self.app.me
        with Horizontal(id="band"):
            home = me.get("org", "MSPOrg")
            yield Select(
                [(home, home)],
                value=home,
                prompt="Organization",
                id="org-select",
                allow_blank=False,
            )
            yield Static(
                inert(f"{me.get('username')} · {me.get('role')} · {me.get('org')}"), id="who"
            )
            yield Static("", id="server")
        yield Static("", id="banner", classes="hidden")
        with TabbedContent(id="tabs", initial="vault"):
            with TabPane("Vault", id="vault"):
                yield VaultPane()
            with TabPane("Organizations", id="orgs"):
                yield OrgsPane()
            with TabPane("Access", id="access"):
                yield AccessPane()
            with TabPane("Audit", id="audit"):
                yield AuditPane()
            with TabPane("Users", id="users"):
                yield UsersPane()
        yield Footer()

    def on_mount(self) -> None:
        """Load the org list and the server state."""
        self.load_orgs()
        self.refresh_server()
        self.set_interval(10, self.refresh_server)

    @work(exclusive=True, exit_on_error=False, group="orgs-band")
    async def load_orgs(self) -> None:
        """Fill the org selector: MSPOrg first, then the orgs I manage, then the rest."""
        try:
            orgs = await self.app.client.orgs()
        except ApiError as error:
            self.app.show_error(error)
            return
        orgs.sort(key=lambda o: (not o["is_msp"], not o.get("managed"), o["display_name"]))
        select = self.query_one("#org-select", Select)
        home = self.app.me.get("org")
        select.set_options(
            [
                (o["display_name"], o["display_name"])
                for o in orgs
                if o["is_msp"] or o.get("managed") or o["display_name"] == home
            ]
        )
        select.value = home
        self.post_message(OrgSelected(home))

    @on(Select.Changed, "#org-select")
    def org_changed(self, event: Select.Changed) -> None:
        """Tell the panes which org to show."""
        if isinstance(event.value, str):
            self.post_message(OrgSelected(event.value))

    @on(OrgSelected)
    def broadcast(self, message: OrgSelected) -> None:
        """Hand the selected org to every pane."""
        for pane in (VaultPane, AccessPane, AuditPane, UsersPane):
            self.query_one(pane).org = message.org

    @work(exclusive=True, exit_on_error=False, group="server")
    async def refresh_server(self) -> None:
        """PRIMARY, or a persistent READ-ONLY SECONDARY banner; back to the primary as soon
        as it answers again."""
        if await self.app.client.prefer_primary():
            self.app.notify("The primary answers again; switched back to it.")
        try:
            state = await self.app.client.health()
        except ApiError as error:
            self.query_one("#server", Static).update("UNREACHABLE")
            self.app.show_error(error, "Server not reachable")
            return
        server = self.query_one("#server", Static)
        banner = self.query_one("#banner", Static)
        if state.read_only:
            server.update("SECONDARY")
            banner.update(
                f"READ-ONLY SECONDARY ({state.url}): you can log in, browse and "
                "reveal; changes are refused until the primary is back."
            )
            banner.remove_class("hidden")
        else:
            server.update("PRIMARY" + (" (degraded)" if state.degraded else "") + await self._lag())
            banner.add_class("hidden")

    async def _lag(self) -> str:
        """' · lag 0.2 s' for the slowest standby, when the server lets the user see the
        cluster (it decides; a refusal just means no lag is shown)."""
        try:
            view = await self.app.client.cluster()
        except ApiError:
            return ""
        lags = [s["lag_seconds"] or 0.0 for s in view["standbys"]]
        return f" · lag {max(lags):.1f} s" if lags else ""

    def palette_commands(self):
        """(title, help, callback) for the command palette: every pane's actions."""
        panes = {
            "vault": VaultPane,
            "orgs": OrgsPane,
            "access": AccessPane,
            "audit": AuditPane,
            "users": UsersPane,
        }
        yield "Log out", "End the session", self.action_logout
        yield "Two-factor authentication", "Set up TOTP", self.action_two_factor
        yield "Server", "Which node, its role and state", self.action_cluster
        for tab, pane_type in panes.items():
            pane = self.query_one(pane_type)
            yield f"Go to {tab}", f"Show the {tab} tab", lambda t=tab: self.action_show(t)
            for binding in pane.BINDINGS:

                def run(p=pane, action=binding.action, t=tab):
                    self.action_show(t)
                    p.focus()
                    p.run_action(action)

                yield f"{tab}: {binding.description}", f"key {binding.key}", run

    def action_show(self, tab: str) -> None:
        """Switch tabs."""
        self.query_one(TabbedContent).active = tab

    @work(exit_on_error=False)
    async def action_two_factor(self) -> None:
        """Enrol in TOTP: re-enter the password, scan the code, confirm."""
        form = await self.app.push_screen_wait(
            FormModal(
                "Set up two-factor authentication",
                [FormField("password", "Your current password", password=True)],
            )
        )
        if not form:
            return
        try:
            enrolment = await self.app.client.begin_totp(form["password"])
        except ApiError as error:
            self.app.show_error(error, "Two-factor not started")
            return
        if await self.app.push_screen_wait(
            TotpModal(enrolment["secret"], enrolment["otpauth_uri"])
        ):
            self.app.notify("Two-factor authentication is on: logins now ask for a code.")

    @work(exit_on_error=False)
    async def action_cluster(self) -> None:
        """What the client knows of the server(s) it talks to."""
        client = self.app.client
        try:
            state = await client.health()
        except ApiError as error:
            self.app.show_error(error)
            return
        lines = [
            f"Connected to: {state.url}",
            f"Role: {state.role}",
            f"Read-only: {'yes' if state.read_only else 'no'}",
            f"Degraded: {'yes' if state.degraded else 'no'}",
            f"Term: {state.term}",
            f"Last backup: {state.last_backup_at or 'none'}"
            + (" (the latest attempt FAILED)" if state.last_backup_failed else ""),
            "",
            "Configured servers:",
        ] + [f"  {e.base}" for e in client.endpoints]
        try:
            view = await client.cluster()
        except ApiError:
            view = None  # not an MSPOrg administrator: health is all there is to show
        if view is not None:
            lines += ["", f"Replication: {view['replication']}"]
            lines += [
                f"  standby {s['application_name']} {s['state']} ({s['sync_state']}), "
                f"lag {s['lag_bytes'] or 0} bytes / {s['lag_seconds'] or 0:.1f} s"
                for s in view["standbys"]
            ] or ["  no standby connected"]
            lines += ["", "Nodes:"] + [
                f"  {n['name']}: {n.get('role') or 'unreachable'}"
                f"{' (read-only)' if n.get('read_only') else ''}, term {n.get('term')}"
                for n in view.get("nodes", [])
            ]
            witness = view.get("witness")
            lines.append(
                "Witness: none (failover is manual)"
                if witness is None
                else f"Witness: {'reachable' if witness['reachable'] else 'UNREACHABLE'}"
            )
        await self.app.push_screen_wait(TextModal("Server", lines))

    def action_pick_org(self) -> None:
        """Focus the org selector."""
        self.query_one("#org-select", Select).focus()

    @work(exit_on_error=False)
    async def action_logout(self) -> None:
        """End the session and go back to the login screen."""
        try:
            await self.app.client.logout()
        except ApiError:
            pass
        self.app.call_later(self.app.show_login)
