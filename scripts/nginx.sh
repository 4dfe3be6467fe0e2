#!/usr/bin/env bash
# nginx from Debian's packages, for the test that runs the bot's processes behind
# deploy/nginx-wallet-bot.conf's way of spreading updates (tests/e2e/test_scale_out.py).
#
#   scripts/nginx.sh install     install nginx when it is missing (root, apt-get)
#
# The tests start their own nginx on 127.0.0.1 with a configuration of their own; the
# package's default site is not used (nor started here).
# Exit status: 0 on success; 1 with the reason on stderr otherwise.
set -euo pipefail

PACKAGES=(nginx-light)

say() { echo "nginx.sh: $*" >&2; }

found() { command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; }

install() {
    if found; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        say "nginx is not installed and this is not root; run:"
        say "  sudo apt-get install -y ${PACKAGES[*]}"
        return 1
    fi
    if ! command -v apt-get >/dev/null; then
        say "nginx is not installed and there is no apt-get here"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
    if ! found; then
        say "apt-get finished but there is no nginx"
        return 1
    fi
}

case "${1:-}" in
    install) install ;;
    *)
        say "usage: scripts/nginx.sh install"
        exit 1
        ;;
esac
