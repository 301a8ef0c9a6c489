"""Import organizations from a CSV/TXT file.

The file's shape (separator, header, same number of fields on every line, the row
limit) is checked by server/core/org_file.py before anything is written. Then
each row is validated and created on its own, and every created or failed row is
recorded in MSPOrg's audit trail.

Rows are checked in bulk (names in use, account managers) and created in chunks
whose org creations are pipelined; if a chunk meets an unexpected conflict it is
redone row by row, so one bad row never takes others with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from server.core.org_file import OrgInput, parse
from server.services import recording, replication_settings
from server.services.access import require_msp_admin
from server.services.context import Actor, Env
from server.services.orgs import (
    create_batch,
    display_name_conflict,
    eligible_account_managers,
    reserved_display_name,
    validate_input,
)
from server.store import db

CHUNK = 500
YIELD_EVERY = 1000  # rows checked between turns of the event loop (health stays fast)

ProgressFn = Callable[[int, int], None]
Results = dict[int, dict[str, Any]]  # a row's outcome by its line
FailFn = Callable[[OrgInput, str, str], None]  # record a row's failure (item, code, detail)


async def import_orgs(
    env: Env, actor: Actor, filename: str, raw: bytes, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Import a file of orgs; answer every row's outcome.

    Raises 400 about the file's shape and 413 ``payload_too_large`` for more than
    ``server.import_max_rows`` rows (server/core/org_file.py) before writing
    anything. Parsing runs in a worker thread and the row checks give the event
    loop a turn every ``YIELD_EVERY`` rows, so other requests (health) keep flowing.
    """
    require_msp_admin(actor)
    items = await asyncio.to_thread(parse, filename, raw, env.config.server.import_max_rows)
    results: Results = {}

    def fail(item: OrgInput, code: str, detail: str) -> None:
        results[item.line] = {
            "line": item.line,
            "display_name": item.display_name,
            "status": "failed",
            "code": code,
            "detail": detail,
        }

    async with db.transaction(env.pool, readonly=True) as conn:
        taken = {r["n"] for r in await conn.fetch("SELECT lower(display_name) AS n FROM orgs")}
        reserved = {  # given up by an org less than 30 days ago (orgs.py, issue 26)
            r["name"]
            for r in await conn.fetch(
                "SELECT DISTINCT name FROM retired_display_names WHERE display_name_reserved(name)"
            )
        }
        managers = await eligible_account_managers(
            conn, actor.org_id, {i.account_manager.lower() for i in items}
        )
    seen: set[str] = set()
    valid: list[OrgInput] = []
    for position, item in enumerate(items):
        if position % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
        errors = validate_input(item)
        key = item.display_name.lower()
        if errors:
            fail(
                item,
                "validation_failed",
                "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            )
        elif key in taken or key in seen:
            fail(
                item,
                "display_name_taken",
                f"an organization named {item.display_name!r} already exists",
            )
        elif key in reserved:
            refusal = reserved_display_name(item.display_name)
            fail(item, refusal.code, refusal.detail)
        elif item.account_manager.lower() not in managers:
            fail(
                item,
                "account_manager_not_eligible",
                f"{item.account_manager!r} is not an active MSPOrg user of an eligible role",
            )
        else:
            item.account_manager_id, item.account_manager = managers[item.account_manager.lower()]
            seen.add(key)
            valid.append(item)

    done = len(items) - len(valid)
    if progress:
        progress(done, len(items))
    for start in range(0, len(valid), CHUNK):
        chunk = valid[start : start + CHUNK]
        try:
            async with db.transaction(env.pool) as conn:
                ids = await create_batch(conn, env, actor.who, chunk, "import")
                await replication_settings.apply_to_new_orgs(conn, env, actor.who, ids)
                await _record(conn, env, actor, chunk, results)
        except asyncpg.UniqueViolationError:
            await _one_by_one(env, actor, chunk, results, fail)
        done += len(chunk)
        if progress:
            progress(done, len(items))

    failed = [item for item in items if results.get(item.line, {}).get("status") == "failed"]
    if failed:
        async with db.transaction(env.pool) as conn:
            for start in range(0, len(failed), CHUNK):
                trail = recording.writer(conn, env, actor.org_id, actor.who)
                await trail.record_many(
                    [
                        trail.event(
                            "org_imported",
                            "org",
                            item.display_name,
                            outcome="failure",
                            reason=results[item.line]["code"],
                            details={"line": item.line, "file": filename[:200]},
                        )
                        for item in failed[start : start + CHUNK]
                    ]
                )
    ordered = [results[item.line] for item in items]
    created = sum(1 for r in ordered if r["status"] == "created")
    return {"created": created, "failed": len(ordered) - created, "results": ordered}


async def _record(
    conn: db.Tx, env: Env, actor: Actor, chunk: list[OrgInput], results: Results
) -> None:
    trail = recording.writer(conn, env, actor.org_id, actor.who)
    await trail.record_many(
        [
            trail.event(
                "org_imported",
                "org",
                item.display_name,
                details={"line": item.line, "account_manager": item.account_manager},
            )
            for item in chunk
        ]
    )
    for item in chunk:
        results[item.line] = {
            "line": item.line,
            "display_name": item.display_name,
            "status": "created",
        }


async def _one_by_one(
    env: Env, actor: Actor, chunk: list[OrgInput], results: Results, fail: FailFn
) -> None:
    for item in chunk:
        try:
            async with db.transaction(env.pool) as conn:
                ids = await create_batch(conn, env, actor.who, [item], "import")
                await replication_settings.apply_to_new_orgs(conn, env, actor.who, ids)
                await _record(conn, env, actor, [item], results)
        except asyncpg.UniqueViolationError as exc:
            refusal = display_name_conflict(exc, item.display_name)
            fail(item, refusal.code, refusal.detail)
