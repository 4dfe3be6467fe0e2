"""`python -m bot run` with no token: the sandbox and the bot in one process, stopped cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=15) as response:
        return json.load(response)


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r}")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_without_token_serves_the_sandbox_and_stops_cleanly(tmp_path, stop_signal):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WALLET_"))
    }
    env.update(WALLET_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--sandbox-port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = wait_for_line(process, r"open (http://127\.0\.0\.1:\d+)/sandbox/")[1]
        state = get(f"{page}/sandbox/api/state")
        alice = next(r for r in state["residents"] if r["first_name"] == "Alice")
        post(f"{page}/sandbox/api/send", {"user_id": alice["id"], "text": "/balance"})
        seq, replies = state["seq"], []
        deadline = time.monotonic() + 20
        while not replies and time.monotonic() < deadline:
            batch = get(f"{page}/sandbox/api/events?after={seq}&timeout=5")
            seq = batch["seq"]
            replies = [e for e in batch["events"] if e["by_bot"] and e["kind"] == "message"]
        assert replies and replies[0]["text"] == "余额 Balance: ¥0.00"

        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()

    database = tmp_path / "wallet.db"
    assert database.is_file()
    assert not Path(f"{database}-wal").exists()  # closed cleanly: the WAL was folded in
    audit = subprocess.run(
        [sys.executable, "-m", "bot", "audit"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
