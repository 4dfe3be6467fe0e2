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


class ShopPaidElsewhereFirst:
    """The merchants' store, except that just before the first payment's write the payer
    pays ``amount`` without the PIN elsewhere, within the same day's password-free limit."""

    def __init__(self, store, guard_store, payer: int, payer_account: int, payee: int, amount):
        self._store, self._guard_store = store, guard_store
        self._payer, self._account, self._payee, self._amount = (
            payer, payer_account, payee, amount
        )

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def pay_merchant(self, order):
        if self._amount:
            spec = TransferSpec(self._account, self._payee, self._amount, TransferKind.TRANSFER)
            free = PasswordFreePayment(
                self._payer, self._account, order.password_free_daily_fen, order.day_start_ms
            )
            await self._guard_store.transfer_password_free("elsewhere", (spec,), free)
            self._amount = 0
        return await self._store.pay_merchant(order)


async def shop_race(wallet, monkeypatch, amount: int) -> None:
    """Bob pays 小明 ``amount`` without the PIN just before his next shop payment's write."""
    bob = await wallet.users.get(BOB)
    xiaoming = await wallet.users.seen(PROFILES[XIAOMING])
    store = ShopPaidElsewhereFirst(
        wallet.merchants.store,
        wallet.transfers.guard.store,
        BOB,
        bob.account_id,
        xiaoming.account_id,
        amount,
    )
    monkeypatch.setattr(wallet.merchants, "store", store)


async def test_a_pay_code_whose_password_free_limit_went_meanwhile_asks_for_the_pin(
    emulator, wallet, monkeypatch, caplog
):
    """A shop collects by pay code under the customer's password-free limit, which other
    payments used up meanwhile: the customer gets the card for the PIN (the shop waits),
    not a refusal; the PIN pays it."""
    from tests.e2e.test_merchants import PAY_CODE, make_shop

    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 100_00)
    await wallet.store.identity.set_password_free(BOB, 20_00, 30_00)
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob", text="pay code")
    code = PAY_CODE.search(shown.text).group(1)
    await shop_race(wallet, monkeypatch, 20_00)  # ¥20 elsewhere + ¥15 here > ¥30 a day
    mark = emulator.mark()
    await emulator.send_text("wangfang", f"/collect {code} 15")
    waiting = await emulator.wait_for_message("wangfang", since=mark)
    assert waiting.text == "⏳ 已请 Bob 用支付密码确认 ¥15.00，付款后会通知你。"
    card = await emulator.wait_for_message("bob", text="🏪 Pay ¥15.00", since=mark)
    assert await available(wallet, BOB) == 80_00  # only the payment elsewhere
    await tap_and_wait(emulator, "bob", card, "Confirm")
    done = await enter_pin(emulator, "bob", card)
    assert done.text.startswith("✅ Paid ¥15.00"), done.text
    assert await available(wallet, BOB) == 65_00
    assert handler_errors(caplog) == []


async def test_a_shop_card_whose_password_free_limit_went_meanwhile_asks_for_the_pin(
    emulator, wallet, monkeypatch, caplog
):
    from tests.e2e.test_merchants import make_shop

    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 100_00)
    await wallet.store.identity.set_password_free(BOB, 20_00, 30_00)
    shop = await wallet.merchants.get(1)
    await emulator.send_text("bob", f"/start pay_{shop.token}")
    await emulator.wait_for_message("bob", text="how much")
    await emulator.send_text("bob", "15")
    card = await emulator.wait_for_message("bob", text="🏪 Pay ¥15.00")
    await shop_race(wallet, monkeypatch, 20_00)
    keypad = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert "password-free limit for today is used up" in keypad.text, keypad.text
    assert "Enter your payment PIN" in keypad.text
    done = await enter_pin(emulator, "bob", card)
    assert done.text.startswith("✅ Paid ¥15.00"), done.text
    assert await available(wallet, BOB) == 65_00
    assert handler_errors(caplog) == []
