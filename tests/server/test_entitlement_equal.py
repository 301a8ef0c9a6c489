"""The entitlement rule has two forms that must answer alike (issue 28): the set form
``account_permissions`` (every account of an org, for the lists) and the one-account form
``account_permission`` (the reveal, the gateway, single checks), which stops at the first
level that decides. Hypothesis draws an org's users (trusted or not, the org's vault
control), user groups, resources and accounts with their owners, resource groups and
shares (to a user or a group, on an account, a resource or a resource group, made by the
MSP or not), plus a user of another org, and for every user, both values of the 'all'
scope and every account (one of another org and one that does not exist included) the
two forms must give the same permission, or both none. Each example runs in a
transaction that is rolled back, on the real schema."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import OWNER

PERMISSIONS = ("view", "modify", "full")
USERS = 2  # users of the client org; one more user belongs to another org
GROUPS = 2
RESOURCES = 2
ACCOUNTS_PER_RESOURCE = 2
RESOURCE_GROUPS = 2

owner_choice = st.one_of(st.none(), st.integers(0, USERS))  # USERS: the other org's user
target = st.one_of(
    st.tuples(st.just("account"), st.integers(0, RESOURCES * ACCOUNTS_PER_RESOURCE - 1)),
    st.tuples(st.just("resource"), st.integers(0, RESOURCES - 1)),
    st.tuples(st.just("resource_group"), st.integers(0, RESOURCE_GROUPS - 1)),
)
grantee = st.one_of(
    st.tuples(st.just("user"), st.integers(0, USERS)),
    st.tuples(st.just("group"), st.integers(0, GROUPS - 1)),
)
world = st.fixed_dictionaries(
    {
        "vault_control": st.sampled_from(["msp", "client", "both"]),
        "confirmed": st.lists(st.booleans(), min_size=USERS, max_size=USERS),
        "members": st.lists(
            st.lists(st.integers(0, USERS - 1), unique=True, max_size=USERS),
            min_size=GROUPS,
            max_size=GROUPS,
        ),
        "resource_owners": st.lists(owner_choice, min_size=RESOURCES, max_size=RESOURCES),
        "account_owners": st.lists(
            owner_choice,
            min_size=RESOURCES * ACCOUNTS_PER_RESOURCE,
            max_size=RESOURCES * ACCOUNTS_PER_RESOURCE,
        ),
        "resource_groups": st.lists(
            st.lists(st.integers(0, RESOURCES - 1), unique=True, max_size=RESOURCES),
            min_size=RESOURCE_GROUPS,
            max_size=RESOURCE_GROUPS,
        ),
        "shares": st.lists(
            st.tuples(target, grantee, st.sampled_from(PERMISSIONS), st.booleans()),
            unique_by=lambda s: (s[0], s[1]),
            max_size=16,
        ),
    }
)

COMPARE = """
SELECT u.id AS user_id, al AS p_all, a.id AS account_id,
       account_permission(u.id, $1, al, a.id) AS one,
       (SELECT p.permission FROM account_permissions(u.id, $1, al) p
         WHERE p.account_id = a.id) AS set_form
  FROM unnest($2::uuid[]) AS u(id), unnest(ARRAY[true, false]) AS al,
       unnest($3::uuid[]) AS a(id)
"""


async def _in(conn: asyncpg.Connection, org: uuid.UUID) -> None:
    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))


async def _build(conn: asyncpg.Connection, w: dict) -> tuple[uuid.UUID, list, list]:
    """The drawn world, inside the caller's transaction; (client org, users, accounts)."""
    org, other = uuid.uuid4(), uuid.uuid4()
    tag = org.hex[:12]
    await _in(conn, other)
    await conn.execute(
        "INSERT INTO orgs (id, name, display_name) VALUES ($1, 'Other', $2)", other, "O" + tag
    )
    outsider = await conn.fetchval(
        "INSERT INTO users (org_id, username, role, password_hash) "
        "VALUES ($1, 'outsider', 'password_user', 'x') RETURNING id",
        other,
    )
    far_resource = await conn.fetchval(
        "INSERT INTO resources (org_id, name, type, owner_id) VALUES ($1, 'far', 'Linux', $2) "
        "RETURNING id",
        other,
        outsider,
    )
    far_account = await conn.fetchval(
        "INSERT INTO accounts (org_id, resource_id, username, password, owner_id) "
        "VALUES ($1, $2, 'far', '\\x00', $3) RETURNING id",
        other,
        far_resource,
        outsider,
    )
    await _in(conn, org)
    await conn.execute(
        "INSERT INTO orgs (id, name, display_name, vault_control) VALUES ($1, 'Client', $2, $3)",
        org,
        "C" + tag,
        w["vault_control"],
    )
    users = [
        await conn.fetchval(
            "INSERT INTO users (org_id, username, role, password_hash, client_confirmed) "
            "VALUES ($1, $2, 'password_user', 'x', $3) RETURNING id",
            org,
            f"u{i}",
            w["confirmed"][i],
        )
        for i in range(USERS)
    ] + [outsider]
    groups = []
    for i, members in enumerate(w["members"]):
        group = await conn.fetchval(
            "INSERT INTO user_groups (org_id, name) VALUES ($1, $2) RETURNING id", org, f"g{i}"
        )
        groups.append(group)
        for m in members:
            await conn.execute(
                "INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)",
                org,
                group,
                users[m],
            )

    def owner(choice: int | None) -> uuid.UUID | None:
        return None if choice is None else users[choice]

    resources = [
        await conn.fetchval(
            "INSERT INTO resources (org_id, name, type, owner_id) VALUES ($1, $2, 'Linux', $3) "
            "RETURNING id",
            org,
            f"r{i}",
            owner(w["resource_owners"][i]),
        )
        for i in range(RESOURCES)
    ]
    accounts = [
        await conn.fetchval(
            "INSERT INTO accounts (org_id, resource_id, username, password, owner_id) "
            "VALUES ($1, $2, $3, '\\x00', $4) RETURNING id",
            org,
            resources[i // ACCOUNTS_PER_RESOURCE],
            f"a{i}",
            owner(w["account_owners"][i]),
        )
        for i in range(RESOURCES * ACCOUNTS_PER_RESOURCE)
    ]
    resource_groups = []
    for i, members in enumerate(w["resource_groups"]):
        rg = await conn.fetchval(
            "INSERT INTO resource_groups (org_id, name) VALUES ($1, $2) RETURNING id", org, f"rg{i}"
        )
        resource_groups.append(rg)
        for m in members:
            await conn.execute(
                "INSERT INTO resource_group_members (org_id, resource_group_id, resource_id) "
                "VALUES ($1, $2, $3)",
                org,
                rg,
                resources[m],
            )
    targets = {"account": accounts, "resource": resources, "resource_group": resource_groups}
    for (kind, index), (who, whom), permission, by_msp in w["shares"]:
        await conn.execute(
            f"INSERT INTO shares (org_id, {kind}_id, user_id, group_id, permission, by_msp) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            org,
            targets[kind][index],
            users[whom] if who == "user" else None,
            groups[whom] if who == "group" else None,
            permission,
            by_msp,
        )
    return org, users, [*accounts, far_account, uuid.uuid4()]


@pytest.fixture(scope="module")
def owner_link(pg_server, database):
    """An event loop and the owner role's connection (the reveal runs as the owner)."""
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(
        asyncpg.connect(
            host="127.0.0.1",
            port=pg_server.port,
            user=OWNER,
            password=pg_server.owner_password,
            database=database,
        )
    )
    yield loop, conn
    loop.run_until_complete(conn.close())
    loop.close()


# Worlds where a wrong order of the levels or grantees shows (a random search finds them
# too, but rarely): u0 (trusted, in g0) has a 'view' share and its group a 'full' share
# on the same target, at each level; a 'view' on account a0 under a 'full' on its
# resource, itself under a 'modify' on a resource group; u1 untrusted in an org whose
# vault is the client's, with a direct MSP share and group shares that need trust.
def _world(shares: list, confirmed: tuple = (True, False), control: str = "client") -> dict:
    return {
        "vault_control": control,
        "confirmed": list(confirmed),
        "members": [[0, 1], [1]],
        "resource_owners": [None, None],
        "account_owners": [None, None, None, None],
        "resource_groups": [[0], [0, 1]],
        "shares": shares,
    }


LEVEL_WORLDS = [
    _world([(t, ("user", 0), "view", False), (t, ("group", 0), "full", False)])
    for t in (("account", 0), ("resource", 0), ("resource_group", 0))
] + [
    _world(
        [
            (("account", 0), ("user", 0), "view", False),
            (("resource", 0), ("user", 0), "full", False),
            (("resource_group", 1), ("user", 0), "modify", False),
            (("account", 2), ("user", 1), "view", True),
            (("resource", 1), ("group", 1), "full", False),
            (("resource_group", 1), ("user", 1), "full", False),
        ]
    ),
]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(w=world)
@example(w=LEVEL_WORLDS[0])
@example(w=LEVEL_WORLDS[1])
@example(w=LEVEL_WORLDS[2])
@example(w=LEVEL_WORLDS[3])
def test_one_account_form_equals_the_set_form(owner_link, w):
    """For every user, 'all' scope and account, both forms give the same permission."""
    loop, conn = owner_link

    async def check() -> list[asyncpg.Record]:
        tx = conn.transaction()
        await tx.start()
        try:
            org, users, accounts = await _build(conn, w)
            return await conn.fetch(COMPARE, org, users, accounts)
        finally:
            await tx.rollback()

    rows = loop.run_until_complete(check())
    assert len(rows) == (USERS + 1) * 2 * (RESOURCES * ACCOUNTS_PER_RESOURCE + 2)
    differ = [dict(r) for r in rows if r["one"] != r["set_form"]]
    assert differ == []
