"""Encrypted values move to a new master key; a wrong key stops the wallet at start-up
(on SQLite and on PostgreSQL; the key file's own tests on SQLite)."""

import base64
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.security_errors import IdNumberTaken, MasterKeyError, WrongMasterKey
from bot.domain.users import Profile
from bot.security.cipher import key_id
from tests.integration.raw import fetch

ROOT = Path(__file__).resolve().parents[2]
KEY_A, KEY_B, KEY_C = (bytes([n]) * 32 for n in (1, 2, 3))
ID_NUMBER = "11010519491231002X"


def settings_for(tmp_path: Path, key: bytes, database_url: str | None = None) -> Settings:
    url = database_url or f"sqlite:///{tmp_path / 'wallet.db'}"
    return Settings(database_url=url, master_key=key, data_dir=tmp_path)


async def tokens(database_url: str) -> list[str]:
    rows = await fetch(
        database_url,
        "SELECT real_name FROM identities UNION ALL SELECT id_number FROM identities"
        " UNION ALL SELECT card_number FROM bank_cards"
        " UNION ALL SELECT totp_secret FROM credentials WHERE totp_secret IS NOT NULL",
    )
    return [row[0] for row in rows]


async def populate(settings: Settings) -> None:
    wallet = await open_wallet(settings)
    try:
        await wallet.users.seen(Profile(1, "alice", "Alice", "en"))
        await wallet.users.seen(Profile(2, "bob", "Bob", "en"))
        await wallet.identity.verify(1, "张三", ID_NUMBER)
        await wallet.identity.bind_card(1, "4111111111111111")
        await wallet.two_factor.begin_setup(1, "alice")
        await wallet.pins.set_pin(1, "739201")
    finally:
        await wallet.close()


def rotate(
    tmp_path: Path, database_url: str, new_key: bytes, old_key: bytes
) -> subprocess.CompletedProcess:
    old = tmp_path / "master.key.old1"
    fd = os.open(old, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, base64.b64encode(old_key))
    os.close(fd)
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": database_url,
        "WALLET_DATA_DIR": str(tmp_path),
        "WALLET_MASTER_KEY": base64.b64encode(new_key).decode(),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "rotate-keys"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_rotation_moves_every_secret_to_the_new_key(tmp_path, database_url):
    await populate(settings_for(tmp_path, KEY_A, database_url))
    assert {t.split(".")[1] for t in await tokens(database_url)} == {key_id(KEY_A)}

    done = rotate(tmp_path, database_url, KEY_B, KEY_A)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 4 values and 2 blind indexes" in done.stdout
    assert {t.split(".")[1] for t in await tokens(database_url)} == {key_id(KEY_B)}

    # with the old key still beside it: the PIN (peppered with A) works and moves to B
    wallet = await open_wallet(settings_for(tmp_path, KEY_B, database_url))
    try:
        assert (await wallet.identity.summary(1)).name == "张*"
        assert await wallet.identity.card_number(1) == "4111111111111111"
        await wallet.pins.verify(1, "739201")
        assert (await wallet.store.security.get_pin(1)).key_id == key_id(KEY_B)
        with pytest.raises(IdNumberTaken):  # the blind index was recomputed under B
            await wallet.identity.verify(2, "李四", ID_NUMBER)
    finally:
        await wallet.close()

    # the old key, put in the data folder, was moved beside it at the rotation; it can go now
    assert not (tmp_path / "master.key.old1").exists()
    (settings_for(tmp_path, KEY_B).master_key_dir / "master.key.old1").unlink()
    wallet = await open_wallet(settings_for(tmp_path, KEY_B, database_url))
    try:
        assert (await wallet.identity.summary(1)).id_number == "1101**********002X"
        await wallet.pins.verify(1, "739201")
    finally:
        await wallet.close()


async def test_a_wrong_master_key_stops_the_wallet_at_start_up(tmp_path, database_url):
    await populate(settings_for(tmp_path, KEY_A, database_url))
    with pytest.raises(WrongMasterKey):
        await open_wallet(settings_for(tmp_path, KEY_C, database_url))
    refused = rotate(tmp_path, database_url, KEY_C, KEY_B)  # neither key wrote this database
    assert refused.returncode == 2
    assert "none of the configured keys" in refused.stderr


async def test_the_key_file_is_made_once_with_owner_only_permissions(tmp_path):
    settings = replace(settings_for(tmp_path, KEY_A), master_key=None)
    await (await open_wallet(settings)).close()
    key_file = settings.master_key_dir / "master.key"
    assert key_file.parent != tmp_path  # never in the data folder
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = key_file.read_bytes()
    await (await open_wallet(settings)).close()
    assert key_file.read_bytes() == first


async def test_a_key_file_left_in_the_data_folder_is_moved_out_and_still_opens_the_data(
    tmp_path, caplog
):
    settings = replace(settings_for(tmp_path, KEY_A), master_key=None, key_dir=tmp_path)
    await populate(settings)  # an install from before: the key file in the data folder
    old_place = tmp_path / "master.key"
    assert old_place.is_file()
    moved = replace(settings, key_dir=None)
    wallet = await open_wallet(moved)
    try:
        assert await wallet.identity.card_number(1) == "4111111111111111"
    finally:
        await wallet.close()
    assert not old_place.exists()
    assert (moved.master_key_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert any("moved the key file" in r.getMessage() for r in caplog.records)


async def test_two_different_keys_in_the_old_and_new_place_stop_the_start(tmp_path):
    settings = replace(settings_for(tmp_path, KEY_A), master_key=None, key_dir=tmp_path)
    await populate(settings)
    other = replace(settings, key_dir=tmp_path / "keys")
    other.key_dir.mkdir(mode=0o700)
    fd = os.open(other.key_dir / "master.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(KEY_C))
    os.close(fd)
    with pytest.raises(MasterKeyError, match="hold different keys"):
        await open_wallet(other)
    assert (tmp_path / "master.key").exists()  # nothing was moved or lost
