"""The main screen: a top band (org, user, server state) over tabbed panes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Select, Static, TabbedContent, TabPane, Tabs

from server.core.permissions import MANAGE_ORGS  # shared plain data
from tui import collector
from tui.client import ApiError
from tui.controls.keybar import KeyBar
from tui.controls.picker import Picker
from tui.messages import DataChanged, OrgSelected
from tui.screens.me import MeScreen
from tui.screens.modals import TextModal
from tui.screens.notices import show_notices
from tui.screens.server_view import server_lines
from tui.tabs import capabilities_in, hidden_tabs
from tui.text import inert
from tui.widgets.access import AccessPane
from tui.widgets.approval_count import ApprovalCount
from tui.widgets.audit import AuditPane
from tui.widgets.orgs import OrgsPane
from tui.widgets.pane import Pane
from tui.widgets.settings import SettingsPane
from tui.widgets.users import UsersPane
from tui.widgets.vault import VaultPane
from tui.workers import api_worker

TABS = {  # tab id: (title, pane type, key)
    "vault": ("Vault", VaultPane, "f2"),
    "orgs": ("Organizations", OrgsPane, "f3"),
    "access": ("Access", AccessPane, "f4"),
    "audit": ("Audit", AuditPane, "f5"),
    "users": ("Users", UsersPane, "f6"),
    "settings": ("Settings", SettingsPane, "f7"),
}

Command = tuple[str, str, Callable[[], object]]


class MainScreen(Screen):
    """Everything after login."""

    AUTO_FOCUS = "#resources"  # the vault's list, from the first frame on
    hidden: dict[str, str] = {}  # tab id → why this user does not see it (set on mount)
    _applied: object = None  # the capabilities (GET /me) the tabs and keys follow

    BINDINGS = [
        *(
            Binding(
                key,
                f"show('{tab}')",
                "Orgs" if tab == "orgs" else title,
                tooltip=f"Show the {title} tab",
                key_display=key.upper(),
                id=f"tab-{tab}",
                priority=True,
            )
            for tab, (title, _pane, key) in TABS.items()
        ),
        Binding(
            "ctrl+r", "refresh", "Refresh", tooltip="Reload the lists", id="refresh", priority=True
        ),
        Binding(
            "ctrl+o",
            "pick_org",
            "Org",
            tooltip="Pick the organization",
            id="pick-org",
            priority=True,
        ),
        Binding(
            "ctrl+t",
            "me",
            "Me",
            tooltip="My account: password, 2FA, API keys",
            id="me",
            priority=True,
        ),
        Binding(
            "ctrl+k",
            "cluster",
            "Server",
            tooltip="Server and cluster state",
            id="cluster",
            priority=True,
        ),
        Binding("ctrl+x", "logout", "Log out", id="logout", priority=True),
    ]

    def compose(self) -> ComposeResult:
        """Top band, banner, tabs, key bar."""
        me = self.app.me
        home = me.get("org", "MSPOrg")
        with Horizontal(id="band"):
            yield Picker(
                [(home, home)],
                value=home,
                allow_blank=False,
                id="org-select",
                compact=True,
                enter_submits=False,
            )
            yield Static(
                inert(f"{me.get('username')} · {str(me.get('role', '')).replace('_', ' ')}"),
                id="who",
            )
            yield ApprovalCount(id="to-approve")
            yield Static("", id="server")
        yield Static("", id="banner", classes="hidden")
        with TabbedContent(id="tabs", initial="vault"):
            for tab, (title, pane_type, key) in TABS.items():
                with TabPane(f"{title} {key.upper()}", id=tab):
                    yield pane_type()
        yield KeyBar()

    def on_mount(self) -> None:
        """Load the org list and the server state; the vault's list has the focus."""
        self.query_one(Tabs).can_focus = False  # F2-F6 switch tabs; Tab moves inside one
        self.hidden = {}
        self.apply_capabilities()  # tabs this user cannot use: not shown
        self.load_orgs()
        self.refresh_server()
        self.set_interval(10, self.refresh_server)
        collector.start(self)  # full garbage collections wait for an idle keyboard
        self.call_after_refresh(self._notices_after_first_frame)

    def _notices_after_first_frame(self) -> None:
        """The notices told at login until read (issue 27), unless this screen went away
        before its first frame (Ctrl+X or Ctrl+Q typed at once: they would cover the
        login screen, or be pushed on an app that is ending)."""
        if self.is_attached and self in self.app.screen_stack and self.app.is_running:
            show_notices(self.app)

    def apply_capabilities(self) -> None:
        """Show the tabs the user may use in the org chosen in the band (``GET /me``'s
        capabilities there, as last loaded), hide the others, and let every key bar ask
        again which keys it shows. A tab on show that is hidden gives way to the Vault."""
        self._applied = self.app.me.get("capabilities")
        band = self.query_one("#org-select", Select).value
        hidden = hidden_tabs(self.app.me, band if isinstance(band, str) else None)
        tabs = self.query_one(TabbedContent)
        for tab in TABS:
            if tab in hidden and tab not in self.hidden:
                tabs.hide_tab(tab)
            elif tab not in hidden and tab in self.hidden:
                tabs.show_tab(tab)
        changed = hidden != self.hidden
        self.hidden = hidden
        if tabs.active in hidden:
            tabs.active = "vault"
        if changed:
            self.refresh_bindings()
        for _title, pane_type, _key in TABS.values():
            self.query_one(pane_type).refresh_bindings()

    async def reload_me(self) -> None:
        """Read ``GET /me`` again; when the user's capabilities changed (a grant approved
        or revoked, a role changed), the tabs and keys follow."""
        self.app.me = await self.app.client.me()
        if self.app.me.get("capabilities") != self._applied:
            self.apply_capabilities()

    def active_pane(self) -> Pane:
        """The pane of the tab on show."""
        return self.query_one(TABS[self.query_one(TabbedContent).active][1])

    def focus_active_list(self) -> None:
        """The list of the tab on show (looked up now: the user may have switched since)."""
        self.active_pane().focus_list()

    def pane_title(self) -> str:
        """The name of the tab on show (for the keys panel)."""
        return TABS[self.query_one(TabbedContent).active][0]

    @api_worker(exclusive=True, group="orgs-band")
    async def load_orgs(self) -> None:
        """Fill the org selector: MSPOrg first, then the orgs I manage or hold a grant for;
        my capabilities in each are read again with them (``GET /me``)."""
        await self.reload_me()
        orgs = await self.app.client.orgs()
        orgs.sort(key=lambda o: (not o["is_msp"], o["display_name"].lower()))
        home = self.app.me.get("org")
        names = [
            o["display_name"]
            for o in orgs
            if o["is_msp"] or o.get("managed") or o["display_name"] == home
        ]
        select = self.query_one("#org-select", Select)
        keep = select.value if select.value in names else home
        with select.prevent(Select.Changed):
            select.set_options([(n, n) for n in names])
            select.value = keep
        self.post_message(OrgSelected(keep))

    @on(Select.Changed, "#org-select")
    def org_changed(self, event: Select.Changed) -> None:
        """Tell the panes which org to show; back to the list."""
        if isinstance(event.value, str):
            self.post_message(OrgSelected(event.value))
            self.active_pane().focus_list()

    @on(OrgSelected)
    def broadcast(self, message: OrgSelected) -> None:
        """Hand the selected org to every pane that works inside one."""
        for pane in (VaultPane, AccessPane, AuditPane, UsersPane):
            self.query_one(pane).org = message.org
        self.query_one(ApprovalCount).org = message.org
        self.apply_capabilities()

    @on(TabbedContent.TabActivated)
    def tab_shown(self, event: TabbedContent.TabActivated) -> None:
        """A tab on show reloads its lists (unchanged rows are not redrawn) and its list
        takes the focus."""
        self.active_pane().load()
        self.call_after_refresh(self.focus_active_list)

    @on(DataChanged)
    def data_changed(self, _message: DataChanged) -> None:
        """Something changed: reload the org band and the pane on show (the others
        reload when they are shown)."""
        self.load_orgs()
        self.active_pane().load()
        self.query_one(ApprovalCount).recount()

    def action_refresh(self) -> None:
        """Reload the org band, the lists on show and the server's state."""
        self.load_orgs()
        self.active_pane().load()
        self.refresh_server()
        self.app.notify("Reloading the lists and the server state.", timeout=2)

    @api_worker(exclusive=True, group="server")
    async def refresh_server(self) -> None:
        """PRIMARY, or a persistent READ-ONLY SECONDARY banner; back to the primary as soon
        as it answers again."""
        if await self.app.client.prefer_primary():
            self.app.notify("The primary answers again; switched back to it.")
        try:
            await self.reload_me()  # a session that ended shows at once, not at next use
            state = await self.app.client.health()
        except ApiError as error:
            # An ended session brings the login screen (one notice, from show_error);
            # only a server that does not answer is called unreachable.
            unreachable = error.code == "unreachable"
            if unreachable:
                self.query_one("#server", Static).update("UNREACHABLE")
            self.app.show_error(error, "Server not reachable" if unreachable else "Request failed")
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
        cluster: GET /cluster is for MSPOrg administrators (``require_msp_admin``), the
        ``manage_orgs`` of ``GET /me``; nobody else is asked (a refusal would be recorded
        as denied every 10 s)."""
        if MANAGE_ORGS not in capabilities_in(self.app.me, None):
            return ""
        try:
            view = await self.app.client.cluster()
        except ApiError:
            return ""
        lags = [s["lag_seconds"] or 0.0 for s in view["standbys"]]
        return f" · lag {max(lags):.1f} s" if lags else ""

    def palette_commands(self) -> Iterator[Command]:
        """(title, help, callback) for the command palette: every action on this screen."""
        yield "Refresh", "Reload the org list and the lists on show (Ctrl+R)", self.action_refresh
        yield "Pick the organization", "Focus the org selector (Ctrl+O)", self.action_pick_org
        yield "My account", "Password, 2FA, API keys (Ctrl+T)", self.action_me
        yield "Server", "Which node, its role and state (Ctrl+K)", self.action_cluster
        yield "Log out", "End the session (Ctrl+X)", self.action_logout
        for tab, (title, pane_type, key) in TABS.items():
            if tab in self.hidden:
                continue
            yield f"Go to {title}", f"Show the {title} tab ({key.upper()})", self._go(tab)
            pane = self.query_one(pane_type)
            for binding in pane_type.BINDINGS:
                if (
                    binding.show
                    and pane.palette_allows(binding.action)
                    and binding.action not in pane.PALETTE_SKIP
                ):
                    yield (
                        f"{title}: {binding.tooltip or binding.description}",
                        f"key {binding.key}",
                        self._go(tab, binding.action),
                    )

    def _go(self, tab: str, action: str | None = None) -> Callable[[], None]:
        """A palette callback: show ``tab``, focus its list, then run ``action`` there."""

        def run() -> None:
            self.action_show(tab)
            pane = self.query_one(TABS[tab][1])
            pane.focus_list()
            if action:
                self.call_after_refresh(getattr(pane, f"action_{action}"))

        return run

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The F-key of a tab this user cannot use does nothing and is not shown."""
        if action == "show" and parameters and parameters[0] in self.hidden:
            return False
        return True

    def action_show(self, tab: str) -> None:
        """Switch tabs (from anywhere on this screen); the tab's list takes the focus."""
        if tab in self.hidden:
            self.app.notify(self.hidden[tab], severity="warning")
            return
        self.query_one(TabbedContent).active = tab  # shows the pane at once
        self.active_pane().focus_list()

    def action_pick_org(self) -> None:
        """Open the org selector: type to search, Enter chooses, Esc keeps the org."""
        band = self.query_one("#org-select", Picker)
        self.set_focus(band)
        band.expanded = True

    def action_me(self) -> None:
        """My account: password, two-factor authentication, API keys (Esc comes back)."""
        self.app.push_screen(MeScreen())

    @api_worker()
    async def action_cluster(self) -> None:
        """What the client knows of the server(s) it talks to."""
        lines = await server_lines(self.app.client)
        await self.app.push_screen_wait(TextModal("Server", lines))

    @api_worker()
    async def action_logout(self) -> None:
        """End the session and go back to the login screen (whatever the server answers:
        the token is dropped either way)."""
        try:
            await self.app.client.logout()
        except ApiError:
            pass
        finally:
            self.app.call_later(self.app.show_login)
