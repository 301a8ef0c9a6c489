#!/usr/bin/env bash
# Silent install of a Strongroom node on Linux:
#     setup/linux/install.sh -i silent -f LinuxPrimaryMSP.txt [-l install.log]
# Prepares Python, PostgreSQL and the virtual environment, then hands everything
# else (validation, layout, init or enrollment, systemd unit) to
# `strongroom install --answer-file F --log L`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

usage() { die "usage: $0 -i silent -f ANSWER_FILE [-l LOG_FILE] [-s auto|systemd|process]"; }
MODE="" FILE="" LOG="" SERVICE="auto"
while getopts "i:f:l:s:" opt; do
    case "$opt" in
        i) MODE="$OPTARG" ;;
        f) FILE="$OPTARG" ;;
        l) LOG="$OPTARG" ;;
        s) SERVICE="$OPTARG" ;;
        *) usage ;;
    esac
done
[ "$MODE" = "silent" ] || usage
[ -n "$FILE" ] || usage
FILE="$(cd "$(dirname "$FILE")" && pwd)/$(basename "$FILE")"
LOG="${LOG:-${FILE%.*}.log}"

ensure_python
ensure_postgres
ensure_venv
exec "$VENV/bin/strongroom" "${STRONGROOM_SETUP_COMMAND:-install}" \
    --answer-file "$FILE" --log "$LOG" --service "$SERVICE"
