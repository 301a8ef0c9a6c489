# Shared helpers for setup/quickstart.sh and setup/test.sh (sourced, not run).
# Each helper is idempotent: it checks before it installs.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

APT_UPDATED=""
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "cannot install $* here: not a Debian/Ubuntu system"
    if [ -z "$APT_UPDATED" ]; then
        say "refreshing the package lists"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        APT_UPDATED=1
    fi
    say "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

ensure_python() {
    PYTHON="$(find_python)" || die "Python 3.11 or newer is required"
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
}

pg_server_present() {
    if [ -n "${STRONGROOM_PG_BINDIR:-}" ] && [ -x "$STRONGROOM_PG_BINDIR/initdb" ]; then return 0; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then return 0; fi
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

ensure_postgres() {
    if pg_server_present; then return 0; fi
    # Strongroom runs its own embedded cluster; do not let the package make and
    # start a second, unused one.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        as_root mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    apt_install postgresql
    pg_server_present || die "PostgreSQL was installed but its server binaries were not found"
}

ensure_tmux() {  # the TUI's real-terminal test needs it; without it that test skips
    command -v tmux >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1; then
        apt_install tmux || say "tmux could not be installed: the real-terminal TUI test will skip"
    else
        say "tmux is not installed and this is not Debian/Ubuntu: the real-terminal TUI test will skip"
    fi
}

ensure_slapd() {  # the directory-login tests' OpenLDAP (tests/targets/slapd.py); they skip without it
    [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1; then
        # A policy-rc.d that denies every start: the package must not start the system slapd
        # (the tests start their own on loopback ports in temporary directories).
        local policy=/usr/sbin/policy-rc.d made=""
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
            as_root chmod 755 "$policy"; made=1
        fi
        echo "slapd slapd/no_configuration boolean true" | as_root debconf-set-selections 2>/dev/null || true
        apt_install slapd ldap-utils || say "slapd could not be installed: the directory tests will skip"
        [ -n "$made" ] && as_root rm -f "$policy"
    else
        say "slapd is not installed and this is not Debian/Ubuntu: the directory tests will skip"
    fi
    return 0
}

ensure_ssh_client() {  # the SSH gateway's tests drive OpenSSH's ssh, sftp and ssh-keygen
    command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1; then
        # openssh-client has no daemon: nothing starts
        apt_install openssh-client || say "openssh-client could not be installed: the gateway tests will skip"
    else
        say "OpenSSH's client is not installed and this is not Debian/Ubuntu: the gateway tests will skip"
    fi
}

ensure_rotation_targets() {  # issue 29's tests start their own sshd and mariadbd on loopback
    [ -x /usr/sbin/sshd ] && command -v mariadbd >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || { say "openssh-server/mariadb-server missing: their rotation tests will skip"; return 0; }
    # Installing must not start the system's sshd or MariaDB: policy-rc.d denies every start.
    local policy=/usr/sbin/policy-rc.d had_policy=""
    [ -e "$policy" ] && had_policy=1
    [ -n "$had_policy" ] || printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    apt_install openssh-server openssh-client mariadb-server \
        || say "openssh-server/mariadb-server could not be installed: their rotation tests will skip"
    [ -n "$had_policy" ] || as_root rm -f "$policy"
}

ensure_sudo() {  # issue 29's test of a sudoer reconciliation account; it skips without sudo
    [ -x /usr/bin/sudo ] && return 0
    command -v apt-get >/dev/null 2>&1 || { say "sudo missing: the sudoer rotation test will skip"; return 0; }
    # sudo's package has no daemon, but deny starts anyway as the other target packages do.
    local policy=/usr/sbin/policy-rc.d had_policy=""
    [ -e "$policy" ] && had_policy=1
    [ -n "$had_policy" ] || printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    apt_install sudo || say "sudo could not be installed: the sudoer rotation test will skip"
    [ -n "$had_policy" ] || as_root rm -f "$policy"
}

ensure_venv() {  # ensure_venv [extra]
    local extra="${1:-}" spec="$ROOT"
    [ -n "$extra" ] && spec="$ROOT[$extra]"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed${extra:+-$extra}"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        say "installing Strongroom${extra:+ with [$extra]} into .venv"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q --progress-bar on -e "$spec"
        touch "$stamp"
    fi
}

ensure_rsyslog() {  # issue 31's SIEM tests start their own rsyslogd (TLS) on loopback
    [ -x /usr/sbin/rsyslogd ] && [ -n "$(find /usr/lib -name lmnsd_gtls.so 2>/dev/null | head -1)" ] && return 0
    command -v apt-get >/dev/null 2>&1 || { say "rsyslog/rsyslog-gnutls missing: the SIEM forwarding tests will skip"; return 0; }
    # Installing must not start the system's rsyslog: policy-rc.d denies every start.
    local policy=/usr/sbin/policy-rc.d had_policy=""
    [ -e "$policy" ] && had_policy=1
    [ -n "$had_policy" ] || printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    apt_install rsyslog rsyslog-gnutls \
        || say "rsyslog/rsyslog-gnutls could not be installed: the SIEM forwarding tests will skip"
    [ -n "$had_policy" ] || as_root rm -f "$policy"
}
