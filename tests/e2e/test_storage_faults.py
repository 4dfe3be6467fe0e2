"""A full disk or a read-only database: writes refused clearly, reads still answered.

Every write the wallet cannot save is refused with one localized message saying that
nothing was moved; nothing is half done; /balance and /history keep answering; the
error log holds one line per refused update, not a traceback. When the disk has room
again (or the file is writable again), the wallet goes on as before.

The full disk is a real one: the database lives on a small tmpfs filled to the brim
(mounting needs root; without it that case is skipped). The read-only file is SQLite's
``query_only`` on the running writer's connection, which refuses writes the way a
read-only file does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot.handlers.errors import log as error_log
from tests.e2e.test_send import ALICE, BOB, PROFILES, available, enter_pin, fund, tap_and_wait

REFUSED_EN = "The wallet cannot save anything right now, so nothing was moved."
REFUSED_ZH = "钱包暂时无法保存，本次没有动用任何资金。"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, unmounted after the test; skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def settings(request, settings):
    if "small_disk" in request.fixturenames:
        disk = request.getfixturevalue("small_disk")
        return replace(settings, database_url=f"sqlite:///{disk / 'wallet.db'}")
    return settings


def fill(disk: Path) -> Path:
    """Fill ``disk`` until not one more byte fits; the filler file."""
    filler = disk / "filler"
    chunk = b"\0" * 65_536
    with open(filler, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    return filler


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == error_log.name]


async def ask(emulator, user: str, text: str, expect: str | None = None) -> str:
    """The answer to ``text`` (the one holding ``expect``: the admins hear of errors too)."""
    mark = emulator.mark()
    await emulator.send_text(user, text)
    return (await emulator.wait_for_message(user, since=mark, text=expect)).text


async def refused_writes_and_answered_reads(emulator, wallet, caplog, card) -> None:
    """With writes failing: a new payment, a tap on a card shown before, a top-up and a
    language change are refused with the message; the balance and history answer."""
    tapped = await emulator.tap("alice", card, "Confirm")
    answer = await emulator.wait_for_answer(tapped)
    assert answer.text.startswith(REFUSED_EN) and answer.data["show_alert"]
    assert (await ask(emulator, "alice", "/send @bob 3", "save")).startswith(REFUSED_EN)
    assert (await ask(emulator, "xiaoming", "/lang en")).startswith(REFUSED_ZH)
    assert (await ask(emulator, "alice", "/balance", "Balance")) == "余额 Balance: ¥50.00"
    assert "Your transactions" in await ask(emulator, "alice", "/history", "🧾")
    # Bob was known from the group only: his first private word cannot be saved, yet read
    assert (await ask(emulator, "bob", "/balance", "Balance")) == "余额 Balance: ¥0.00"
    assert await available(wallet, ALICE) == 50_00
    assert await available(wallet, BOB) == 0

    logged = refusals(caplog)
    assert len(logged) == 2  # one line for each update refused (the tap is answered in place)
    for record in logged:
        assert record.levelno == logging.ERROR and record.exc_info is None
        assert record.getMessage().startswith("the database refused update ")
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # no traceback at all
    # the admin (Alice) hears of it once, not once per refused update
    reports = [m for m in emulator.messages("alice") if "Error while handling" in (m.text or "")]
    assert len(reports) == 1, [m.text for m in reports]


async def the_wallet_goes_on(emulator, wallet) -> None:
    assert (await ask(emulator, "alice", "/send @bob 4", "Send")) == "Send ¥4.00 to Bob?"
    card = emulator.last_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥4.00 to Bob. Your balance: ¥46.00"
    assert await available(wallet, ALICE) == 46_00


async def prepared(emulator, wallet):
    """Alice with ¥50 and a card for Bob not yet confirmed; 小明 known to the wallet."""
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await ask(emulator, "xiaoming", "/balance", "Balance")
    await ask(emulator, "alice", "/balance", "Balance")
    await emulator.send_text("alice", "/send @bob 5")
    return await emulator.wait_for_message("alice", text="Send ¥5.00 to Bob?")


async def test_a_full_disk_refuses_writes_clearly_and_keeps_answering_reads(
    small_disk, emulator, wallet, caplog
):
    card = await prepared(emulator, wallet)
    filler = fill(small_disk)
    try:
        await refused_writes_and_answered_reads(emulator, wallet, caplog, card)
    finally:
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()
    await the_wallet_goes_on(emulator, wallet)


@pytest.mark.sqlite_only
async def test_a_read_only_database_refuses_writes_clearly_and_keeps_answering_reads(
    emulator, wallet, caplog
):
    card = await prepared(emulator, wallet)
    writer = wallet.store.writer
    await writer.on_thread(lambda conn: conn.execute("PRAGMA query_only = ON"))
    try:
        wallet.notices.wake()  # the notices' sender meets it too: one line, no traceback
        for _ in range(50):
            if any(r.getMessage().startswith("notices not sent now: ") for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        await refused_writes_and_answered_reads(emulator, wallet, caplog, card)
        sender = [r for r in caplog.records if r.getMessage().startswith("notices not sent")]
        assert sender and all(r.exc_info is None for r in sender)
    finally:
        await writer.on_thread(lambda conn: conn.execute("PRAGMA query_only = OFF"))
    await the_wallet_goes_on(emulator, wallet)
