#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium (and fonts for Chinese text and emoji) for the
# sandbox browser test. Does nothing when Chromium is already there; needs root for apt-get.
# Exit status: 0 when /usr/bin/chromium is usable afterwards, 1 otherwise.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-wqy-microhei fonts-noto-color-emoji)

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "install-chromium: $CHROMIUM is missing and this is not root; run:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: no apt-get here; install Chromium at $CHROMIUM by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
[[ -x "$CHROMIUM" ]]
