"""Merchants through the real application and the emulator: a QR photographed and paid,
one-time charges paid once, pay codes collected once, refunds, takings, bursts."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image

from bot.domain.users import Profile
from bot.handlers import scan
from bot.render.qr import qr_png
from bot.wallet.merchants import PayTarget
from tests.e2e.database import rows
from tests.e2e.test_send import (
    BOB,
    PIN,
    PROFILES,
    WANGFANG,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

pytest.importorskip("zxingcpp")

SHOP = "王芳面馆"
# (not ``\b`` at the end: a token may end in "-", after which \b never matches a space)
CHARGE_LINK = re.compile(r"start=(pay_[A-Za-z0-9_-]{20})(?![A-Za-z0-9_-])")
PAY_CODE = re.compile(r"(\d{6} \d{6} \d{6})")


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def edited(emulator, card, since: int, wait_s: float = 5.0):
    """The bot's edit of ``card`` (message ids are counted per chat)."""
    return await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id
        and e.chat_id == card.chat_id,
        since=since,
        timeout=wait_s,
    )


async def make_shop(emulator, wallet):
    """王芳 is registered as a merchant by Alice (an admin); her QR code's PNG."""
    await start_private(emulator, "wangfang")
    await wallet.users.seen(PROFILES[WANGFANG])
    await emulator.send_text("alice", f"/merchant_add @wangfang {SHOP} food")
    added = await emulator.wait_for_message("alice")
    assert added.text == f"✅ {SHOP} (food) is a merchant now, run by 王芳. Merchant #1."
    sent = await emulator.wait_for_message("wangfang", since=0, text="🏪")
    assert sent.message.photo and "顾客扫描此码" in sent.text
    return emulator.files[sent.message.photo[-1]["file_id"]].content


async def test_a_shop_given_no_category_is_general_in_its_owners_language(emulator, wallet):
    await start_private(emulator, "wangfang")
    await wallet.users.seen(PROFILES[WANGFANG])
    await emulator.send_text("alice", f"/merchant_add @wangfang {SHOP}")
    added = await emulator.wait_for_message("alice")
    assert added.text == f"✅ {SHOP} (general) is a merchant now, run by 王芳. Merchant #1."
    sent = await emulator.wait_for_message("wangfang", since=0, text="🏪")
    assert sent.text.startswith(f"🏪 {SHOP}（综合·general）\n顾客扫描此码")
    assert (await wallet.merchants.mine(WANGFANG)).category == "general"


async def shop_account(wallet) -> int:
    merchant = await wallet.merchants.mine(WANGFANG)
    return (await wallet.ledger.balance(merchant.account_id)).available


@pytest.mark.both_back_ends
async def test_a_new_customer_pays_a_merchant_from_a_photo_of_its_qr(emulator, wallet, caplog):
    png = await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await emulator.send_photo("bob", png)
    asked = await emulator.wait_for_message("bob")
    assert asked.text == f"💳 Pay {SHOP}: how much? Send the amount, e.g. 12.50"
    await emulator.send_text("bob", "12.5")
    card = await emulator.wait_for_message("bob")
    assert card.text == f"🏪 Pay ¥12.50 to {SHOP}?"
    keypad = await tap_and_wait(emulator, "bob", card, "Confirm")  # tap 1
    assert "Enter your payment PIN" in keypad.text
    assert await available(wallet, BOB) == 50_00  # nothing moves before the PIN
    done = await enter_pin(emulator, "bob", card)
    paid, listed = done.text.splitlines()
    assert paid == f"✅ Paid ¥12.50 to {SHOP}. Payment #1."
    number = re.fullmatch(r"Shown in /history as #(\d+)\.", listed).group(1)
    assert await available(wallet, BOB) == 37_50
    assert await shop_account(wallet) == 12_50
    told = await emulator.wait_for_message("wangfang", since=0, text="收到")
    assert told.text == "💰 收到 Bob 付款 ¥12.50（付款编号 #1）。店铺余额：¥12.50"
    assert await available(wallet, WANGFANG) == 0  # the shop's money is not her wallet's
    await emulator.send_text("bob", "/history")  # the receipt's number is the one listed
    history = await emulator.wait_for_message("bob", text="#")
    line = next(line for line in history.text.splitlines() if line.endswith(f"#{number}"))
    assert SHOP in line and "¥12.50" in line
    await emulator.send_text("bob", f"/dispute {number} charged twice")  # and disputable
    opened = await emulator.wait_for_message("bob", text="dispute")
    assert f"transaction #{number} is open" in opened.text
    assert errors_logged(caplog) == []


async def test_a_frozen_wallet_is_told_before_it_is_asked_how_much(emulator, wallet):
    await make_shop(emulator, wallet)
    merchant = await wallet.merchants.mine(WANGFANG)
    await fund(wallet, BOB, 5_00)
    await wallet.ledger.freeze((await wallet.users.get(BOB)).account_id)
    await emulator.send_text("bob", f"/start pay_{merchant.token}")
    told = await emulator.wait_for_message("bob")
    assert told.text.startswith("This wallet is frozen"), told.text
    assert not told.data.get("asked_markup")  # no "how much?" to answer
    await emulator.send_text("bob", "3")  # a number now is no payment's amount
    assert "Pay" not in (await emulator.wait_for_message("bob")).text


async def test_opening_your_own_shop_code_or_a_bad_amount_is_refused(emulator, wallet):
    png = await make_shop(emulator, wallet)
    await emulator.send_photo("wangfang", png)
    mine = await emulator.wait_for_message("wangfang")
    assert mine.text == "这是你自己店铺的收款码，不能付款给自己。"
    await fund(wallet, BOB, 5_00)
    await emulator.send_photo("bob", png)
    await emulator.wait_for_message("bob")
    for bad in ("1e5", "-3", "0", "1.234", "lots"):
        await emulator.send_text("bob", bad)
        again = await emulator.wait_for_message("bob")
        assert again.text.endswith("Send the amount again, e.g. 12.50 (or any command to stop).")
    await emulator.send_text("bob", "9")  # more than Bob has: the card says so, no button
    short = await emulator.wait_for_message("bob")
    assert "¥5.00" in short.text and not short.buttons()
    assert await shop_account(wallet) == 0


@pytest.mark.both_back_ends
async def test_a_charge_is_paid_once_when_two_payers_tap_at_once(emulator, wallet, caplog):
    await make_shop(emulator, wallet)
    for who in (BOB, XIAOMING):
        await fund(wallet, who, 50_00)
        await wallet.store.identity.set_password_free(who, 50_00, 200_00)
    await emulator.send_text("wangfang", "/charge 30")
    made = await emulator.wait_for_message("wangfang")
    assert made.message.photo and made.text.startswith(f"🧾 {SHOP}：付款 ¥30.00")
    payload = CHARGE_LINK.search(made.text).group(1)
    cards = {}
    for who in ("bob", "xiaoming"):
        await emulator.send_text(who, f"/start {payload}")
        cards[who] = await emulator.wait_for_message(who)
    assert cards["bob"].text == f"🏪 Pay ¥30.00 to {SHOP}?"
    mark = emulator.mark()
    await asyncio.gather(
        emulator.tap("bob", cards["bob"], "Confirm"),
        emulator.tap("xiaoming", cards["xiaoming"], "确认"),
    )
    done = [await edited(emulator, card, mark) for card in cards.values()]
    texts = sorted(d.text.splitlines()[0] for d in done)
    assert texts in (
        [f"✅ Paid ¥30.00 to {SHOP}. Payment #1.", "这个收款码已经付过了，没有扣款。"],
        [
            "This code has already been paid. No money was sent.",
            f"✅ 已付款 ¥30.00 给 {SHOP}。付款编号 #1。",
        ],
    )
    assert sorted([await available(wallet, BOB), await available(wallet, XIAOMING)]) == [
        20_00,
        50_00,
    ]
    assert await shop_account(wallet) == 30_00
    await emulator.send_text("bob", f"/start {payload}")  # opened again: paid already
    again = await emulator.wait_for_message("bob")
    assert again.text == "This code has already been paid. No money was sent."
    assert errors_logged(caplog) == []


@pytest.mark.both_back_ends
async def test_a_pay_code_is_collected_once_password_free_or_confirmed_with_the_pin(
    emulator, wallet, caplog
):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "bob")
    await wallet.store.identity.set_password_free(BOB, 20_00, 100_00)
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob")
    assert shown.message.photo and shown.text.startswith("💳 Your pay code: ")
    code = PAY_CODE.search(shown.text).group(1)

    await emulator.send_text("wangfang", f"/collect {code} 8")  # under Bob's limit
    collected = await emulator.wait_for_message("wangfang")
    assert collected.text == "✅ 已向 Bob 收款 ¥8.00。付款编号 #1。"
    receipt = await emulator.wait_for_message("bob", since=0, text="Paid ¥8.00")
    assert receipt.text.splitlines()[0] == f"✅ Paid ¥8.00 to {SHOP}. Payment #1."
    await emulator.send_text("wangfang", f"/collect {code} 8")
    used = await emulator.wait_for_message("wangfang")
    assert used.text.startswith("付款码已被使用，请顾客刷新。")

    mark = emulator.mark()
    await emulator.tap("bob", shown, "Refresh")
    fresh = await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == BOB and "pay code" in (e.text or ""),
        since=mark,
    )
    code = PAY_CODE.search(fresh.text).group(1)
    await emulator.send_text("wangfang", f"/collect {code} 30")  # above it: Bob confirms
    waiting = await emulator.wait_for_message("wangfang")
    assert waiting.text == "⏳ 已请 Bob 用支付密码确认 ¥30.00，付款后会通知你。"
    card = await emulator.wait_for_message("bob", since=0, text="🏪 Pay ¥30.00")
    await tap_and_wait(emulator, "bob", card, "Confirm")
    done = await enter_pin(emulator, "bob", card)
    assert done.text.splitlines()[0] == f"✅ Paid ¥30.00 to {SHOP}. Payment #2."
    assert await available(wallet, BOB) == 12_00
    assert await shop_account(wallet) == 38_00
    assert errors_logged(caplog) == []


async def collect_by_pay_code(emulator, amount: str):
    """Bob shows a pay code, 王芳 collects ``amount`` with it: her "waiting" answer, and
    the card Bob confirms on (above his password-free limit)."""
    mark = emulator.mark()
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob", since=mark, text="pay code")
    code = PAY_CODE.search(shown.text).group(1)
    await emulator.send_text("wangfang", f"/collect {code} {amount}")
    waiting = await emulator.wait_for_message("wangfang", since=mark)
    return waiting, await emulator.wait_for_message("bob", since=mark, text="🏪 Pay")


async def test_a_shop_collecting_by_pay_code_hears_when_the_customer_does_not_pay(
    emulator, wallet, caplog
):
    """The shop was told it would hear when the customer paid: it hears as well when they
    cancel the card, close its keypad (✖ or /cancel), or their payment is refused."""
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "bob")

    async def card_for(amount: str):
        waiting, card = await collect_by_pay_code(emulator, amount)
        assert waiting.text.startswith("⏳ 已请 Bob 用支付密码确认")
        return card

    async def shop_hears(mark: int) -> str:
        heard = (await emulator.wait_for_message("wangfang", since=mark)).text
        await asyncio.sleep(0.3)  # and once only
        told = [e for e in emulator.bot_events("message") if e.seq > mark]
        assert [e.text for e in told if e.chat_id == WANGFANG] == [heard]
        return heard

    card = await card_for("30")  # Cancel on the card
    mark = emulator.mark()
    cancelled = await tap_and_wait(emulator, "bob", card, "Cancel")
    assert cancelled.text == "Cancelled. No money was sent."
    assert await shop_hears(mark) == "✖ Bob 取消了 ¥30.00 的付款，未收款。"

    card = await card_for("31")  # ✖ on the keypad: the card's summary stays
    await tap_and_wait(emulator, "bob", card, "Confirm")
    mark = emulator.mark()
    closed = await tap_and_wait(emulator, "bob", card, "✖", since=mark)
    assert closed.text.startswith(f"🏪 Pay ¥31.00 to {SHOP}?")
    assert closed.text.endswith("?\n\nCancelled. No money was sent.") and not closed.buttons()
    assert await shop_hears(mark) == "✖ Bob 取消了 ¥31.00 的付款，未收款。"

    card = await card_for("32")  # /cancel while the keypad is open
    await tap_and_wait(emulator, "bob", card, "Confirm")
    mark = emulator.mark()
    await emulator.send_text("bob", "/cancel")
    assert await shop_hears(mark) == "✖ Bob 取消了 ¥32.00 的付款，未收款。"

    card = await card_for("33")  # refused after the PIN: the wallet was frozen meanwhile
    await tap_and_wait(emulator, "bob", card, "Confirm")
    bob = await wallet.users.get(BOB)
    await wallet.ledger.freeze(bob.account_id)
    mark = emulator.mark()
    refused = await enter_pin(emulator, "bob", card)
    assert "frozen" in refused.text
    assert refused.text.startswith(f"🏪 Pay ¥33.00 to {SHOP}?")  # what was not paid stays
    assert await shop_hears(mark) == "未能向 Bob 收款 ¥33.00：\n原因已私聊告知顾客，请让顾客查看。"
    await wallet.ledger.unfreeze(bob.account_id)

    assert await available(wallet, BOB) == 50_00 and await shop_account(wallet) == 0
    assert errors_logged(caplog) == []


async def test_a_payment_by_the_shops_own_code_cancelled_tells_the_shop_nothing(
    emulator, wallet
):
    """Nobody at the shop waits on a payer who scanned its code: a cancel is theirs alone."""
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "wangfang")
    await emulator.send_text("wangfang", "/charge 12")
    charge = await emulator.wait_for_message("wangfang")
    payload = re.search(r"start=(pay_[A-Za-z0-9_-]+)", charge.text).group(1)
    await emulator.send_text("bob", f"/start {payload}")
    card = await emulator.wait_for_message("bob", text="🏪 Pay")
    mark = emulator.mark()
    await tap_and_wait(emulator, "bob", card, "Cancel")
    await asyncio.sleep(0.3)
    assert [e for e in emulator.bot_events("message") if e.seq > mark] == []


@pytest.mark.both_back_ends
async def test_a_failed_collection_tells_the_shop_no_secret_of_the_customers(
    emulator, wallet, caplog
):
    """The shop hears that a collection failed, and that the balance was short, but not
    the customer's balance nor that their wallet is frozen: the customer hears why."""
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 5_00)
    await start_private(emulator, "bob")
    await wallet.store.identity.set_password_free(BOB, 20_00, 100_00)

    async def show_code() -> str:
        mark = emulator.mark()
        await emulator.send_text("bob", "/paycode")
        shown = await emulator.wait_for_message("bob", since=mark, text="pay code")
        return PAY_CODE.search(shown.text).group(1)

    async def collect(code: str, amount: str):
        mark = emulator.mark()
        await emulator.send_text("wangfang", f"/collect {code} {amount}")
        told = await emulator.wait_for_message("wangfang", since=mark)
        return told.text, (await emulator.wait_for_message("bob", since=mark, text="🏪")).text

    shop, customer = await collect(await show_code(), "8")
    assert shop == (
        "未能向 Bob 收款 ¥8.00：\n顾客余额不足。请让顾客换一种方式付款，或充值后出示新的付款码。"
    )
    assert customer == (
        f"🏪 {SHOP} tried to collect ¥8.00 with your pay code; nothing was paid:\n"
        "Not enough money: you have ¥5.00, this needs ¥8.00."
    )
    code = await show_code()  # shown, then the wallet is frozen
    bob = await wallet.users.get(BOB)
    await wallet.ledger.freeze(bob.account_id)
    shop, customer = await collect(code, "3")
    assert shop == "未能向 Bob 收款 ¥3.00：\n原因已私聊告知顾客，请让顾客查看。"
    assert "frozen" in customer and "frozen" not in shop and "冻结" not in shop
    assert await available(wallet, BOB) == 5_00 and await shop_account(wallet) == 0

    await wallet.ledger.unfreeze(bob.account_id)
    code = await show_code()  # frozen again, and Bob blocks the bot: the shop is not
    await wallet.ledger.freeze(bob.account_id)  # sent to ask him to look in a chat
    emulator.block_bot("bob")  # he cannot read
    mark = emulator.mark()
    await emulator.send_text("wangfang", f"/collect {code} 3")
    untold = await emulator.wait_for_message("wangfang", since=mark)
    assert untold.text == "未能向 Bob 收款 ¥3.00：\n" + (
        "无法私聊告知顾客原因（对方没有打开机器人私聊或已屏蔽），请让顾客查看自己的钱包。"
    )
    await emulator.send_text("bob", "/paycode")  # a frozen wallet gets no new pay code
    refused = await emulator.wait_for_message("bob")
    assert refused.text.startswith("This wallet is frozen") and not refused.message.photo
    assert errors_logged(caplog) == []


@pytest.mark.parametrize(
    ("who", "deadline"),
    [
        ("bob", r"\(until (\d{4}-\d\d-\d\d \d\d:\d\d), Beijing time\)"),
        ("xiaoming", r"（至 (\d{4}-\d\d-\d\d \d\d:\d\d)，北京时间）"),
    ],
)
async def test_the_pay_code_says_until_when_in_beijing_time(emulator, wallet, who, deadline):
    await start_private(emulator, who)
    await emulator.send_text(who, "/paycode")
    shown = await emulator.wait_for_message(who)
    until = re.search(deadline, shown.text)
    assert until, shown.text
    beijing = timezone(timedelta(hours=8))
    when = datetime.strptime(until.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=beijing)
    expected = datetime.now(UTC) + timedelta(seconds=wallet.paycodes.ttl_s)
    assert abs((when - expected).total_seconds()) <= 60


async def test_a_merchant_collects_by_a_photo_of_the_pay_code_and_a_late_code_is_refused(
    emulator, wallet
):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await wallet.store.identity.set_password_free(BOB, 20_00, 100_00)
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob")
    png = emulator.files[shown.message.photo[-1]["file_id"]].content
    await emulator.send_photo("wangfang", png)
    asked = await emulator.wait_for_message("wangfang")
    assert asked.text == f"🧾 已读取付款码。{SHOP} 要收多少钱？请发送金额，例如 12.50"
    await emulator.send_text("wangfang", "5")
    collected = await emulator.wait_for_message("wangfang")
    assert collected.text == "✅ 已向 Bob 收款 ¥5.00。付款编号 #1。"
    await emulator.send_photo("xiaoming", png)  # not a merchant
    told = await emulator.wait_for_message("xiaoming")
    assert told.text == "这是顾客的付款码，只有商家可以用它收款。"
    await emulator.send_photo("wangfang", png)  # used: said before "how much?"
    used = await emulator.wait_for_message("wangfang")
    assert used.text.startswith("付款码已被使用，请顾客刷新。") and "多少钱" not in used.text

    wallet.paycodes.ttl_s = 0  # a code shown longer ago than its validity
    await emulator.send_text("bob", "/paycode")
    late = PAY_CODE.search((await emulator.wait_for_message("bob")).text).group(1)
    await emulator.send_text("wangfang", f"/collect {late} 5")
    refused = await emulator.wait_for_message("wangfang")
    assert refused.text.startswith("付款码已过期，请顾客刷新。")
    await emulator.send_text("wangfang", f"/start pc_{late.replace(' ', '')}")  # as a photo
    refused = await emulator.wait_for_message("wangfang")
    assert refused.text.startswith("付款码已过期，请顾客刷新。") and "多少钱" not in refused.text
    assert await available(wallet, BOB) == 45_00


@pytest.mark.both_back_ends
async def test_a_partial_refund_then_one_beyond_what_is_left_is_refused(emulator, wallet):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "bob")
    merchant = await wallet.merchants.mine(WANGFANG)
    await wallet.merchants.pay("p1", BOB, PayTarget(merchant.id, 20_00), authenticated=True)
    await emulator.send_text("wangfang", "/merchant_refund 1 5")
    assert "/setpin" in (await emulator.wait_for_message("wangfang")).text  # no PIN yet
    await wallet.pins.set_pin(WANGFANG, PIN)
    await emulator.send_text("wangfang", "/merchant_refund 1 5")
    keypad = await emulator.wait_for_message("wangfang")
    assert keypad.text.startswith("↩️ 向顾客退还付款 #1 中的 ¥5.00？")
    assert await shop_account(wallet) == 20_00  # nothing before the PIN
    done = await enter_pin(emulator, "wangfang", keypad)
    assert done.text == "↩️ 已向顾客退还付款 #1 中的 ¥5.00。剩余可退：¥15.00"
    told = await emulator.wait_for_message("bob", since=0, text="refunded")
    assert told.text == f"↩️ {SHOP} refunded ¥5.00 of your payment #1."
    await emulator.send_text("wangfang", "/merchant_refund 1 15.01")  # refused before the PIN
    refused = await emulator.wait_for_message("wangfang")
    assert refused.text.startswith("不能退款 ¥15.01：这笔付款只剩 ¥15.00 可退。")
    assert not refused.buttons()
    assert await available(wallet, BOB) == 35_00
    assert await shop_account(wallet) == 15_00
    await emulator.send_text("wangfang", "/merchant_refund 9 1")
    assert (await emulator.wait_for_message("wangfang")).text.startswith("你的店铺没有编号为 #9")

    await emulator.send_text("wangfang", "/merchant_refund 1")  # all that is left: how much
    keypad = await emulator.wait_for_message("wangfang")
    assert keypad.text.startswith("↩️ 向顾客退还付款 #1 中的 ¥15.00（全部剩余金额）？")
    await emulator.send_text("wangfang", "/settle 10")  # the shop's money to her wallet
    await emulator.wait_for_message("wangfang")
    await emulator.send_text("wangfang", "/merchant_refund 1")  # the shop holds ¥5: said now
    short = await emulator.wait_for_message("wangfang")
    assert short.text.startswith(
        "未退款：店铺余额为 ¥5.00，这笔退款需要从店铺转出 ¥15.00。"
        "（用 /settle 转入你钱包的钱已不属于店铺。）"
    )
    assert not short.buttons()
    assert await shop_account(wallet) == 5_00 and await available(wallet, BOB) == 35_00


async def test_sales_show_today_and_this_month(emulator, wallet):
    await make_shop(emulator, wallet)
    merchant = await wallet.merchants.mine(WANGFANG)
    for who, fen in ((BOB, 12_00), (XIAOMING, 8_50)):
        await fund(wallet, who, 50_00)
        await wallet.merchants.pay(f"s{who}", who, PayTarget(merchant.id, fen), authenticated=True)
    await wallet.merchants.refund(WANGFANG, 1, 2_00, "r1")
    await emulator.send_text("wangfang", "/sales")
    sales = await emulator.wait_for_message("wangfang")
    title, today, month, balance, _, recent, newest, first = sales.text.split("\n")
    assert title == f"📊 {SHOP} 营业额"
    assert today == "今日：2 笔，收款 ¥20.50，退款 ¥2.00，净收入 ¥18.50"
    assert month.endswith("：2 笔，收款 ¥20.50，退款 ¥2.00，净收入 ¥18.50")
    assert balance == "店铺余额：¥18.50"
    assert recent == "最近的付款（编号用于 /merchant_refund 退款）："  # newest first, by number
    assert re.fullmatch(r"#2  \d\d-\d\d \d\d:\d\d  小明  ¥8\.50", newest), newest
    assert re.fullmatch(r"#1  \d\d-\d\d \d\d:\d\d  Bob  ¥12\.00（已退 ¥2\.00）", first), first

    await emulator.send_text("wangfang", "/settle 8.5")  # the shop's money to her wallet
    moved = await emulator.wait_for_message("wangfang")
    assert moved.text == (
        f"✅ 已把 ¥8.50 从 {SHOP} 转入你的钱包。店铺余额：¥10.00。可用 /withdraw 提现。"
    )
    await emulator.send_text("wangfang", "/settle")
    await emulator.wait_for_message("wangfang")
    await emulator.send_text("wangfang", "/settle")  # nothing left to move
    empty = await emulator.wait_for_message("wangfang")
    assert empty.text == "店铺余额为 ¥0.00，暂时没有可转入钱包的钱。"
    assert await available(wallet, WANGFANG) == 18_50
    assert await shop_account(wallet) == 0


@pytest.mark.both_back_ends
async def test_twenty_four_customers_paying_at_once_sum_exactly(emulator, wallet, caplog):
    png = await make_shop(emulator, wallet)
    assert png
    merchant = await wallet.merchants.mine(WANGFANG)
    payers, cards, total = [], [], 0
    for i in range(24):
        person = emulator.add_user(f"P{i}", f"payer{i}", "en", started=True)
        await fund_profile(wallet, Profile(person.id, f"payer{i}", f"P{i}", "en"))
        fen = 1_00 + i * 7
        total += fen
        await emulator.send_text(person.id, f"/start pay_{merchant.token}")
        await emulator.wait_for_message(person.id)
        await emulator.send_text(person.id, f"{fen / 100:.2f}")
        cards.append(await emulator.wait_for_message(person.id))
        assert cards[-1].buttons(), cards[-1].text
        payers.append(person.id)
    mark = emulator.mark()
    taps = (emulator.tap(p, c, "Confirm") for p, c in zip(payers, cards, strict=True))
    await asyncio.gather(*taps)
    for card in cards:
        done = await edited(emulator, card, mark, 15)
        assert done.text.startswith("✅ Paid ¥"), done.text
    assert await shop_account(wallet) == total
    for i, payer in enumerate(payers):
        assert await available(wallet, payer) == 10_00 - (1_00 + i * 7)
    report = await wallet.admin.audit()
    assert report.ok
    assert errors_logged(caplog) == []


async def fund_profile(wallet, profile: Profile) -> None:
    from bot.domain.kinds import TransferKind
    from bot.domain.model import SystemAccount

    user = await wallet.users.seen(profile, private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer(
        f"fund-{profile.telegram_id}", external, user.account_id, 10_00, TransferKind.TOPUP
    )
    await wallet.pins.set_pin(profile.telegram_id, PIN)
    await wallet.store.identity.set_password_free(profile.telegram_id, 5_00, 100_00)


async def test_bad_input_is_answered_clearly(emulator, wallet, monkeypatch):
    await make_shop(emulator, wallet)
    cases = [
        ("bob", "/charge 5", "Only merchants can do this."),
        ("bob", "/sales", "Only merchants can do this."),
        ("bob", "/collect 123456789012345678 5", "Only merchants can do this."),
        ("wangfang", "/charge", "用法：/charge <金额>"),
        ("wangfang", "/charge 10 extra", "用法：/charge <金额>"),  # not a ¥10 code
        ("wangfang", "/collect 123", "用法：/collect"),
        ("wangfang", "/collect 123456789012345678 5", "付款码无效"),
        ("wangfang", "/collect 123456789012345678 1e5", "用法：/collect"),
        ("wangfang", "/merchant_refund", "用法：/merchant_refund"),
        ("wangfang", "/merchant_refund abc", "「abc」不是付款编号"),
        ("alice", "/merchant_add @nobody Shop", "Use: /merchant_add"),
        ("alice", "/merchant_add @wangfang Again", "This person already runs a merchant"),
        ("alice", "/merchant_add @bob Noodles f&b", "A category is one word"),
        ("alice", "/merchant_add", "Use: /merchant_add"),
        ("bob", "/merchant_add @bob Mine", "admin"),
    ]
    for who, text, expected in cases:
        await emulator.send_text(who, text)
        answer = await emulator.wait_for_message(who)
        assert expected in answer.text, (text, answer.text)
    await emulator.send_text("bob", "/charge 5", emulator.group)
    in_group = await emulator.wait_for_message(emulator.group)
    assert in_group.text.startswith("Shop commands work in our private chat only")
    await emulator.send_text("bob", "/start pay_" + "A" * 22)  # no such shop
    assert (await emulator.wait_for_message("bob")).text.startswith("This link is not valid")
    assert await shop_account(wallet) == 0


async def test_a_category_no_other_shop_has_is_pointed_out_to_the_admin(emulator, wallet):
    """A voucher names shops by category: a typo (or the last word of a name taken for
    the category) would keep a shop out of them, so a new category is said, with the
    others."""
    await make_shop(emulator, wallet)  # food
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/merchant_add @bob Noodle House")
    added = (await emulator.wait_for_message("alice")).text.splitlines()
    assert added == [
        "✅ Noodle (house) is a merchant now, run by Bob. Merchant #2.",
        "🆕 No other shop has the category house yet: a voucher for a category takes it only"
        " if its name is the same. The categories so far: food, house.",
    ]
    await start_private(emulator, "xiaoming")
    await emulator.send_text("alice", "/merchant_add @xiaoming 小明超市 FOOD")
    added = await emulator.wait_for_message("alice")  # a category shops have: said once
    assert added.text == "✅ 小明超市 (food) is a merchant now, run by 小明. Merchant #3."
    await emulator.send_text("alice", "/campaign_add Lunch 满30减5 100 7 category=food")
    card = await emulator.wait_for_message("alice", text="New campaign")
    assert "No shop has the category" not in card.text  # food has shops: nothing to warn of
    await emulator.send_text("alice", "/campaign_add Lunch 满30减5 100 7 category=fod")
    card = await emulator.wait_for_message("alice", text="New campaign")
    assert "No shop has the category fod yet" in card.text and "food, house" in card.text


async def test_a_pay_code_in_groups_without_an_amount_is_told_the_amount_is_missing(
    emulator, wallet
):
    await make_shop(emulator, wallet)
    for text in ("/collect 906865 996872 049768", "/collect ９０６８６５９９６８７２０４９７６８"):
        await emulator.send_text("wangfang", text)
        answer = await emulator.wait_for_message("wangfang")
        assert answer.text.startswith("缺少金额"), (text, answer.text)
        assert "用法：/collect" in answer.text and "付款码无效" not in answer.text
    assert await shop_account(wallet) == 0


async def test_photos_that_are_no_payment_code_get_a_clear_answer(emulator, wallet, monkeypatch):
    await wallet.users.seen(PROFILES[BOB])
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(blank, "PNG")
    await emulator.send_photo("bob", blank.getvalue())
    hint = await emulator.wait_for_message("bob")
    assert hint.text.startswith("I could not find a QR code in this photo. Hold the phone steady")
    await emulator.send_photo("bob", qr_png("https://example.com/pay?start=pay_abc"))
    other = await emulator.wait_for_message("bob")
    assert other.text == "This is not a payment code of this wallet."
    await emulator.send_photo("bob", qr_png("https://t.me/wallet_sandbox_bot?start=rp_x"))
    assert (await emulator.wait_for_message("bob")).text == other.text
    monkeypatch.setattr(scan, "MAX_PHOTO_BYTES", 100)
    await emulator.send_photo("bob", qr_png("https://t.me/wallet_sandbox_bot?start=pay_x"))
    big = await emulator.wait_for_message("bob")
    assert big.text.startswith("This photo is too large to read")



async def test_a_photo_of_a_request_or_a_charge_shows_the_card_its_link_would(emulator, wallet):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await emulator.send_text("alice", "/request 10 lunch")
    request_png = emulator.files[
        (await emulator.wait_for_message("alice")).message.photo[-1]["file_id"]
    ].content
    await emulator.send_photo("bob", request_png)
    card = await emulator.wait_for_message("bob")
    assert card.text == "Pay ¥10.00 to Alice?\nMemo: lunch"
    await emulator.send_text("wangfang", "/charge 7.5")
    charge_png = emulator.files[
        (await emulator.wait_for_message("wangfang")).message.photo[-1]["file_id"]
    ].content
    await emulator.send_photo("bob", charge_png)
    card = await emulator.wait_for_message("bob")
    assert card.text == f"🏪 Pay ¥7.50 to {SHOP}?"
    assert [b["text"] for b in card.buttons()] == ["✅ Confirm", "✖ Cancel"]


async def test_a_bad_refund_is_answered_with_its_reason_before_the_pin_is_asked_for(
    emulator, wallet, caplog
):
    await make_shop(emulator, wallet)  # 王芳 has set no PIN yet
    cases = [
        ("/merchant_refund 1 abc", "「abc」不是金额"),
        ("/merchant_refund 1 0", "金额必须大于 ¥0.00"),
        ("/merchant_refund 1 -2", "金额不能是负数"),
        ("/merchant_refund 999", "你的店铺没有编号为 #999 的付款"),
        ("/merchant_refund 999 5", "你的店铺没有编号为 #999 的付款"),
    ]
    for text, expected in cases:
        await emulator.send_text("wangfang", text)
        answer = await emulator.wait_for_message("wangfang")
        assert answer.text.startswith(expected), (text, answer.text)
        assert "用法：/merchant_refund" in answer.text
    assert errors_logged(caplog) == []


async def test_settling_an_empty_shop_says_there_is_nothing_to_move(emulator, wallet, caplog):
    await make_shop(emulator, wallet)
    await emulator.send_text("wangfang", "/settle")
    answer = await emulator.wait_for_message("wangfang")
    assert answer.text == "店铺余额为 ¥0.00，暂时没有可转入钱包的钱。"
    assert await available(wallet, WANGFANG) == 0
    assert errors_logged(caplog) == []


async def test_an_amount_beyond_the_balance_asks_again_and_a_smaller_one_pays(emulator, wallet):
    png = await make_shop(emulator, wallet)
    await fund(wallet, XIAOMING, 5_00)
    await emulator.send_photo("xiaoming", png)
    await emulator.wait_for_message("xiaoming")
    await emulator.send_text("xiaoming", "50")
    short = await emulator.wait_for_message("xiaoming")
    assert short.text == (
        "余额不足：你有 ¥5.00，需要 ¥50.00。\n请重新发送金额，例如 12.50（发送任意命令可取消）。"
    )
    assert not short.buttons()
    await emulator.send_text("xiaoming", "3")
    card = await emulator.wait_for_message("xiaoming")
    assert card.text == f"🏪 付款 ¥3.00 给 {SHOP}？"
    done = await tap_and_wait(emulator, "xiaoming", card, "确认")
    assert "请输入支付密码" in done.text
    assert (await enter_pin(emulator, "xiaoming", card)).text.startswith("✅ 已付款 ¥3.00")
    assert await shop_account(wallet) == 3_00


async def test_paying_a_shop_without_a_pin_offers_to_set_one_and_moves_nothing(
    emulator, wallet, caplog
):
    png = await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00, pin=False)
    await emulator.send_photo("bob", png)
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "12.5")
    card = await emulator.wait_for_message("bob")
    told = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert told.text == card.text + "\n\nYou have no payment PIN yet. Set one with /setpin first."
    assert [b["text"] for b in told.buttons()][-1] == "🔑 Set my PIN"
    assert await available(wallet, BOB) == 50_00 and await shop_account(wallet) == 0
    assert errors_logged(caplog) == []


async def bob_pays_the_shop(emulator, wallet, amount: str = "12.5") -> None:
    png = await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await emulator.send_photo("bob", png)
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", amount)
    card = await emulator.wait_for_message("bob")
    await tap_and_wait(emulator, "bob", card, "Confirm")
    await enter_pin(emulator, "bob", card)


async def test_history_names_the_shop_not_its_owner(emulator, wallet):
    await bob_pays_the_shop(emulator, wallet)
    await emulator.send_text("bob", "/history")
    page = await emulator.wait_for_message("bob")
    assert f"Shop {SHOP}" in page.text and "王芳" not in page.text.replace(SHOP, "")


async def test_an_admin_refund_of_a_shop_payment_names_the_shop_and_its_account(
    emulator, wallet, settings, caplog
):
    await bob_pays_the_shop(emulator, wallet)
    ((transfer_id,),) = rows(
        settings.database_url, "SELECT id FROM transfers WHERE kind = 'merchant_payment'"
    )
    await emulator.send_text("alice", f"/refund {transfer_id} 2.5 cold noodles")
    card = await emulator.wait_for_message("alice", text="Refund of payment")
    assert f"¥2.50 back from {SHOP} to Bob" in card.text
    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert done.text.startswith("✅ Refunded ¥2.50")
    payer = await emulator.wait_for_message("bob", text="was refunded", since=0)
    assert f"payment #{transfer_id} to {SHOP}" in payer.text
    owner = await emulator.wait_for_message("wangfang", text="管理员", since=0)
    assert f"从你的店铺账户（{SHOP}）" in owner.text and "钱包" not in owner.text
    ((payment_id,),) = rows(settings.database_url, "SELECT id FROM merchant_payments")
    assert payment_id != transfer_id  # the shop's own number, as /sales and its refund say
    assert f"将付款 #{payment_id} 中的 ¥2.50" in owner.text
    await wallet.pins.set_pin(WANGFANG, "739201")
    await emulator.send_text("wangfang", f"/merchant_refund {payment_id} 1")  # and it works
    asked = await emulator.wait_for_message("wangfang")
    assert "¥1.00" in asked.text and asked.buttons(), asked.text
    assert await shop_account(wallet) == 10_00 and await available(wallet, BOB) == 40_00
    assert errors_logged(caplog) == []


async def test_a_frozen_shop_owner_is_told_their_shop_is_frozen(emulator, wallet, caplog):
    await bob_pays_the_shop(emulator, wallet)
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob", text="pay code")
    code = PAY_CODE.search(shown.text).group(1).replace(" ", "")
    mark = emulator.mark()
    await emulator.send_text("alice", "/freeze @wangfang")
    done = await emulator.wait_for_message("alice", since=mark)
    assert done.text.splitlines()[1] == (
        f"🏪 The shop {SHOP} cannot collect payments or give refunds while this wallet is frozen."
    ), done.text
    notice = await emulator.wait_for_message("wangfang", text="🔒", since=mark)
    assert notice.text.splitlines()[-1] == f"🏪 钱包冻结期间，店铺 {SHOP} 不能收款或退款。"
    # a customer's pay code opened as a link: said before "how much?", as the commands
    for command in ("/charge 5", "/merchant_refund 1 2", "/settle", f"/start pc_{code}"):
        await emulator.send_text("wangfang", command)
        told = await emulator.wait_for_message("wangfang")
        assert told.text.startswith("你的店铺已被冻结"), (command, told.text)
        assert "用法" not in told.text, (command, told.text)  # nothing was mistyped
        assert not told.buttons()
    assert await shop_account(wallet) == 12_50
    assert errors_logged(caplog) == []


async def test_cancel_ends_the_question_how_much_and_says_so(emulator, wallet, caplog):
    png = await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    await emulator.send_photo("bob", png)
    asked = await emulator.wait_for_message("bob")
    assert "how much?" in asked.text
    await emulator.send_text("bob", "/cancel")
    told = await emulator.wait_for_message("bob")
    assert told.text.startswith("✖ Cancelled what was in progress")
    await emulator.send_text("bob", "12.5")  # no longer the answer: no card to pay
    after = await emulator.wait_for_message("bob")
    assert "Pay ¥12.50" not in after.text
    await emulator.send_text("bob", "/cancel")
    assert (await emulator.wait_for_message("bob")).text.startswith("Nothing is in progress")
    assert await available(wallet, BOB) == 50_00
    assert errors_logged(caplog) == []


async def test_admins_list_the_shops_with_owners_money_and_state_page_by_page(
    emulator, wallet, caplog
):
    async def said(who: str, text: str) -> str:
        mark = emulator.mark()
        await emulator.send_text(who, text)
        return (await emulator.wait_for_message(who, since=mark)).text

    await start_private(emulator, "alice")
    assert await said("alice", "/merchants") == (
        "No shops yet. Add one with /merchant_add @user <shop name> [category]."
    )
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00)
    shop = await wallet.merchants.get(1)
    paid = await wallet.merchants.pay("p1", BOB, PayTarget(shop.id, 12_00), authenticated=True)
    assert paid.payment is not None, paid
    admin = await wallet.users.get(100_002)
    for n in range(2, 23):  # 22 shops: two pages
        owner = await wallet.users.seen(Profile(500_000 + n, None, f"Owner {n}"))
        await wallet.merchants.add(admin.telegram_id, owner, f"Shop {n}", "retail")
    frozen = await wallet.merchants.get(3)
    await wallet.ledger.freeze(frozen.account_id)

    first = await said("alice", "/merchants")
    lines = first.splitlines()
    assert lines[0] == "🏪 Shops: 22 (page 1 of 2)"
    assert lines[1] == f"#1 {SHOP} · food · 王芳 (@wangfang) · ¥12.00"
    assert lines[3] == "#3 Shop 3 · retail · Owner 3 · ¥0.00 · ❄️ frozen"
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "More: /merchants 2"
    second = (await said("alice", "/merchants 2")).splitlines()
    assert second[0] == "🏪 Shops: 22 (page 2 of 2)"
    assert [line.split()[0] for line in second[1:]] == ["#21", "#22"]
    assert (await said("alice", "/merchants 9")).splitlines()[0].endswith("(page 2 of 2)")
    for bad in ("/merchants abc", "/merchants 1 2"):  # (eight commands: the rate limit)
        assert await said("alice", bad) == "Use: /merchants [page], e.g. /merchants 2", bad
    await start_private(emulator, "xiaoming")
    assert await said("xiaoming", "/merchants") == "此命令仅限钱包管理员使用。"
    assert errors_logged(caplog) == []


async def test_a_merchants_menu_has_the_shop_and_its_sales_one_tap_away(emulator, wallet, caplog):
    await make_shop(emulator, wallet)
    mark = emulator.mark()
    await emulator.send_text("wangfang", "/start")
    menu = await emulator.wait_for_message("wangfang", since=mark)
    labels = [b["text"] for b in menu.buttons()]
    assert "🏪 我的店铺" in labels and "📊 营业额" in labels
    mark = emulator.mark()
    await emulator.tap("wangfang", menu, "🏪 我的店铺")
    shown = await emulator.wait_for_message("wangfang", since=mark)
    assert shown.message.photo and shown.text.startswith(f"🏪 {SHOP}")
    assert [b["text"] for b in shown.buttons()] == ["📊 营业额"]
    mark = emulator.mark()
    await emulator.tap("wangfang", shown, "📊 营业额")
    sales = await emulator.wait_for_message("wangfang", since=mark)
    assert sales.text.startswith(f"📊 {SHOP} 营业额\n今日："), sales.text

    await start_private(emulator, "bob")  # someone without a shop: no shop row
    mark = emulator.mark()
    await emulator.send_text("bob", "/menu")
    plain = await emulator.wait_for_message("bob", since=mark)
    assert plain.buttons() and not any("shop" in b["text"] for b in plain.buttons())
    for who, shop_line in (("wangfang", True), ("bob", False)):  # /help: shops' commands
        mark = emulator.mark()
        await emulator.send_text(who, "/help")
        listed = (await emulator.wait_for_message(who, since=mark)).text
        assert ("/merchant_refund" in listed) is shop_line, listed
        assert listed.splitlines()[-1].startswith("/help")
    assert errors_logged(caplog) == []


async def test_a_customer_without_a_pin_asked_by_a_shop_gets_a_button_to_set_one(
    emulator, wallet, caplog
):
    await make_shop(emulator, wallet)
    await fund(wallet, BOB, 50_00, pin=False)
    await start_private(emulator, "bob")
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob", text="pay code")
    code = PAY_CODE.search(shown.text).group(1)
    mark = emulator.mark()
    await emulator.send_text("wangfang", f"/collect {code} 8")
    shop = await emulator.wait_for_message("wangfang", since=mark)
    assert shop.text.startswith("未能向 Bob 收款 ¥8.00：")
    told = await emulator.wait_for_message("bob", since=mark, text="🏪")
    assert told.text.endswith("You have no payment PIN yet. Set one with /setpin first.")
    assert [b["text"] for b in told.buttons()] == ["🔑 Set my PIN"], told.buttons()
    assert await available(wallet, BOB) == 50_00
    assert errors_logged(caplog) == []


async def test_a_charge_written_with_its_unit_apart_is_made_for_that_amount(emulator, wallet):
    await make_shop(emulator, wallet)
    await emulator.send_text("wangfang", "/charge 10 元")
    made = await emulator.wait_for_message("wangfang")
    assert made.message.photo and "¥10.00" in made.text, made.text
