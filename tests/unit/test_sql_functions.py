"""sql/functions/: every SQL function has one file holding its current definition, and
numbered migrations after the cut-over do not redefine them (issue 25, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.store import migrations

# CREATE [OR REPLACE] FUNCTION name / VIEW name, also inside EXECUTE $f$...$f$ (sql/012).
_DEFINES = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|(?:MATERIALIZED\s+)?VIEW)\s+"
    r"(?:public\.)?\"?([a-z_][a-z0-9_]*)",
    re.IGNORECASE,
)
# Statements a function file may not hold at the start of a line: what belongs in a
# numbered migration (tables, indexes, triggers, policies, drops) and bare CREATE FUNCTION.
_FORBIDDEN = re.compile(
    r"^\s*(?:CREATE\s+(?:FUNCTION|VIEW|TABLE|UNIQUE|INDEX|TRIGGER|POLICY|TYPE|SEQUENCE)\b"
    r"|DROP\s|ALTER\s+(?:TABLE|FUNCTION|VIEW)\b|TRUNCATE\b)",
    re.IGNORECASE | re.MULTILINE,
)


def _defined(path: Path) -> set[str]:
    return {m.lower() for m in _DEFINES.findall(path.read_text(encoding="utf-8"))}


def _files() -> dict[str, set[str]]:
    """Function file name -> the functions and views it defines."""
    return {f.name: _defined(f.path) for f in migrations.discover_functions()}


def test_every_function_of_the_migrations_has_one_file():
    """A reader finds each function (trigger functions too) in exactly one file."""
    homes: dict[str, list[str]] = {}
    for file, names in _files().items():
        for name in names:
            homes.setdefault(name, []).append(file)
    assert {n: f for n, f in homes.items() if len(f) > 1} == {}
    in_migrations = set().union(*(_defined(m.path) for m in migrations.discover()))
    assert sorted(in_migrations - homes.keys()) == []
    # Each file is named after (the first of) what it defines.
    for file, names in _files().items():
        assert file in names, f"sql/functions/{file}.sql defines {sorted(names)}"


def test_function_files_only_create_or_replace():
    """Files hold CREATE OR REPLACE, grants and comments; tables, triggers, drops and
    bare CREATE FUNCTION (which fails on a second run) belong to numbered migrations."""
    for file in migrations.discover_functions():
        text = file.path.read_text(encoding="utf-8")
        assert not _FORBIDDEN.findall(text), file.path.name


def test_no_migration_after_the_cut_over_redefines_a_filed_function():
    """A numbered migration newer than the cut-over that redefines a function which has a
    file would be undone by that file on the same run: fold the definition into the file
    instead. Only a function's first definition may be in such a migration (one it needs
    while it runs), and its file then holds the same text."""
    filed = set().union(*_files().values())
    seen: set[str] = set()
    wrong: list[str] = []
    for m in migrations.discover():
        names = _defined(m.path)
        if m.version > migrations.FUNCTIONS_CUT_OVER:
            wrong += [f"{m.path.name}: {n}" for n in sorted(names & filed & seen)]
        seen |= names
    assert wrong == [], (
        "move these definitions into sql/functions/ (the current definition lives only "
        "there); see server/store/migrations.py"
    )


def test_files_are_ordered_by_their_requirements():
    """A file comes after the files it requires; otherwise alphabetically."""
    order = [f.name for f in migrations.discover_functions()]
    for file in migrations.discover_functions():
        for required in file.requires:
            assert order.index(required) < order.index(file.name)
    assert order.index("perm_rank") < order.index("account_permissions")
    assert order.index("account_access") < order.index("reveal_account")


def test_requirement_order_missing_and_cycle(tmp_path):
    """Requirements override the alphabet; a missing file or a cycle is an error."""
    folder = tmp_path / "functions"
    folder.mkdir()
    (folder / "a_late.sql").write_text("-- requires: z_first\nSELECT 1;\n")
    (folder / "m_free.sql").write_text("SELECT 1;\n")
    (folder / "z_first.sql").write_text("SELECT 1;\n")
    assert [f.name for f in migrations.discover_functions(tmp_path)] == [
        "m_free",
        "z_first",
        "a_late",
    ]
    (folder / "z_first.sql").write_text("-- requires: a_late\nSELECT 1;\n")
    with pytest.raises(migrations.MigrationError, match="cycle"):
        migrations.discover_functions(tmp_path)
    (folder / "z_first.sql").write_text("-- requires: nowhere\nSELECT 1;\n")
    with pytest.raises(migrations.MigrationError, match=r"requires nowhere\.sql"):
        migrations.discover_functions(tmp_path)
    assert migrations.discover_functions(tmp_path / "no_such_dir") == []
