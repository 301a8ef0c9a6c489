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
START_DIR="$PWD"
cd "$ROOT"

# What quickstart prints fits in 80 columns (newcomer pass, session 11): fit80 copies its
# input, a line longer than 80 columns broken at spaces, the rest indented 4 more, its
# paths below where quickstart was started written from there.
fit80() {
    local line indent out word words
    while IFS= read -r line || [ -n "$line" ]; do
        if [ "${#line}" -le 80 ]; then printf '%s\n' "$line"; continue; fi
        indent="${line%%[! ]*}"
        read -ra words <<<"$line"
        out=""
        for word in "${words[@]}"; do
            [ "$START_DIR" = / ] || word="${word#"$START_DIR"/}"
            if [ -z "$out" ]; then out="$indent$word"
            elif [ $((${#out} + 1 + ${#word})) -le 80 ]; then out+=" $word"
            else printf '%s\n' "$out"; out="$indent    $word"
            fi
        done
        printf '%s\n' "$out"
    done
}

# A path as the person who started quickstart would type it: relative to where they were
# when it is below there (shorter lines), else as it is.
shown() {
    case "$1" in "$START_DIR"/*) printf '%s' "${1#"$START_DIR"/}" ;; *) printf '%s' "$1" ;; esac
}

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
    say "creating a primary node in $(shown "$HOME_DIR")"
    "$SR" init "$HOME_DIR" ${INIT_ARGS[@]+"${INIT_ARGS[@]}"} | fit80
else
    say "using the existing node in $(shown "$HOME_DIR")"
    [ ${#INIT_ARGS[@]} -eq 0 ] || {
        say "the options given are not used: its ports and address are in"
        echo "    $(shown "$CONF")"
    }
fi

if "$SR" status --config "$CONF" >/dev/null 2>&1; then
    say "the server is already running"
else
    say "starting the server"
    "$SR" serve --detach --config "$CONF" >/dev/null  # its address: in what follows
fi

PORT="$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$CONF" | head -1)"
GATEWAY_PORT="$(awk '/^\[/{s=$0} s=="[gateway]" && /^port = /{print $3; exit}' "$CONF")"
HOST="$(awk '/^\[/{s=$0} s=="[server]" && /^host = /{gsub(/"/, "", $3); print $3; exit}' "$CONF")"
# One address for the server, the one the TUI opened below uses: this machine's name when
# the server listens on all addresses or on the loopback one (as `strongroom tui --config`),
# else the address it listens on (newcomer pass, session 11: two URLs were named).
TUI_ARGS=(tui --config "$CONF")
case "$HOST" in
    ""|0.0.0.0|::|"[::]"|127.0.0.1|::1|localhost) HOST=localhost ;;
    *:*) HOST="[$HOST]" ;;
esac
URL="https://${HOST}:${PORT}"
SR_SHOWN="$(shown "$SR")"
CONF_SHOWN="$(shown "$CONF")"
TUI_SHOWN="tui --config $CONF_SHOWN"
[ "$HOST" = localhost ] || { TUI_ARGS=(tui "$URL"); TUI_SHOWN="tui $URL"; }
PASSWORD_FILE="$(shown "$HOME_DIR/conf/initial-admin-password")"
fit80 <<MSG

Strongroom is running at $URL
  log in:     user 'admin' in org MSPOrg. On the first run, its password is
              kept (mode 0600) until you change it at first login:
                  cat $PASSWORD_FILE
  the TUI:    $SR_SHOWN $TUI_SHOWN
  by SSH:     ssh -p ${GATEWAY_PORT:-2222} admin@${HOST}   (the same TUI)
  health:     curl -k $URL/api/v1/health
  log in by the API:
              curl -k $URL/api/v1/auth/login \\
                  -H 'Content-Type: application/json' \\
                  -d '{"username":"admin","password":"…"}'
  state:      $SR_SHOWN status --config $CONF_SHOWN
  stop it:    $SR_SHOWN stop --config $CONF_SHOWN
MSG

# Open the terminal UI when a person is at the keyboard (not in CI or a pipe).
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ] && [ -z "${STRONGROOM_NO_TUI:-}" ]; then
    exec "$SR" "${TUI_ARGS[@]}"
fi
