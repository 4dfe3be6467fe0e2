#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's packages.
#
#   scripts/postgres.sh install      install PostgreSQL when it is missing (root, apt-get)
#   scripts/postgres.sh start        install if needed, start a new cluster in a fresh
#                                    temporary folder on 127.0.0.1 and a free port; prints
#                                        url=postgresql://postgres@127.0.0.1:PORT/wallet_test
#                                        dir=/tmp/wallet-pg.XXXXXX
#   scripts/postgres.sh stop DIR     stop that cluster and delete its folder
#
# The cluster is for tests only: trust authentication on 127.0.0.1, fsync off. When run
# as root the server runs as the `postgres` user (PostgreSQL refuses to run as root).
# Exit status: 0 on success; 1 with the reason on stderr otherwise.
set -euo pipefail

PACKAGES=(postgresql)

say() { echo "postgres.sh: $*" >&2; }

bin_dir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$found" && -x "$found/initdb" && -x "$found/pg_ctl" ]]; then
        echo "$found"
    fi
}

install() {
    if [[ -n "$(bin_dir)" ]]; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        say "PostgreSQL is not installed and this is not root; run:"
        say "  sudo apt-get install -y ${PACKAGES[*]}"
        return 1
    fi
    if ! command -v apt-get >/dev/null; then
        say "PostgreSQL is not installed and there is no apt-get here"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's package also creates (and starts) a default cluster; ours is separate.
    apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
    if [[ -z "$(bin_dir)" ]]; then
        say "apt-get finished but initdb and pg_ctl are not in /usr/lib/postgresql/*/bin"
        return 1
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# as_owner CMD...: run CMD as the cluster's owner (postgres when we are root)
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    install
    local bin dir port
    bin=$(bin_dir)
    dir=$(mktemp -d /tmp/wallet-pg.XXXXXX)
    chmod 0755 "$dir"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres: "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        say "initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    }
    for attempt in 1 2 3; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null; then
            break
        fi
        if [[ $attempt == 3 ]]; then
            say "the server did not start:"
            tail -n 20 "$dir/server.log" >&2
            return 1
        fi
    done
    "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
        -c "CREATE DATABASE wallet_test" >/dev/null
    echo "url=postgresql://postgres@127.0.0.1:$port/wallet_test"
    echo "dir=$dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    local bin
    bin=$(bin_dir)
    if [[ ! -d "$dir/data" || "$dir" != /tmp/wallet-pg.* ]]; then
        say "$dir is not a cluster started by postgres.sh start"
        return 1
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        say "usage: $0 install | start | stop DIR"
        exit 1
        ;;
esac
