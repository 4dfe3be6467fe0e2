"""What an operator can get wrong at start (a data folder that cannot be made or written,
a port taken, a name that does not resolve, the Bot API out of reach, a token Telegram
rejects) ends the command with one ``error:`` sentence and exit status 2: no traceback,
never the token in clear."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:" + "Q" * 35  # a token shaped like a real one, which no Bot API knows
SECRET_PART = TOKEN.split(":", 1)[1]
MODES = [[], ["--webhook", "https://bot.example/tg"]]


def environment(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WALLET_"))
    }
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", WALLET_KEY_DIR=str(tmp_path / "keys"))
    env.update(more)
    return env


def run_bot(
    tmp_path: Path, *args: str, env: dict[str, str], read_only: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m bot ARGS``; with ``read_only``, a read-only file system is mounted
    there first (in a mount namespace of the command's own)."""
    command = [sys.executable, "-m", "bot", *args]
    if read_only is not None:
        mount = 'mount -t tmpfs -o ro none "$0" && exec "$@"'
        command = ["unshare", "-rm", "sh", "-c", mount, str(read_only), *command]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_error(done: subprocess.CompletedProcess, sentence: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "Unclosed" not in output, output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [done.stderr.splitlines()[-1]], output
    assert sentence in errors[0], output


@pytest.fixture(scope="module")
def read_only_mounts(tmp_path_factory) -> None:
    """Skip unless this machine lets a process mount a read-only file system of its own."""
    folder = tmp_path_factory.mktemp("probe")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    check = 'mount -t tmpfs -o ro none "$0" && ! touch "$0/x"'
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", check, str(folder)],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a read-only file system here: {probe.stderr!r}")


@pytest.mark.parametrize("command", ["migrate", "run"])
def test_a_data_folder_that_cannot_be_created_is_one_sentence(tmp_path, command):
    env = environment(tmp_path, WALLET_DATA_DIR="/proc/no-such-folder/data")
    done = run_bot(tmp_path, command, env=env)
    assert_one_error(
        done,
        "cannot create the data folder /proc/no-such-folder/data (WALLET_DATA_DIR): No such"
        " file or directory",
    )


@pytest.mark.parametrize("command", ["migrate", "run"])
def test_a_data_folder_that_is_a_file_is_one_sentence(tmp_path, command):
    (tmp_path / "data").write_text("not a folder")
    done = run_bot(tmp_path, command, env=environment(tmp_path))
    assert_one_error(done, f"the data folder {tmp_path / 'data'} (WALLET_DATA_DIR) is a file")


def test_a_key_folder_that_cannot_be_created_is_one_sentence(tmp_path):
    env = environment(tmp_path, WALLET_KEY_DIR="/proc/no-such-folder/keys")
    done = run_bot(tmp_path, "migrate", env=env)
    assert_one_error(done, "cannot create the master key in /proc/no-such-folder/keys")


@pytest.mark.parametrize("command", ["migrate", "run"])
@pytest.mark.parametrize("made", [False, True], ids=["to-make", "there"])
def test_a_data_folder_on_a_read_only_file_system_is_one_sentence(
    tmp_path, read_only_mounts, command, made
):
    mount = tmp_path / "ro"
    mount.mkdir()
    data = mount if made else mount / "data"
    env = environment(tmp_path, WALLET_DATA_DIR=str(data))
    done = run_bot(tmp_path, command, env=env, read_only=mount)
    if made:
        assert_one_error(done, f"the data folder {data} (WALLET_DATA_DIR) is on a read-only")
    else:
        assert_one_error(done, f"cannot create the data folder {data} (WALLET_DATA_DIR)")
        assert "Read-only file system" in done.stderr


@pytest.mark.parametrize("name", ["copy.db", ""], ids=["file", "folder"])
def test_a_backup_onto_a_read_only_file_system_is_one_sentence(tmp_path, read_only_mounts, name):
    env = environment(tmp_path, WALLET_DATA_DIR=str(tmp_path / "data"))
    assert run_bot(tmp_path, "migrate", env=env).returncode == 0
    mount = tmp_path / "ro"
    mount.mkdir()
    done = run_bot(tmp_path, "backup", f"{mount}/{name}", env=env, read_only=mount)
    assert_one_error(done, f"cannot write {mount}/")
    assert done.stderr.rstrip().endswith("Read-only file system")


def test_the_metrics_port_taken_is_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment(tmp_path, WALLET_DATA_DIR="data", WALLET_METRICS_PORT=str(port))
        done = run_bot(tmp_path, "run", "--sandbox-port", "0", env=env)
    assert_one_error(done, f"cannot serve /healthz and /metrics on 127.0.0.1:{port}")
    assert "address already in use" in done.stderr


def test_a_metrics_host_that_does_not_resolve_is_one_sentence(tmp_path):
    env = environment(
        tmp_path,
        WALLET_DATA_DIR="data",
        WALLET_METRICS_PORT=str(free_port()),
        WALLET_METRICS_HOST="no-such-host.invalid",
    )
    done = run_bot(tmp_path, "run", "--sandbox-port", "0", env=env)
    assert_one_error(done, "WALLET_METRICS_HOST no-such-host.invalid does not resolve")


@pytest.mark.parametrize("mode", MODES, ids=["polling", "webhook"])
def test_the_bot_api_out_of_reach_at_start_is_one_sentence(tmp_path, mode):
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = environment(
        tmp_path,
        WALLET_DATA_DIR="data",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=nowhere,
        WALLET_PAYOUT_GATEWAY="manual",
    )
    port = ["--port", str(free_port())] if mode else []
    done = run_bot(tmp_path, "run", *mode, *port, env=env)
    assert_one_error(done, f"cannot reach the Bot API at {nowhere} (TELEGRAM_API_BASE_URL)")
    assert SECRET_PART not in done.stdout + done.stderr


@pytest.mark.parametrize("mode", MODES, ids=["polling", "webhook"])
async def test_a_token_telegram_rejects_is_one_sentence_with_the_token_masked(
    sandbox, tmp_path, mode
):
    env = environment(
        tmp_path,
        WALLET_DATA_DIR="data",
        TELEGRAM_BOT_TOKEN=TOKEN,  # not the emulator's: it answers 401 Unauthorized
        TELEGRAM_API_BASE_URL=sandbox.url,
        WALLET_PAYOUT_GATEWAY="manual",
    )
    port = ["--port", str(free_port())] if mode else []
    done = await asyncio.to_thread(run_bot, tmp_path, "run", *mode, *port, env=env)
    assert_one_error(done, "Telegram rejected the bot token (123456:…, TELEGRAM_BOT_TOKEN")
    assert SECRET_PART not in done.stdout + done.stderr


def test_what_the_bot_creates_is_readable_by_its_user_alone_whatever_the_umask(tmp_path):
    env = environment(tmp_path, WALLET_DATA_DIR="data", WALLET_LOG_FILE="yes")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask: 0755 folders, 0644 files
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = tmp_path / "data"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data, *data.iterdir()]}
    assert modes == {
        "data": 0o700,
        "wallet.db": 0o600,
        "wallet-bot.log": 0o600,
        "sandbox_gateway.db": 0o600,  # the sandbox payout gateway's state (no token set)
    }
