"""A shop collecting by pay code hears when the customer lets the card expire untouched,
once, through the real application and emulator (the sweep and the notices' sender)."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import build_application
from bot.handlers import merchant_pay
from tests.e2e.conftest import FAST_FINGERS
from tests.e2e.test_merchants import (
    collect_by_pay_code,
    errors_logged,
    make_shop,
    shop_account,
)
from tests.e2e.test_send import BOB, WANGFANG, available, fund, start_private

pytest.importorskip("zxingcpp")

CARD_TTL_S = 1


@pytest.fixture
def application(settings, wallet, monkeypatch):
    """Cards that expire in a second, looked for every tenth of one, told half a second
    after they expired."""
    monkeypatch.setattr(merchant_pay, "CARD_TTL_S", CARD_TTL_S)
    monkeypatch.setattr(merchant_pay, "LAPSED_SWEEP_S", 0.1)
    monkeypatch.setattr(merchant_pay, "LAPSED_GRACE_S", 0.5)
    return build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)


async def test_a_card_left_to_expire_is_told_to_the_shop_once_and_pays_nothing(
    emulator, wallet, caplog
):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "bob")
    waiting, card = await collect_by_pay_code(emulator, "30")
    assert waiting.text == "⏳ 已请 Bob 用支付密码确认 ¥30.00，付款后会通知你。"
    assert card.text.startswith("🏪 Pay ¥30.00")

    mark = emulator.mark()  # Bob does nothing: the card expires
    heard = await emulator.wait_for_message("wangfang", since=mark, timeout=10)
    assert (
        heard.text
        == "⌛ Bob 未在有效期内确认 ¥30.00 的付款，未收款。如需再收，请让顾客出示新的付款码。"
    )
    late = await emulator.wait_for_answer(await emulator.tap("bob", card, "Confirm"))
    assert late.text.startswith("This button has expired. Nothing was done")  # too late
    await asyncio.sleep(0.5)  # several sweeps later, still told once
    told = [e for e in emulator.bot_events("message") if e.seq > mark and e.chat_id == WANGFANG]
    assert [e.text for e in told] == [heard.text]
    assert await available(wallet, BOB) == 50_00 and await shop_account(wallet) == 0
    assert errors_logged(caplog) == []
