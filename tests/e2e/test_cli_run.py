"""`python -m bot run` with no token: the sandbox and the bot in one process, stopped cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    """This environment without the bot's settings; the data in ``tmp_path``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WALLET_"))
    }
    env.update(WALLET_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return env


RUN = [sys.executable, "-m", "bot", "run", "--sandbox-port", "0"]


def _as_in_a_terminal() -> None:
    """Ctrl+C as a terminal sends it (a shell's background job would ignore it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def started(cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``bot run`` as a process (its output on ``stdout``), killed if still running at
    the end of the block."""
    process = subprocess.Popen(
        RUN,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_without_token_serves_the_sandbox_and_stops_cleanly(tmp_path, stop_signal):
    env = sandbox_env(tmp_path)
    with started(tmp_path, env) as process:
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


def test_ctrl_c_while_the_bot_starts_stops_it_in_one_line(tmp_path):
    """Ctrl+C as soon as the page's address is printed, while the bot is still being
    built: it stops (no traceback, nothing left running), and the next start works."""
    env = sandbox_env(tmp_path)
    with started(tmp_path, env) as process:
        wait_for_line(process, r"open (http://127\.0\.0\.1:\d+)/sandbox/")
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        rest = process.stdout.read()
    assert "Traceback" not in rest and "Error" not in rest, rest
    # stopped while starting (130, said in one line), or once serving (0, as a stop)
    assert (code, code == 130 and rest.splitlines()[-1]) in ((130, "stopped (Ctrl+C)"), (0, False))
    with started(tmp_path, env) as again:
        wait_for_line(again, r"Application started")
        again.send_signal(signal.SIGINT)
        assert again.wait(timeout=30) == 0


def test_a_second_run_on_the_same_sqlite_database_is_refused_naming_the_first(tmp_path):
    env = sandbox_env(tmp_path)
    with started(tmp_path, env) as first:
        wait_for_line(first, r"Application started")
        second = subprocess.run(
            RUN, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr == (
            f"error: a bot (process {first.pid}) is running on {tmp_path / 'wallet.db'} already:"
            " with SQLite one process serves a database (stop that one first; several"
            " processes need PostgreSQL, deploy/README.md)\n"
        )
        assert "Sandbox" not in second.stdout  # refused before serving anything
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    with started(tmp_path, env) as again:  # the first one gone, the next one starts
        wait_for_line(again, r"Application started")
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
