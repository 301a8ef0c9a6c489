"""Every list pages with ?limit= and ?cursor= (API.md): walking the pages gives each item
once, in order, even when items are added or removed between two pages."""

from __future__ import annotations

from tests.server.conftest import Api, make_user

NAMES = ["alpha", "Bravo", "charlie", "Delta", "echo", "Foxtrot", "golf"]


async def _walk(api: Api, path: str, limit: int, cursor: str | None = None) -> list[list[dict]]:
    pages = []
    for _ in range(50):
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.call("GET", url)
        assert status == 200, page
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


async def _resource(api: Api, name: str, org: str = "MSPOrg") -> str:
    status, body = await api.call(
        "POST", f"/orgs/{org}/resources", {"name": name, "type": "Generic"}
    )
    assert status == 201, body
    return body["id"]


async def test_resources_walk_in_name_order_without_repeats(api, admin):
    await make_user(admin, "pager", "password_administrator")
    me = api.as_((await api.login("pager", "final-pager-pw22")).token)
    for name in NAMES:
        await _resource(me, name)
    pages = await _walk(me, "/orgs/MSPOrg/resources", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r["name"] for p in pages for r in p] == sorted(NAMES, key=str.lower)
    # Searching pages the same way.
    pages = await _walk(me, "/orgs/MSPOrg/resources?q=o", 2)
    assert [r["name"] for p in pages for r in p] == ["Bravo", "echo", "Foxtrot", "golf"]


async def test_changes_between_pages_neither_repeat_nor_hide(api, admin):
    await make_user(admin, "pager2", "password_administrator")
    me = api.as_((await api.login("pager2", "final-pager2-pw22")).token)
    ids = {name: await _resource(me, f"{name}-2") for name in NAMES}  # names are per org
    _, first = await me.call("GET", "/orgs/MSPOrg/resources?limit=3")
    assert [r["name"] for r in first["items"]] == ["alpha-2", "Bravo-2", "charlie-2"]
    # Before the next page: one resource sorting before the cursor, one after, and one of
    # the next page removed.
    await _resource(me, "aardvark-2")
    await _resource(me, "hotel-2")
    assert (await me.call("DELETE", f"/orgs/MSPOrg/resources/{ids['Delta']}"))[0] == 204
    rest = await _walk(me, "/orgs/MSPOrg/resources", 3, first["next_cursor"])
    names = [r["name"] for p in rest for r in p]
    assert names == ["echo-2", "Foxtrot-2", "golf-2", "hotel-2"]


async def test_default_page_is_100(api, admin):
    await make_user(admin, "bulk", "password_administrator")
    me = api.as_((await api.login("bulk", "final-bulk-pw22")).token)
    for n in range(101):
        await _resource(me, f"host{n:03d}")
    status, page = await me.call("GET", "/orgs/MSPOrg/resources")
    assert status == 200 and len(page["items"]) == 100 and page["next_cursor"]
    _, last = await me.call("GET", f"/orgs/MSPOrg/resources?cursor={page['next_cursor']}")
    assert [r["name"] for r in last["items"]] == ["host100"] and last["next_cursor"] is None
    status, page = await me.call("GET", "/orgs/MSPOrg/resources?limit=1000")
    assert len(page["items"]) == 101 and page["next_cursor"] is None


async def test_lists_kept_in_memory_page_too(api, admin):
    for name in ("pu1", "PU2", "pu3"):
        await make_user(admin, name, "password_user")
    pages = await _walk(admin, "/orgs/MSPOrg/users", 2)
    names = [u["username"] for p in pages for u in p]
    assert len(names) == len(set(names)) and {"pu1", "PU2", "pu3"} <= set(names)
    assert names == sorted(names, key=str.lower)
    assert all(len(p) <= 2 for p in pages)
    pages = await _walk(admin, "/orgs", 1)
    assert pages[0][0]["is_msp"]  # MSPOrg first, then the client orgs


async def test_bad_limit_and_cursor_are_validation_errors(api, admin):
    for query, field in (
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=e30", "cursor"),  # "{}": well-formed, but no key
    ):
        status, problem = await admin.call("GET", f"/orgs/MSPOrg/resources?{query}")
        assert (status, problem["code"]) == (422, "validation_failed"), query
        assert problem["errors"][0]["field"] == field
    # A cursor from another list is refused, not misread.
    body = {"name": "Pager Org", "display_name": "pagerorg", "account_manager": "admin"}
    assert (await admin.call("POST", "/orgs", body))[0] == 201
    status, orgs = await admin.call("GET", "/orgs?limit=1")
    assert orgs["next_cursor"]
    for path in ("/orgs/MSPOrg/resources", "/orgs/MSPOrg/users", "/orgs/MSPOrg/audit"):
        status, problem = await admin.call("GET", f"{path}?cursor={orgs['next_cursor']}")
        assert (status, problem["code"]) == (422, "validation_failed"), path
