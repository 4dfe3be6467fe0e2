"""A password-free /send whose daily limit was used up by payments made after the guard
looked and before its money moved: nothing moves, the card asks for the PIN, and the
PIN pays it (through the real application and the emulator)."""

from __future__ import annotations

import logging

import pytest

from bot.domain.holds import PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    XIAOMING,
    available,
    enter_pin,
    fund,
    tap_and_wait,
)


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


class PaidElsewhereFirst:
    """The guard's store, except that just before the first password-free write the
    payer pays ``amounts`` without the PIN elsewhere (another device, another process):
    committed after the guard read today's total, before this payment's own write."""

    def __init__(self, store, payer_account: int, payee_account: int, *amounts: int) -> None:
        self._store = store
        self._payer, self._payee = payer_account, payee_account
        self._amounts = list(amounts)

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def transfer_password_free(self, key, specs, payment: PasswordFreePayment):
        for n, amount in enumerate(self._amounts):
            spec = TransferSpec(self._payer, self._payee, amount, TransferKind.TRANSFER)
            await self._store.transfer_password_free(f"elsewhere-{n}", (spec,), payment)
        self._amounts = []
        return await self._store.transfer_password_free(key, specs, payment)


async def race(wallet, monkeypatch, payer: int, *amounts: int) -> None:
    payer_account = (await wallet.users.get(payer)).account_id
    bob_account = (await wallet.users.get(BOB)).account_id
    guard = wallet.transfers.guard
    store = PaidElsewhereFirst(guard.store, payer_account, bob_account, *amounts)
    monkeypatch.setattr(guard, "store", store)


@pytest.mark.both_back_ends
async def test_a_password_free_transfer_past_the_limit_in_its_write_asks_for_the_pin(
    emulator, wallet, monkeypatch, caplog
):
    await fund(wallet, ALICE, 200_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 50_00, 100_00)
    await emulator.send_text("alice", "/send @bob 30 tea")
    card = await emulator.wait_for_message("alice")
    await race(wallet, monkeypatch, ALICE, 40_00, 40_00)  # ¥80 + ¥30 > ¥100

    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")

    assert "password-free limit for today is used up" in keypad.text
    assert "Nothing was paid" in keypad.text
    assert "Enter your payment PIN" in keypad.text
    assert await available(wallet, ALICE) == 200_00 - 80_00  # only the payments elsewhere
    assert await available(wallet, BOB) == 80_00
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥30.00 to Bob. Your balance: ¥90.00"
    assert await available(wallet, ALICE) == 200_00 - 110_00
    assert await available(wallet, BOB) == 110_00
    assert handler_errors(caplog) == []


async def test_the_pin_is_asked_in_chinese_too(emulator, wallet, monkeypatch, caplog):
    await fund(wallet, XIAOMING, 200_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(XIAOMING, 50_00, 100_00)
    await emulator.send_text("xiaoming", "/send @bob 50")
    card = await emulator.wait_for_message("xiaoming")
    await race(wallet, monkeypatch, XIAOMING, 50_00, 1)  # ¥50.01 + ¥50 > ¥100

    keypad = await tap_and_wait(emulator, "xiaoming", card, "确认")

    assert "免密" in keypad.text and "请输入支付密码" in keypad.text, keypad.text
    assert await available(wallet, XIAOMING) == 200_00 - 50_01
    assert handler_errors(caplog) == []


async def test_within_the_limit_a_password_free_transfer_goes_without_the_pin(
    emulator, wallet, monkeypatch, caplog
):
    await fund(wallet, ALICE, 200_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 50_00, 100_00)
    await emulator.send_text("alice", "/send @bob 30")
    card = await emulator.wait_for_message("alice")
    await race(wallet, monkeypatch, ALICE, 40_00)  # ¥40 + ¥30 ≤ ¥100: still free

    done = await tap_and_wait(emulator, "alice", card, "Confirm")

    assert done.text == "✅ Sent ¥30.00 to Bob. Your balance: ¥130.00"
    assert await available(wallet, BOB) == 70_00
    assert handler_errors(caplog) == []
