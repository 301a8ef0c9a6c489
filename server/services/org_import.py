"""Import organizations from a CSV/TXT file.

One org per line, comma separated, an optional header naming the columns, else the
order name, display_name, description, account_manager, department, location. Every
line must have the same number of fields or nothing is imported (the answer names the
first bad line). Otherwise each row is validated and created on its own, and every
created or failed row is recorded in MSPOrg's audit trail.

Rows are checked in bulk (names in use, account managers) and created in chunks
whose org creations are pipelined; if a chunk meets an unexpected conflict it is
redone row by row, so one bad row never takes others with it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import asyncpg

from server import audit, db
from server.audit import Event
from server.context import Actor, Env
from server.errors import BadRequest, coded
from server.services.orgs import (
    OrgInput,
    create_batch,
    eligible_account_managers,
    require_msp_admin,
    validate_input,
)

COLUMNS = ("name", "display_name", "description", "account_manager", "department", "location")
REQUIRED = ("name", "display_name", "account_manager")
EXTENSIONS = (".csv", ".txt")
CHUNK = 500

ProgressFn = Callable[[int, int], None]


def parse(filename: str, raw: bytes) -> list[OrgInput]:
    """Turn the file into OrgInputs (with line numbers), or raise a 400 for the file."""
    if not filename.lower().endswith(EXTENSIONS):
        raise coded(
            BadRequest,
            "unsupported_file_type",
            "only .csv and .txt files can be imported (comma separated, one org a line)",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise coded(
            BadRequest, "bad_encoding", f"the file is not UTF-8 (byte {exc.start} cannot be read)"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    lines: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            lines.append((reader.line_num, row))
    except csv.Error as exc:
        raise coded(
            BadRequest, "bad_csv", f"line {reader.line_num}: {exc}", line=reader.line_num
        ) from None
    if not lines:
        raise coded(BadRequest, "empty_file", "the file holds no organizations")
    width = len(lines[0][1])
    for line, row in lines:
        if len(row) != width:
            raise coded(
                BadRequest,
                "inconsistent_fields",
                f"line {line} has {len(row)} fields but line {lines[0][0]} has {width}; "
                "nothing was imported",
                line=line,
            )
    first = [cell.strip().lower() for cell in lines[0][1]]
    if all(cell in COLUMNS for cell in first):
        columns, body = first, lines[1:]
    else:
        if width > len(COLUMNS):
            raise coded(
                BadRequest,
                "too_many_fields",
                f"lines have {width} fields; at most {len(COLUMNS)} are known",
            )
        columns, body = list(COLUMNS[:width]), lines
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise coded(
            BadRequest,
            "missing_columns",
            "the file lacks the column(s) "
            + ", ".join(missing)
            + " (add a header row naming the columns)",
        )
    items = []
    for line, row in body:
        values = {col: cell.strip() for col, cell in zip(columns, row, strict=True)}
        items.append(
            OrgInput(
                name=values["name"],
                display_name=values["display_name"],
                account_manager=values["account_manager"],
                description=values.get("description", ""),
                department=values.get("department", ""),
                location=values.get("location", ""),
                line=line,
            )
        )
    return items


async def import_orgs(
    env: Env, actor: Actor, filename: str, raw: bytes, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Import a file of orgs; answer every row's outcome."""
    require_msp_admin(actor)
    items = parse(filename, raw)
    results: dict[int, dict[str, Any]] = {}

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
        managers = await eligible_account_managers(
            conn, actor.org_id, {i.account_manager.lower() for i in items}
        )
    seen: set[str] = set()
    valid: list[OrgInput] = []
    for item in items:
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
                await create_batch(conn, env, actor.who, chunk, "import")
                await _record(conn, env, actor, chunk, results)
        except asyncpg.UniqueViolationError:
            await _one_by_one(env, actor, chunk, results, fail)
        done += len(chunk)
        if progress:
            progress(done, len(items))

    failed = [item for item in items if results.get(item.line, {}).get("status") == "failed"]
    if failed:
        async with db.transaction(env.pool) as conn:
            await audit.record_many(
                conn,
                env.ring,
                actor.org_id,
                [
                    Event(
                        actor.who,
                        "org_imported",
                        "org",
                        item.display_name,
                        outcome="failure",
                        reason=results[item.line]["code"],
                        details={"line": item.line, "file": filename[:200]},
                    )
                    for item in failed
                ],
                node=env.node,
            )
    ordered = [results[item.line] for item in items]
    created = sum(1 for r in ordered if r["status"] == "created")
    return {"created": created, "failed": len(ordered) - created, "results": ordered}


async def _record(conn, env: Env, actor: Actor, chunk: list[OrgInput], results) -> None:
    await audit.record_many(
        conn,
        env.ring,
        actor.org_id,
        [
            Event(
                actor.who,
                "org_imported",
                "org",
                item.display_name,
                details={"line": item.line, "account_manager": item.account_manager},
            )
            for item in chunk
        ],
        node=env.node,
    )
    for item in chunk:
        results[item.line] = {
            "line": item.line,
            "display_name": item.display_name,
            "status": "created",
        }


async def _one_by_one(env: Env, actor: Actor, chunk: list[OrgInput], results, fail) -> None:
    for item in chunk:
        try:
            async with db.transaction(env.pool) as conn:
                await create_batch(conn, env, actor.who, [item], "import")
                await _record(conn, env, actor, [item], results)
        except asyncpg.UniqueViolationError:
            fail(
                item,
                "display_name_taken",
                f"an organization named {item.display_name!r} already exists",
            )
