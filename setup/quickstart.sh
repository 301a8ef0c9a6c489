#!/usr/bin/env bash
# Set up and run Strongroom on this machine: a virtual environment, PostgreSQL if
# missing, a primary node in ./var (or $STRONGROOM_HOME), the HTTPS server.
# Safe to run again: it reuses what is already there.
#
# Ports and address (used when the node is created; an existing node keeps its
# configuration):
#   ./setup/quickstart.sh [--port HTTPS] [--db-port POSTGRESQL] [--gateway-port SSH]
#                         [--listen ADDRESS]
# (defaults 7272, 7432, 2222 and 0.0.0.0, as `strongroom init`; the HTTPS server and the
# SSH gateway listen on ADDRESS, e.g. --listen 127.0.0.1 for this machine only).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

INIT_ARGS=()
LISTEN=""
while [ $# -gt 0 ]; do
    case "$1" in
        --port|--db-port|--gateway-port)
            [ $# -ge 2 ] || { echo "quickstart: $1 needs a port number" >&2; exit 2; }
            INIT_ARGS+=("$1" "$2")
            shift 2
            ;;
        --listen)
            [ $# -ge 2 ] && [ -n "$2" ] || {
                echo "quickstart: --listen needs an address (e.g. 127.0.0.1)" >&2; exit 2; }
            LISTEN="$2"
            INIT_ARGS+=("$1" "$2")
            shift 2
            ;;
        *)
            echo "quickstart: unknown option $1 (--port, --db-port, --gateway-port, --listen)" >&2
            exit 2
            ;;
    esac
done

HOME_DIR="${STRONGROOM_HOME:-$ROOT/var}"
CONF="$HOME_DIR/conf/strongroom.toml"

ensure_python
ensure_postgres
ensure_venv
SR="$VENV/bin/strongroom"

if [ ! -f "$CONF" ]; then
    say "creating a primary node in $HOME_DIR"
    "$SR" init "$HOME_DIR" ${INIT_ARGS[@]+"${INIT_ARGS[@]}"}
else
    say "using the existing node in $HOME_DIR"
    [ ${#INIT_ARGS[@]} -eq 0 ] || say "(its ports and address are in $CONF: the options given are not used)"
fi

if "$SR" status --config "$CONF" >/dev/null 2>&1; then
    say "the server is already running"
else
    say "starting the server"
    "$SR" serve --detach --config "$CONF"
fi

PORT="$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$CONF" | head -1)"
GATEWAY_PORT="$(awk '/^\[/{s=$0} s=="[gateway]" && /^port = /{print $3; exit}' "$CONF")"
HOST="$(awk '/^\[/{s=$0} s=="[server]" && /^host = /{gsub(/"/, "", $3); print $3; exit}' "$CONF")"
case "$HOST" in ""|0.0.0.0|::|"[::]") HOST=localhost ;; *:*) HOST="[$HOST]" ;; esac
cat <<MSG

Strongroom is running at https://${HOST}:${PORT}
  log in:      user 'admin' in org MSPOrg; on the first run its generated password is kept in
               $HOME_DIR/conf/initial-admin-password (0600) until you change it at first
               login (the login screen says so too):
                   cat $HOME_DIR/conf/initial-admin-password
               Through the API:
               curl -k https://${HOST}:${PORT}/api/v1/auth/login -H 'Content-Type: application/json' \\
                    -d '{"username":"admin","password":"…"}'
  the gateway: ssh -p ${GATEWAY_PORT:-2222} admin@${HOST}   (the TUI over SSH)
  check it:    curl -k https://${HOST}:${PORT}/api/v1/health
  state:       $SR status --config $CONF
  stop it:     $SR stop --config $CONF
  the TUI:     $SR tui --config $CONF
MSG

# Open the terminal UI when a person is at the keyboard (not in CI or a pipe).
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ] && [ -z "${STRONGROOM_NO_TUI:-}" ]; then
    exec "$SR" tui --config "$CONF"
fi
