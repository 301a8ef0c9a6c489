"""A stateful property-based test of dual control (issue #26, item 12): one person, the
attacker, holds the founder account ``admin`` and every account it makes or whose password
it sets, and calls the API as any of them — accounts, roles, groups, grants and every kind
of org-access request, approvals, account managers, replicated settings, audit settings,
access controls, check-outs, shares, org edits. Honest people (bob, carol, dave and the
client orgs' own users) never act for it. After every step:

1. no attacker account reaches a client org (Acme, Globex) — nobody else ever approves
   anything for it, so it has no legitimate way in: ``GET /me`` lists no such org and the
   org's users answer 404;
2. no attacker account reveals a client secret, and no answer it receives carries one;
3. no answer is a server error.

The world is in tests/server/attacker.py. Each example runs on a fresh copy of it. Some
examples begin earlier, on the bare installation (``admin`` alone, the founding phase
open): the attacker makes administrators and demotes or disables them at once, then the
honest founders and the client orgs are made as usual.

Deterministic in CI (``derandomize``); a longer search on demand, e.g.
``STRONGROOM_ATTACK_EXAMPLES=500 STRONGROOM_ATTACK_STEPS=60 pytest tests/server/test_dual_…``
(``STRONGROOM_ATTACK_RANDOM=1`` drops the fixed seed: each run explores elsewhere, and
``--hypothesis-seed=N`` with it repeats one such run).
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, Phase, currently_in_test_context, note, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from server.core import permissions
from server.services.dual_control import KINDS
from server.services.replication_settings import CATEGORIES
from tests.server.attacker import CLIENTS, HONEST, Checked, Installation, Loop, Seen
from tests.server.conftest import ADMIN, ADMIN_PASSWORD

EXAMPLES = int(os.environ.get("STRONGROOM_ATTACK_EXAMPLES", "15"))  # ~3 minutes here
STEPS = int(os.environ.get("STRONGROOM_ATTACK_STEPS", "25"))
RANDOM = os.environ.get("STRONGROOM_ATTACK_RANDOM") == "1"

ROLES = permissions.ROLES
CLIENT_PEOPLE = {
    org: [f"{org.lower()}{who}" for who in ("boss", "worker", "appr")] for org in CLIENTS
}
SWEEP_EVERY = 4  # steps between full reveal sweeps (GET /me runs after every step)


@dataclass
class Account:
    """An account the attacker can act as: its name, home org and current password."""

    username: str
    org: str
    password: str
    api: Checked | None = None  # logged in (None: log in when needed)
    swept: str = ""  # its GET /me at its last reveal sweep
    refused: bool = False  # its last login failed: not tried again until the account changes


class Attacker(RuleBasedStateMachine):
    """The attacker's moves (rules) and the three invariants."""

    installation: Installation
    loop: Loop
    tally: Seen  # every call of every example, for the summary

    def __init__(self) -> None:
        super().__init__()
        self.seen = self.tally
        self.client: Checked | None = None
        self.accounts: dict[tuple[str, str], Account] = {}
        self.own_orgs: list[str] = []  # orgs the attacker created (not client orgs)
        self.people: dict[str, list[str]] = {"MSPOrg": ["admin", *HONEST]}
        self.roles: dict[str, list[str]] = {}
        self.groups: dict[str, list[str]] = {"Acme": ["staff"], "Globex": ["staff"]}
        self.requests: list[tuple[str, str]] = []  # (id, approver)
        self.checkouts: list[tuple[str, str]] = []
        self.vault: list[tuple[str, str, str]] = []  # (org, resource id, account id)
        self.ids: dict = {}
        self.made = 0
        self.steps = 0
        self.approved = 0  # org-access requests an attacker account approved
        self.power = 0  # the most of (active administrators + 3 x approvals) seen

    # -- plumbing --------------------------------------------------------------------------

    def run(self, coro):
        return self.loop.run(coro)

    def api_of(self, account: Account) -> Checked | None:
        """The account's session, logging in again when it has none or it ended."""
        assert self.client is not None
        if account.api is None:
            if account.refused:
                return None  # the login limiter counts failures: do not feed it
            status, answer = self.run(
                self.client.call(
                    "POST",
                    "/auth/login",
                    {"username": account.username, "password": account.password}
                    | ({"org": account.org} if account.org != "MSPOrg" else {}),
                )
            )
            if status != 200:
                account.refused = True
                return None
            account.api = self.client.as_(answer["token"])
            account.api.who = f"{account.username}@{account.org}"
            if answer["must_change_password"]:
                new = f"{account.password}-own"
                status, _ = self.call(
                    account,
                    "POST",
                    "/me/password",
                    {"current_password": account.password, "new_password": new},
                )
                if status != 204:
                    account.api = None
                    return None
                account.password = new  # the session goes on (a 401 would log in again)
        return account.api

    def call(self, account: Account, method: str, path: str, body=None) -> tuple[int, dict]:
        """One call as ``account`` (status 0 when it cannot log in); a 401 drops its session."""
        api = account.api or self.api_of(account)
        if api is None:
            return 0, {}
        status, answer = self.run(api.call(method, path, body))
        if status == 401:
            account.api = None
        if status < 300 and method == "PATCH" and "/users/" in path:
            target = (path.rsplit("/", 1)[1], path.split("/")[2])
            if target in self.accounts:  # re-enabled or changed: worth another login
                self.accounts[target].refused = False
                self.accounts[target].api = None
        if currently_in_test_context():
            note(f"{api.who}: {method} {path} {body!r} -> {status} {_code(answer)}")
        return status, answer if isinstance(answer, dict) else {}

    def seize(self, username: str, org: str, password: str) -> None:
        """The attacker now knows this account's password: it is one of its accounts."""
        self.accounts[username, org] = Account(username, org, password)
        self.people.setdefault(org, [])
        if username not in self.people[org]:
            self.people[org].append(username)

    def actor(self, data, msp_only: bool = False) -> Account:
        keys = sorted(k for k in self.accounts if not msp_only or k[1] == "MSPOrg")
        return self.accounts[data.draw(st.sampled_from(keys), label="actor")]

    def org(self, data) -> str:
        """MSPOrg, where the attacker has power, most often; the client orgs and its own."""
        orgs = ["MSPOrg"] * 3 + [*CLIENTS, *self.own_orgs]
        return data.draw(st.sampled_from(orgs), label="org")

    def name_in(self, data, org: str, label: str = "user") -> str:
        """A user of ``org``; the attacker's own accounts count twice."""
        names = self.people.get(org) or ["nobody"]
        mine = [n for n in names if (n, org) in self.accounts]
        return data.draw(st.sampled_from(names + mine), label=label)

    def new_name(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}{self.made}"

    # -- the world of this example ---------------------------------------------------------

    @initialize(
        founding=st.sampled_from([False, False, False, True]).flatmap(
            lambda earlier: (
                st.lists(
                    st.tuples(st.sampled_from(sorted(permissions.ADMIN_ROLES)), st.booleans()),
                    min_size=1,
                    max_size=2,
                )
                if earlier
                else st.just([])
            )
        )
    )
    def begin(self, founding: list[tuple[str, bool]]) -> None:
        """Start on a copy of the world, or (``founding`` moves) on the bare installation:
        admin makes administrators and demotes (False) or disables (True) each at once,
        keeping the phase open, then the honest founders and client orgs are made."""
        session = self.installation.start(bare=bool(founding))
        self.client = Checked(session, self.seen)
        self.seize(ADMIN, "MSPOrg", ADMIN_PASSWORD)
        admin = self.accounts[ADMIN, "MSPOrg"]
        for role, disable in founding:
            name = self.new_name("p")
            status, _ = self.call(
                admin,
                "POST",
                "/orgs/MSPOrg/users",
                {"username": name, "role": role, "password": f"Pw-{name}-123456"},
            )
            if status == 201:
                self.seize(name, "MSPOrg", f"Pw-{name}-123456")
                change = {"status": "disabled"} if disable else {"role": "password_user"}
                self.call(admin, "PATCH", f"/orgs/MSPOrg/users/{name}", change)
        if founding:
            from tests.server.attacker import build_world

            try:
                self.ids = self.run(build_world(session))
            except AssertionError as refused:  # a fixed founding rule may refuse the world
                if currently_in_test_context():
                    note(f"the honest world could not be built: {refused}")
        else:
            self.ids = self.installation.ids
        for org in CLIENTS:
            self.people[org] = list(CLIENT_PEOPLE[org])
            for kind in ("dc01", "fw01"):
                if org in self.ids:
                    self.vault.append((org, self.ids[org][f"{kind}_resource"], self.ids[org][kind]))

    def teardown(self) -> None:
        if currently_in_test_context():
            # Guide the search towards power: the attacker's active administrators and the
            # approvals it obtained (hypothesis's targeting phase mutates the best runs).
            target(float(self.power), label="attacker's administrators and approvals")
        self.installation.stop()

    # -- accounts --------------------------------------------------------------------------

    @rule(data=st.data())
    def create_user(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        role = data.draw(st.sampled_from([*ROLES, *self.roles.get(org, [])]), label="role")
        name = self.new_name("u")
        body = {"username": name, "role": role, "password": f"Pw-{name}-123456"}
        if data.draw(st.booleans(), label="scope all"):
            body["access_scope"] = "all"
        status, _ = self.call(who, "POST", f"/orgs/{org}/users", body)
        if status == 201:
            self.seize(name, org, f"Pw-{name}-123456")

    @rule(data=st.data())
    def set_password(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        target = self.name_in(data, org)
        password = f"Seized-{target}-{self.new_name('x')}-99"
        status, _ = self.call(who, "PATCH", f"/orgs/{org}/users/{target}", {"password": password})
        if status == 200:
            self.seize(target, org, password)

    @rule(data=st.data())
    def update_user(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        target = self.name_in(data, org)
        change = data.draw(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "role": st.sampled_from(
                            [*ROLES, *sorted(permissions.ADMIN_ROLES), *self.roles.get(org, [])]
                        )
                    }
                ),
                st.fixed_dictionaries({"status": st.sampled_from(["active", "disabled"])}),
                st.fixed_dictionaries(
                    {"access_scope": st.sampled_from(sorted(permissions.SCOPES))}
                ),
            ),
            label="change",
        )
        self.call(who, "PATCH", f"/orgs/{org}/users/{target}", change)

    def delete_user(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        target = self.name_in(data, org)
        status, _ = self.call(who, "DELETE", f"/orgs/{org}/users/{target}?new_owner={who.username}")
        if status in (200, 204) and (target, org) in self.accounts and target != ADMIN:
            del self.accounts[target, org]

    def confirm_user(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        self.call(who, "POST", f"/orgs/{org}/users/{self.name_in(data, org)}/confirm")

    # -- roles, groups ---------------------------------------------------------------------

    def create_role(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        perms = data.draw(st.lists(st.sampled_from(permissions.CAPABILITIES), unique=True))
        name = self.new_name("Role")
        status, _ = self.call(
            who, "POST", f"/orgs/{org}/roles", {"name": name, "permissions": perms}
        )
        if status == 201:
            self.roles.setdefault(org, []).append(name)

    def edit_role(self, data) -> None:
        who = self.actor(data)
        org = data.draw(st.sampled_from(sorted(o for o, r in self.roles.items() if r)))
        name = data.draw(st.sampled_from(self.roles[org]), label="role")
        perms = data.draw(st.lists(st.sampled_from(permissions.CAPABILITIES), unique=True))
        self.call(who, "PATCH", f"/orgs/{org}/roles/{name}", {"permissions": perms})

    def create_group(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        people = self.people.get(org, [])
        members = (
            data.draw(st.lists(st.sampled_from(people), unique=True, max_size=3)) if people else []
        )
        name = self.new_name("grp")
        status, _ = self.call(
            who, "POST", f"/orgs/{org}/groups", {"name": name, "members": members}
        )
        if status == 201:
            self.groups.setdefault(org, []).append(name)

    def set_members(self, data) -> None:
        who = self.actor(data)
        org = data.draw(st.sampled_from(sorted(o for o, g in self.groups.items() if g)))
        group = data.draw(st.sampled_from(self.groups[org]), label="group")
        people = self.people.get(org, [])
        members = (
            data.draw(st.lists(st.sampled_from(people), unique=True, max_size=3)) if people else []
        )
        self.call(who, "PATCH", f"/orgs/{org}/groups/{group}", {"members": members})

    # -- org-access requests ---------------------------------------------------------------

    @rule(data=st.data())
    def file_request(self, data) -> None:
        who = self.actor(data, msp_only=True)
        kind = data.draw(st.sampled_from(KINDS), label="kind")
        body = {"kind": kind, "approver": self.name_in(data, "MSPOrg", "approver")}
        org = data.draw(st.sampled_from([*CLIENTS, *self.own_orgs]), label="org")
        groups = self.groups.get("MSPOrg", [])
        if kind == "group_member":
            body |= {"group": data.draw(st.sampled_from(groups or ["none"]))}
            body |= {"user": self.name_in(data, "MSPOrg")}
        elif kind == "user_confirmation":
            body |= {"org": org, "user": self.name_in(data, org)}
        elif kind == "grant" and groups and data.draw(st.booleans(), label="to a group"):
            body |= {"org": org, "group": data.draw(st.sampled_from(groups))}
        else:
            body |= {"org": org, "user": self.name_in(data, "MSPOrg", "designee")}
        status, req = self.call(who, "POST", "/org-access-requests", body)
        if status == 201:
            self.requests.append((req["id"], body["approver"]))

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def decide_request(self, data) -> None:
        rid, approver = data.draw(st.sampled_from(self.requests), label="request")
        named = self.accounts.get((approver, "MSPOrg"))
        if named is not None and data.draw(st.booleans(), label="as the named approver"):
            who = named
        else:
            who = self.actor(data, msp_only=True)
        verb = data.draw(st.sampled_from(["approve", "approve", "reject", "cancel"]))
        body = {"current_password": who.password} if verb == "approve" else {}
        status, _ = self.call(who, "POST", f"/org-access-requests/{rid}/{verb}", body)
        if status == 200 and verb == "approve":
            self.approved += 1

    # -- orgs ------------------------------------------------------------------------------

    def create_org(self, data) -> None:
        who = self.actor(data, msp_only=True)
        name = self.new_name("Own")
        manager = self.name_in(data, "MSPOrg", "account manager")
        status, _ = self.call(
            who, "POST", "/orgs", {"name": name, "display_name": name, "account_manager": manager}
        )
        if status == 201:
            self.own_orgs.append(name)

    def edit_org(self, data) -> None:
        who = self.actor(data, msp_only=True)
        org = data.draw(st.sampled_from([*CLIENTS, *self.own_orgs]), label="org")
        change = data.draw(
            st.one_of(
                st.fixed_dictionaries({"account_manager": st.sampled_from(self.people["MSPOrg"])}),
                st.fixed_dictionaries(
                    {"vault_control": st.sampled_from(["msp", "client", "both"])}
                ),
                st.fixed_dictionaries({"require_reveal_reason": st.booleans()}),
                st.just({"display_name": self.new_name("Renamed")}),
            ),
            label="change",
        )
        status, _ = self.call(who, "PATCH", f"/orgs/{org}", change)
        if status == 200 and "display_name" in change:
            assert org in self.own_orgs, f"{who.username} renamed {org}, a client org"
            self.own_orgs[self.own_orgs.index(org)] = change["display_name"]
            self.people[change["display_name"]] = self.people.pop(org, [])
            for key in [k for k in self.accounts if k[1] == org]:
                account = self.accounts.pop(key)
                account.org = change["display_name"]
                self.accounts[key[0], account.org] = account

    def revoke_or_delete(self, data) -> None:
        who = self.actor(data, msp_only=True)
        org = data.draw(st.sampled_from([*CLIENTS, *self.own_orgs]), label="org")
        path = data.draw(
            st.sampled_from(
                [
                    f"/orgs/{org}/access/users/{self.name_in(data, 'MSPOrg')}",
                    f"/orgs/{org}/access/groups/staff",
                    f"/orgs/{org}?confirm={org}",
                ]
            )
        )
        status, _ = self.call(who, "DELETE", path)
        if status == 200 and "confirm" in path:
            assert org in self.own_orgs, f"{who.username} deleted {org}, a client org"

    # -- settings --------------------------------------------------------------------------

    def replicate(self, data) -> None:
        who = self.actor(data, msp_only=True)
        body = {
            "categories": data.draw(st.lists(st.sampled_from(CATEGORIES), unique=True)),
            "role_conflict": data.draw(st.sampled_from(["overwrite", "rename"])),
        }
        self.call(who, "PUT", "/msp/replicate-settings", body)

    def audit_settings(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        if data.draw(st.booleans(), label="purge"):
            self.call(who, "POST", f"/orgs/{org}/audit/purge")
        else:
            days = data.draw(st.sampled_from([30, 365, None]), label="retention")
            self.call(who, "PUT", f"/orgs/{org}/audit/settings", {"retention_days": days})

    # -- the vault: resources, shares, access control, check-out, reveal -------------------

    def create_resource(self, data) -> None:
        who, org = self.actor(data), self.org(data)
        name = self.new_name("srv")
        status, res = self.call(
            who, "POST", f"/orgs/{org}/resources", {"name": name, "type": "Linux"}
        )
        if status != 201:
            return
        status, acct = self.call(
            who,
            "POST",
            f"/orgs/{org}/resources/{res['id']}/accounts",
            {"username": "root", "generate": True},
        )
        if status == 201:
            self.vault.append((org, res["id"], acct["id"]))

    def share(self, data) -> None:
        who = self.actor(data)
        org, resource, _account = data.draw(st.sampled_from(self.vault), label="resource")
        body: dict = {"permission": data.draw(st.sampled_from(["view", "modify", "full"]))}
        if data.draw(st.booleans(), label="to an MSP user"):
            body |= {"user": self.name_in(data, "MSPOrg"), "user_org": "MSPOrg"}
        elif data.draw(st.booleans(), label="to a group") and self.groups.get(org):
            body |= {"group": data.draw(st.sampled_from(self.groups[org]))}
        else:
            body |= {"user": self.name_in(data, org)}
        self.call(who, "POST", f"/orgs/{org}/resources/{resource}/shares", body)

    def access_control(self, data) -> None:
        who = self.actor(data)
        org, _resource, account = data.draw(st.sampled_from(self.vault), label="account")
        people = self.people.get(org, [])
        body = {
            "enabled": data.draw(st.booleans(), label="enabled"),
            "approvers": data.draw(st.lists(st.sampled_from(people), unique=True, max_size=2))
            if people
            else [],
        }
        self.call(who, "PUT", f"/orgs/{org}/accounts/{account}/access-control", body)

    def change_secret(self, data) -> None:
        who = self.actor(data)
        org, _resource, account = data.draw(st.sampled_from(self.vault), label="account")
        self.call(who, "PUT", f"/orgs/{org}/accounts/{account}/password", {"generate": True})

    def request_checkout(self, data) -> None:
        who = self.actor(data)
        org, _resource, account = data.draw(st.sampled_from(self.vault), label="account")
        status, req = self.call(
            who,
            "POST",
            f"/orgs/{org}/password-requests",
            {"account": account, "reason": "maintenance", "window_minutes": 10},
        )
        if status == 201:
            self.checkouts.append((org, req["id"]))

    def decide_checkout(self, data) -> None:
        who = self.actor(data)
        org, rid = data.draw(st.sampled_from(self.checkouts), label="check-out")
        verb = data.draw(st.sampled_from(["approve", "reject", "check-in"]))
        self.call(who, "POST", f"/orgs/{org}/password-requests/{rid}/{verb}", {})

    def reveal(self, data) -> None:
        who = self.actor(data)
        org, _resource, account = data.draw(st.sampled_from(self.vault), label="account")
        self.call(who, "POST", f"/orgs/{org}/accounts/{account}/reveal", {})

    # -- the less central moves, grouped so that accounts and requests get most steps ------

    @rule(data=st.data())
    def people_move(self, data) -> None:
        moves = [self.delete_user, self.confirm_user, self.create_role, self.create_group]
        moves += [self.edit_role] if any(self.roles.values()) else []
        moves += [self.set_members] if any(self.groups.values()) else []
        data.draw(st.sampled_from(moves), label="move")(data)

    @rule(data=st.data())
    def org_move(self, data) -> None:
        moves = [self.create_org, self.edit_org, self.revoke_or_delete, self.replicate]
        data.draw(st.sampled_from([*moves, self.audit_settings]), label="move")(data)

    @rule(data=st.data())
    def vault_move(self, data) -> None:
        moves = [self.create_resource]
        if self.vault:  # a partial world (the founding variant) may have no account yet
            moves += [self.share, self.access_control, self.change_secret]
            moves += [self.request_checkout, self.reveal, self.reveal]
        moves += [self.decide_checkout] if self.checkouts else []
        data.draw(st.sampled_from(moves), label="move")(data)

    # -- the invariants --------------------------------------------------------------------

    @invariant()
    def no_client_org_reached(self) -> None:
        """1 (and 2, 3 on every answer): no attacker account reaches Acme or Globex."""
        if self.client is None:
            return
        self.steps += 1
        sweep = self.steps % SWEEP_EVERY == 0
        admins = 0
        for account in list(self.accounts.values()):
            status, me = self.call(account, "GET", "/me")
            if status != 200:
                continue
            admins += me["org"] == "MSPOrg" and me["role"] in permissions.ADMIN_ROLES
            reached = set(me["capabilities"]) | set(me["managed_orgs"]) | {me["org"]}
            assert not reached & set(CLIENTS), (
                f"{account.username}@{account.org} (the attacker's) reaches "
                f"{sorted(reached & set(CLIENTS))}: {me['capabilities']}"
            )
            # The reveal sweep costs six calls: for accounts new or changed since their last.
            if sweep and account.swept != repr(me):
                self.sweep(account)
                account.swept = repr(me)
        self.power = max(self.power, admins + 3 * self.approved)

    def sweep(self, account: Account) -> None:
        """2: the client orgs' users and secrets stay out of reach of ``account``."""
        for org in CLIENTS:
            status, _ = self.call(account, "GET", f"/orgs/{org}/users")
            assert status >= 400, f"{account.username}@{account.org} lists {org}'s users"
            for kind in ("dc01", "fw01"):
                if org in self.ids:
                    account_id = self.ids[org][kind]
                    status, _ = self.call(
                        account, "POST", f"/orgs/{org}/accounts/{account_id}/reveal", {}
                    )
                    assert status >= 400, f"{account.username} revealed {org}'s {kind}"


def _code(answer) -> str:
    return answer.get("code", "") if isinstance(answer, dict) else ""


@pytest.fixture(scope="module")
def installation(pg_server, install_files, database, msp):
    """The world, built once in this module's database; a copy per example."""
    loop = Loop()
    inst = Installation(loop, pg_server, install_files, database)
    inst.prepare()
    yield inst
    inst.stop()
    inst.close()
    loop.close()


@pytest.mark.timeout(int(os.environ.get("STRONGROOM_ATTACK_TIMEOUT", "1800")))
def test_one_person_never_gets_through(installation):
    """Hypothesis plays the attacker: see the module's docstring for the world, the moves
    and the invariants. A failure prints the shortest sequence of moves it found."""

    class Machine(Attacker):
        pass

    Machine.installation = installation
    Machine.loop = installation.loop
    Machine.tally = Seen()
    started = time.monotonic()
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            print_blob=False,
            phases=[Phase.generate, Phase.target, Phase.shrink, Phase.explain],
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
            ],
        ),
    )
    outcomes = collections.Counter(
        (method, _route(path), status, code)
        for _who, method, path, status, code in Machine.tally.calls
    )
    top = sorted(Machine.tally.seconds.items(), key=lambda kv: -kv[1])[:8]
    print("slowest:", ", ".join(f"{k} {v:.1f} s" for k, v in top))
    print(f"{len(Machine.tally.calls)} calls in {time.monotonic() - started:.0f} s")
    for (method, route, status, code), n in sorted(outcomes.items()):
        print(f"{n:6} {method} {route} {status} {code}")


def _route(path: str) -> str:
    """A path with its ids and names replaced by placeholders, for the summary."""
    parts = path.split("?")[0].split("/")
    keep = {
        "orgs",
        "users",
        "roles",
        "groups",
        "accounts",
        "resources",
        "shares",
        "reveal",
        "password",
        "access-control",
        "password-requests",
        "org-access-requests",
        "audit",
        "settings",
        "purge",
        "access",
        "me",
        "msp",
        "replicate-settings",
        "confirm",
        "approve",
        "reject",
        "cancel",
        "check-in",
        "auth",
        "login",
        "",
    }
    return "/".join(p if p in keep else "*" for p in parts)
