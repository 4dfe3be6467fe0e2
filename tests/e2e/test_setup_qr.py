"""The 2FA setup QR code (it shows the secret) leaves the chat: when the first code is
confirmed, or when its time is up, whichever comes first."""

from __future__ import annotations

import time

from bot.handlers import setup_qr
from bot.security import totp
from tests.e2e.test_security_settings import ALICE, press, totp_secret


async def _qr_and_keypad(emulator):
    await emulator.send_text("alice", "/2fa")
    photo = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo)
    keypad = await emulator.wait_for_message("alice", text="turn 2FA on")
    return photo, keypad


def _deletions(emulator, photo) -> list:
    return [
        e
        for e in emulator.bot_events("delete")
        if e.chat_id == photo.chat_id and e.message_id == photo.message_id
    ]


async def test_the_qr_code_is_deleted_once_the_first_code_is_confirmed(emulator, wallet):
    photo, keypad = await _qr_and_keypad(emulator)
    secret = await totp_secret(wallet, ALICE)
    wrong = "000000" if totp.code_at(secret, time.time()) != "000000" else "111111"
    await press(emulator, "alice", keypad, wrong)
    assert "not right" in emulator.last_message("alice").text
    assert not _deletions(emulator, photo)  # a wrong code: still there to scan

    await press(emulator, "alice", keypad, totp.code_at(secret, time.time()))
    assert emulator.last_message("alice").text.startswith("✅ Two-factor authentication is on")
    assert len(_deletions(emulator, photo)) == 1
    assert all(not m.photo for m in emulator.messages("alice"))
    assert not emulator.errors()  # the timer found nothing left to delete, and said nothing


async def test_an_unconfirmed_qr_code_is_deleted_when_its_time_is_up(emulator, wallet, monkeypatch):
    monkeypatch.setattr(setup_qr, "QR_LIFETIME_S", 0.3)
    photo, _ = await _qr_and_keypad(emulator)
    await emulator.wait_for(
        lambda e: e.kind == "delete" and e.message_id == photo.message_id, timeout=5
    )
    assert all(not m.photo for m in emulator.messages("alice"))
    assert not await wallet.two_factor.is_enabled(ALICE)


async def test_a_second_setup_deletes_the_first_qr_code_at_once(emulator, wallet):
    first, _ = await _qr_and_keypad(emulator)
    second, keypad = await _qr_and_keypad(emulator)
    assert len(_deletions(emulator, first)) == 1
    assert [m.message_id for m in emulator.messages("alice") if m.photo] == [second.message_id]
    secret = await totp_secret(wallet, ALICE)
    await press(emulator, "alice", keypad, totp.code_at(secret, time.time()))
    assert len(_deletions(emulator, second)) == 1
    assert not emulator.errors()


async def test_a_qr_code_its_owner_deleted_first_is_no_error(emulator, wallet, monkeypatch):
    monkeypatch.setattr(setup_qr, "QR_LIFETIME_S", 0.3)
    photo, _ = await _qr_and_keypad(emulator)
    emulator.chat("alice").messages[photo.message_id].deleted = True  # the owner deleted it
    mark = emulator.mark()
    await emulator.wait_for(lambda e: e.kind == "error", since=mark, timeout=5)  # the 400
    await emulator.send_text("alice", "/balance")  # the bot carries on
    assert "Balance" in (await emulator.wait_for_message("alice")).text


async def test_a_code_confirmed_as_the_time_runs_out_deletes_the_qr_once(
    emulator, wallet, monkeypatch
):
    monkeypatch.setattr(setup_qr, "QR_LIFETIME_S", 0.05)  # due while the code is typed
    photo, keypad = await _qr_and_keypad(emulator)
    secret = await totp_secret(wallet, ALICE)
    await press(emulator, "alice", keypad, totp.code_at(secret, time.time()))
    assert emulator.last_message("alice").text.startswith("✅ Two-factor authentication is on")
    await emulator.wait_for(
        lambda e: e.kind == "delete" and e.message_id == photo.message_id, since=0
    )
    assert len(_deletions(emulator, photo)) == 1  # whichever came first; the other found none
    assert all(not m.photo for m in emulator.messages("alice"))
