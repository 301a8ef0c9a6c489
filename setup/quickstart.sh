#!/usr/bin/env bash
# Set up and run Strongroom on this machine: a virtual environment, PostgreSQL if
# missing, a primary node in ./var (or $STRONGROOM_HOME), the HTTPS server.
# Safe to run again: it reuses what is already there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

HOME_DIR="${STRONGROOM_HOME:-$ROOT/var}"
CONF="$HOME_DIR/conf/strongroom.toml"

ensure_python
ensure_postgres
ensure_venv
SR="$VENV/bin/strongroom"

if [ ! -f "$CONF" ]; then
    say "creating a primary node in $HOME_DIR"
    "$SR" init "$HOME_DIR"
else
    say "using the existing node in $HOME_DIR"
fi

if "$SR" status --config "$CONF" >/dev/null 2>&1; then
    say "the server is already running"
else
    say "starting the server"
    "$SR" serve --detach --config "$CONF"
fi

PORT="$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$CONF" | head -1)"
cat <<MSG

Strongroom is running at https://localhost:${PORT}
  log in:      user 'admin' in org MSPOrg; on the first run its generated password is kept in
               $HOME_DIR/conf/initial-admin-password (0600) until you change it at first
               login (the login screen says so too):
                   cat $HOME_DIR/conf/initial-admin-password
               Through the API:
               curl -k https://localhost:${PORT}/api/v1/auth/login -H 'Content-Type: application/json' \\
                    -d '{"username":"admin","password":"…"}'
  check it:    curl -k https://localhost:${PORT}/api/v1/health
  state:       $SR status --config $CONF
  stop it:     $SR stop --config $CONF
  the TUI:     $SR tui --config $CONF
MSG

# Open the terminal UI when a person is at the keyboard (not in CI or a pipe).
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ] && [ -z "${STRONGROOM_NO_TUI:-}" ]; then
    exec "$SR" tui --config "$CONF"
fi
