#!/usr/bin/env bash
# Install what the test suite needs (PostgreSQL, .venv with the [test] extra),
# lint (ruff, import layers, types), then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_python
ensure_postgres
ensure_tmux
ensure_slapd
ensure_ssh_client
ensure_rsyslog
ensure_rotation_targets
ensure_sudo
ensure_venv test

say "ruff check"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check . >/dev/null || die "code is not ruff-formatted: run .venv/bin/ruff format ."
say "import layers (lint-imports)"
"$VENV/bin/lint-imports" --no-cache >/dev/null || { "$VENV/bin/lint-imports" --no-cache; die "an import breaks the layers: see the contracts in pyproject.toml"; }
say "types (mypy --strict on core, security, store, node, services)"
"$VENV/bin/mypy" || die "mypy found type errors"
say "pytest"
# xdist workers, each given whole test files (tests/conftest.py groups them and starts the
# costliest first). A serial run keeps one of 2 cores busy only ~70% of the time (it waits on
# PostgreSQL, servers, daemons and the TUI's idle checks), so two workers fit a 2-core machine
# (three were faster but let the TUI's key-timed tests race on a loaded machine).
# STRONGROOM_TEST_WORKERS=0 runs serially; a single file runs alone with plain pytest.
exec "$VENV/bin/pytest" -n "${STRONGROOM_TEST_WORKERS:-2}" --dist loadgroup --no-loadscope-reorder "$@"
