#!/usr/bin/env bash
# Install the bot into a virtual environment. The one way it is installed: by `make` (the
# tests, CI), by the systemd guide (deploy/README.md) and by the Dockerfile.
#
#   scripts/install.sh [VENV]              the bot, its dependencies pinned by requirements.lock,
#                                          and nothing else (production; VENV: .venv)
#   scripts/install.sh --dev [VENV]        the same, editable, with the test tools (make)
#   scripts/install.sh --write-lock        pin the dependencies again into requirements.lock
#                                          (after a change to pyproject.toml's dependencies)
#
# PYTHON names the interpreter (default: python3.11, else python3).
# Exit status: 0 when the environment is ready; pip's status otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PIP_FLAGS=(--disable-pip-version-check --quiet)
LOCK=requirements.lock

mode=prod
case "${1:-}" in
    --dev) mode=dev; shift ;;
    --write-lock) mode=lock; shift ;;
esac
VENV=${1:-.venv}

if [[ "$mode" == lock ]]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    "$PYTHON" -m venv "$scratch/venv"
    "$scratch/venv/bin/python" -m pip install "${PIP_FLAGS[@]}" .
    {
        echo "# The bot's dependencies, pinned: installed by scripts/install.sh (make, the"
        echo "# Dockerfile, the systemd guide). Made by: scripts/install.sh --write-lock"
        echo "# with $("$scratch/venv/bin/python" --version) on $(uname -m)."
        "$scratch/venv/bin/python" -m pip freeze --exclude wallet-bot --exclude pip \
            --exclude setuptools --exclude wheel
    } > "$LOCK"
    echo "install.sh: wrote $LOCK" >&2
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip)
"${pip[@]}" install "${PIP_FLAGS[@]}" -r "$LOCK"
if [[ "$mode" == dev ]]; then
    "${pip[@]}" install "${PIP_FLAGS[@]}" -e '.[dev]'
else
    # nothing beyond the lock: a dependency missing from it fails here, not at run time
    "${pip[@]}" install "${PIP_FLAGS[@]}" --no-deps .
    "${pip[@]}" check
fi
