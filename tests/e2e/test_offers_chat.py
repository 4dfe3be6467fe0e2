"""Vouchers, campaigns, coupons and points through the sandbox: an admin issues vouchers
and grants coupons after a confirmation card, residents see them on /balance, /coupons
and /points, redeem points with a button once, and bad input is answered plainly."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from contextlib import closing

import pytest

from bot.app import build_application
from bot.domain.offers import VOUCHER_ESCROW
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.vouchers import VoucherIssueOrder
from bot.security import totp
from bot.security.cipher import field_aad
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.wallet.merchants import PayTarget
from bot.wallet.offers import CAMPAIGN_EVENT, GRANT_EVENT, ISSUE_EVENT
from tests.e2e.test_send import (
    BOB,
    PROFILES,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

ALICE = 100_002  # the admin


@pytest.fixture
def application(settings, wallet):
    """Fast fingers for commands too: each test types a dozen of them in a row."""
    fast = BucketLimit(1_000, 1_000)
    limits = RateLimits(command_user=fast, command_chat=fast, callback_user=fast)
    return build_application(settings, wallet=wallet, rate_limits=limits)


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def issues_logged(wallet) -> int:
    return len([e async for e in wallet.store.security.events() if e.event == ISSUE_EVENT])


async def escrow(wallet) -> int:
    found = await wallet.store.ledger.find_account(VOUCHER_ESCROW, "CNY")
    return found.balance if found else 0


async def test_an_admin_issues_vouchers_once_and_residents_see_them(emulator, wallet, caplog):
    await start_private(emulator, "bob")
    await start_private(emulator, "xiaoming")
    command = await emulator.send_text("alice", "/voucher_issue 50 30 food @bob,@xiaoming")
    card = await emulator.wait_for_message("alice", text="consumption voucher")
    assert "Issue 2 consumption vouchers of ¥50.00 each?" in card.text
    assert "Total from the issuer: ¥100.00" in card.text and "food" in card.text
    assert card.text.splitlines()[-1] == (  # no shop sells food yet: said before Confirm
        "⚠️ No shop has the category food yet: vouchers for it cannot be spent until one has."
        " The shops' categories: none yet."
    )
    assert await escrow(wallet) == 0  # nothing before Confirm
    mark = emulator.mark()
    emulator.push_update("message", command.to_api())  # the same message twice
    second = await emulator.wait_for_message("alice", text="consumption voucher", since=mark)

    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "Issued 2 vouchers of ¥50.00" in done.text and "¥100.00 in all" in done.text
    again = await tap_and_wait(emulator, "alice", second, "Confirm")
    assert "Issued 2 vouchers" in again.text  # the same issue, answered again
    assert await escrow(wallet) == 100_00 and await issues_logged(wallet) == 1
    told = await emulator.wait_for_message("bob", text="You received a consumption voucher")
    assert "of ¥50.00 (food), valid until" in told.text
    told = await emulator.wait_for_message("xiaoming", text="你获得一张 ¥50.00 的消费券")
    assert "（food）" in told.text
    notices = [
        m
        for who in ("bob", "xiaoming")
        for m in emulator.messages(who)
        if "consumption voucher of" in (m.text or "") or "的消费券（" in (m.text or "")
    ]
    assert len(notices) == 2  # once each, although the issue was confirmed twice

    await emulator.send_text("bob", "/balance")
    balance = await emulator.wait_for_message("bob", text="Balance")
    assert balance.text.splitlines()[0] == "余额 Balance: ¥0.00"
    assert "Consumption vouchers: ¥50.00" in balance.text.splitlines()
    await emulator.send_text("xiaoming", "/coupons")
    listed = await emulator.wait_for_message("xiaoming", text="消费券")
    assert "剩余 ¥50.00（面额 ¥50.00）— food" in listed.text
    assert errors(caplog) == []


async def test_a_voucher_card_names_the_categories_no_shop_has(emulator, wallet):
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/voucher_issue 10 7 food,fod @bob")
    card = await emulator.wait_for_message("alice", text="consumption voucher")
    assert card.text.splitlines()[-1] == (
        "⚠️ No shop has the category fod yet: vouchers for it cannot be spent until one has."
        " The shops' categories: food."
    )
    await emulator.send_text("alice", "/voucher_issue 10 7 food @bob")
    card = await emulator.wait_for_message("alice", text="consumption voucher")
    assert "No shop has" not in card.text


async def test_vouchers_to_every_verified_resident_and_cancel_moves_nothing(emulator, wallet):
    await emulator.send_text("alice", "/voucher_issue 20 7 all")
    refused = await emulator.wait_for_message("alice")
    assert "no resident has passed /verify yet" in refused.text
    await emulator.send_text("alice", "/voucher_issue 20 7 all @bob")
    card = await emulator.wait_for_message("alice")
    assert "not know @bob" in card.text  # bob never used the bot
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/voucher_issue 20 7 all @bob")
    card = await emulator.wait_for_message("alice", text="consumption voucher")
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Cancelled. Nothing was issued."
    assert await escrow(wallet) == 0 and await issues_logged(wallet) == 0


async def test_bad_offers_commands_say_what_is_wrong(emulator, wallet, caplog):
    cases = {
        "/voucher_issue": "/voucher_issue <amount>",
        "/voucher_issue 0 7 all": "/voucher_issue <amount>",
        "/voucher_issue 1e5 7 all": "/voucher_issue <amount>",
        "/voucher_issue 50 0 all": "not a number of days from 1 to 366",
        "/voucher_issue 50 7 food;drink": "not a list of merchant categories",
        "/voucher_issue 50 7 all @bo!b": "is not a @username",
        "/campaign_add": "/campaign_add <name>",
        "/campaign_add Sale 15% 100 7": "15% off needs the most it takes off: add cap=20",
        "/campaign_add Sale 150% 100 7 cap=5": "is not a rule",
        "/campaign_add Sale 100-10 500 7 min=5": "100-10 takes no min=",
        "/campaign_add Sale 100-10 5 7": "must cover at least one discount (¥10.00)",
        "/campaign_add Sale 100-10 500 7 colour=red": "“colour=red” is not an option: write cap=",
        "/campaign_add Sale 100-10 500 7 1": "“1” is not an option",
        "/campaign_add Sale 100-10 500 0": "“0” is not a number of days from 1 to",
        "/campaign_add Sale 100-10 500 7 limit=x": "“x” is not a valid limit",
        "/coupon_grant": "/coupon_grant <campaign number>",
        "/coupon_grant 42 all": "There is no campaign #42.",
        "/coupon_grant #42 all": "There is no campaign #42.",  # as its card shows it
        "/coupon_grant Lunch all": "“Lunch” is not a campaign's number",
    }
    for text, expected in cases.items():
        await emulator.send_text("alice", text)
        reply = await emulator.wait_for_message("alice")
        assert expected in reply.text, (text, reply.text)
    await emulator.send_text("alice", "/coupons")  # the admin is a resident too
    assert "no coupons" in (await emulator.wait_for_message("alice")).text
    assert await escrow(wallet) == 0
    assert errors(caplog) == []


async def test_a_campaign_is_created_its_coupons_granted_and_listed(emulator, wallet, caplog):
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/campaign_add Lunch 满30减5 100 7 limit=2 category=food")
    card = await emulator.wait_for_message("alice", text="New campaign")
    assert "spend ¥30.00, get ¥5.00 off, at food merchants only" in card.text
    assert card.text.endswith(  # no shop is in "food" yet: said before it runs
        "\n⚠️ No shop has the category food yet: its coupons cannot be used until one has."
        " The shops' categories: none yet."
    )
    created = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert created.text.startswith("🎁 Campaign #1 is running")

    await emulator.send_text("alice", "/coupon_grant 1 @bob")
    card = await emulator.wait_for_message("alice", text="Give one coupon")
    assert "Give one coupon to 1 person?" in card.text
    granted = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "Gave 1 new coupon of “Lunch”" in granted.text
    told = await emulator.wait_for_message("bob", text="You received a coupon")
    assert "“Lunch”: spend ¥30.00, get ¥5.00 off" in told.text

    await emulator.send_text("bob", "/coupons")
    listed = await emulator.wait_for_message("bob", text="Your coupons")
    assert "“Lunch”: spend ¥30.00, get ¥5.00 off, at food merchants only; until" in listed.text
    logged = [e.event async for e in wallet.store.security.events() if e.actor_id == ALICE]
    assert logged == [CAMPAIGN_EVENT, GRANT_EVENT]
    assert errors(caplog) == []


async def test_a_grant_past_the_per_person_limit_is_refused_in_words(emulator, wallet, caplog):
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/campaign_add Lunch 满30减5 100 7 limit=1")
    created = await tap_and_wait(
        emulator, "alice", await emulator.wait_for_message("alice", text="New campaign"), "Confirm"
    )
    assert created.text.startswith("🎁 Campaign #1 is running")
    await emulator.send_text("alice", "/coupon_grant 1 @bob")
    card = await emulator.wait_for_message("alice", text="Give one coupon")
    assert "Gave 1 new" in (await tap_and_wait(emulator, "alice", card, "Confirm")).text

    await start_private(emulator, "xiaoming")  # Bob is at the limit, 小明 is not
    await emulator.send_text("alice", "/coupon_grant 1 @bob,@xiaoming")
    card = await emulator.wait_for_message("alice", text="Give one coupon")
    mixed = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert mixed.text.startswith("🎟 Gave 1 new coupon of “Lunch” (2 asked")
    assert mixed.text.endswith(
        "\n1 of them got none: they already have as many coupons of this campaign as one "
        "person may use (1)."
    )
    await emulator.send_text("alice", "/coupon_grant 1 @bob")
    card = await emulator.wait_for_message("alice", text="Give one coupon")
    refused = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert refused.text == (
        "Nothing was granted: everyone asked already has as many coupons of campaign #1 as "
        "one person may use (1; Bob among them)."
    )
    await wallet.users.set_language(ALICE, "zh")
    await emulator.send_text("alice", "/coupon_grant 1 @bob")
    card = await emulator.wait_for_message("alice", text="优惠券")
    refused = await tap_and_wait(emulator, "alice", card, "确认")
    assert refused.text == (
        "未发放任何优惠券：名单中的人都已有活动 #1 的 1 张优惠券，已达每人上限（包括 Bob）。"
    )
    for person in (BOB, XIAOMING):
        assert len([c for c in await wallet.offers.coupons(person) if c.campaign.id == 1]) == 1
    logged = [e.event async for e in wallet.store.security.events() if e.actor_id == ALICE]
    assert logged.count(GRANT_EVENT) == 2
    assert errors(caplog) == []


async def test_an_admin_with_2fa_enters_a_code_before_vouchers_are_issued(emulator, wallet):
    await start_private(emulator, "bob")
    await wallet.users.seen(PROFILES[ALICE], private_chat=True)
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    await emulator.send_text("alice", "/voucher_issue 5 3 all @bob")
    card = await emulator.wait_for_message("alice", text="consumption voucher")
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert keypad.text.startswith("Enter the 6-digit code")
    assert await escrow(wallet) == 0
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", card, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "Issued 1 voucher of" in (e.text or ""), since=mark
    )
    assert "¥5.00" in done.text and await escrow(wallet) == 5_00


async def test_points_accrue_from_a_merchant_payment_and_redeem_once(emulator, wallet, caplog):
    await fund(wallet, XIAOMING, 300_00)
    owner = await wallet.users.seen(PROFILES[BOB], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    offered, _ = await wallet.offers.create_campaign(
        ALICE,
        "c1",
        CampaignOrder("Tea", CouponRule.PERCENT_OFF, 0, 0, 10, 3_00, 50_00, 30, 1, None, None, 100),
    )
    paid = await wallet.merchants.pay(
        "p1", XIAOMING, PayTarget(merchant.id, 150_00), authenticated=True
    )
    assert paid.payment is not None, paid
    await start_private(emulator, "xiaoming")
    await emulator.send_text("xiaoming", "/points")
    shown = await emulator.wait_for_message("xiaoming", text="积分")
    assert "⭐ 积分：150" in shown.text and "等级：普通（近 12 个月 150 积分）" in shown.text
    assert "再得 850 积分升级为银卡" in shown.text and "100 积分：「Tea」" in shown.text
    (button,) = shown.buttons()
    mark = emulator.mark()
    redeemed = await emulator.tap("xiaoming", shown, "兑换 Tea（100）")
    await emulator.wait_for_answer(redeemed)
    await emulator.wait_for_message("xiaoming", text="已用 100 积分兑换")
    used = await emulator.wait_for_edit(shown, since=mark)
    assert used.buttons() == []  # the button is used up: it goes
    mark = emulator.mark()
    shown.message.reply_markup = {"inline_keyboard": [[button]]}  # a stale copy of it
    second = await emulator.tap("xiaoming", shown, data=button["callback_data"])
    answer = await emulator.wait_for_answer(second, since=mark)
    assert answer.data["show_alert"]  # the same button: once
    assert (await wallet.offers.points(XIAOMING)).balance == 50
    assert [h.campaign.id for h in await wallet.offers.coupons(XIAOMING)] == [offered.id]
    assert errors(caplog) == []


async def test_a_redeem_button_refused_for_too_few_points_works_once_they_are_earned(
    emulator, wallet, caplog
):
    await fund(wallet, XIAOMING, 300_00)
    owner = await wallet.users.seen(PROFILES[BOB], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await wallet.offers.create_campaign(
        ALICE,
        "c1",
        CampaignOrder("Tea", CouponRule.PERCENT_OFF, 0, 0, 10, 3_00, 50_00, 30, 1, None, None, 100),
    )
    await start_private(emulator, "xiaoming")
    await emulator.send_text("xiaoming", "/points")
    shown = await emulator.wait_for_message("xiaoming", text="积分")
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("xiaoming", shown, "兑换 Tea（100）"), since=mark
    )
    assert answer.data["show_alert"] and "你有 0 积分" in answer.text, answer.text
    assert await wallet.offers.coupons(XIAOMING) == []

    paid = await wallet.merchants.pay(  # 150 points earned
        "p1", XIAOMING, PayTarget(merchant.id, 150_00), authenticated=True
    )
    assert paid.payment is not None, paid
    mark = emulator.mark()
    await emulator.tap("xiaoming", shown, "兑换 Tea（100）")  # the same button, later
    await emulator.wait_for_message("xiaoming", text="已用 100 积分兑换", since=mark)
    assert (await wallet.offers.points(XIAOMING)).balance == 50
    assert len(await wallet.offers.coupons(XIAOMING)) == 1
    assert errors(caplog) == []


async def test_a_merchant_payment_applies_the_coupon_and_the_voucher_on_its_card(
    emulator, wallet, caplog
):
    """Bob pays a noodle shop ¥30 by its code: the card shows the coupon and the voucher,
    his balance pays the rest; a voucher cannot leave his wallet by a transfer."""
    await fund(wallet, BOB, 50_00)
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await wallet.offers.issue(ALICE, "v1", VoucherIssueOrder(10_00, 30, frozenset(), None), [BOB])
    lunch, _ = await wallet.offers.create_campaign(
        ALICE, "c1", CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 7)
    )
    await wallet.offers.grant(ALICE, "g1", lunch.id, [BOB])
    await start_private(emulator, "bob")
    await emulator.send_text("bob", f"/start pay_{merchant.token}")
    await emulator.wait_for_message("bob", text="how much")
    await emulator.send_text("bob", "30")
    card = await emulator.wait_for_message("bob", text="Pay ¥30.00 to Noodles")
    assert "Coupon −¥5.00" in card.text and "Vouchers −¥10.00" in card.text
    assert "From your balance: ¥15.00" in card.text
    await tap_and_wait(emulator, "bob", card, "Confirm")
    done = await enter_pin(emulator, "bob", card)
    assert done.text.startswith("✅ Paid ¥30.00 to Noodles"), done.text
    number = done.text.splitlines()[-1].removeprefix("Shown in /history as #").rstrip(".")
    await emulator.send_text("bob", "/history")  # the balance's part, by that number
    listed = await emulator.wait_for_message("bob", text="Noodles")
    lines = listed.text.splitlines()
    assert any(line.endswith(f"#{number}") and "¥15.00" in line for line in lines)
    # and the voucher's part, as a voucher: none of his money moved by it
    voucher_line = f"🎫 voucher ¥10.00  #{int(number) + 1}"
    assert any(line.endswith(voucher_line) for line in lines), lines
    bob = await wallet.users.get(BOB)
    assert (await wallet.ledger.balance(bob.account_id)).available == 35_00
    assert await wallet.offers.voucher_total(BOB) == 0 and await escrow(wallet) == 0
    assert (await wallet.offers.points(BOB)).balance == 15
    await emulator.send_text("bob", "/points")
    assert "Points: 15" in (await emulator.wait_for_message("bob", text="Points")).text

    await wallet.merchants.refund(XIAOMING, 1, 5_00, "r1")  # part of it, then the rest
    await emulator.send_text("xiaoming", "/sales")
    sales = await emulator.wait_for_message("xiaoming", text="营业额")
    assert "收款 ¥30.00，退款 ¥5.00，净收入 ¥25.00" in sales.text
    assert sales.text.endswith("Bob  ¥30.00（已退 ¥5.00）")
    await wallet.merchants.refund(XIAOMING, 1, None, "r2")
    await emulator.send_text("xiaoming", "/sales")
    sales = await emulator.wait_for_message("xiaoming", text="营业额")
    # all of it back, the coupon's ¥5.00 to the promotion too: the line says what the day does
    assert "收款 ¥30.00，退款 ¥30.00，净收入 ¥0.00" in sales.text
    assert sales.text.endswith("Bob  ¥30.00（已退 ¥30.00）")
    assert errors(caplog) == []


async def shop_refunds_all_of_payment_1(emulator, wallet):
    """小明, Noodles' owner, refunds all that is left of its payment #1 with his PIN;
    what Bob, its payer, is told."""
    await wallet.pins.set_pin(XIAOMING, "739201")
    await start_private(emulator, "xiaoming")
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/merchant_refund 1")
    keypad = await emulator.wait_for_message("xiaoming", text="↩️", since=mark)
    await enter_pin(emulator, "xiaoming", keypad)
    return await emulator.wait_for_message("bob", text="refunded", since=mark)


async def test_a_payment_by_vouchers_alone_is_in_history_as_a_voucher_line(
    emulator, wallet, caplog
):
    """Vouchers move the escrow's money, not the payer's: the receipt names the voucher's
    line of /history, which says "voucher" and moves nothing of his balance, and opens
    in full by that number."""
    await fund(wallet, BOB, 1_00)
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await wallet.offers.issue(ALICE, "v1", VoucherIssueOrder(10_00, 30, frozenset(), None), [BOB])
    await start_private(emulator, "bob")
    await emulator.send_text("bob", f"/start pay_{merchant.token}")
    await emulator.wait_for_message("bob", text="how much")
    await emulator.send_text("bob", "8")
    card = await emulator.wait_for_message("bob", text="Pay ¥8.00 to Noodles")
    await tap_and_wait(emulator, "bob", card, "Confirm")
    done = await enter_pin(emulator, "bob", card)
    assert done.text.splitlines()[0] == "✅ Paid ¥8.00 to Noodles. Payment #1."
    number = done.text.splitlines()[-1].removeprefix("Shown in /history as #").rstrip(".")
    assert number.isdigit(), done.text
    mark = emulator.mark()
    await emulator.send_text("bob", "/history")
    listed = await emulator.wait_for_message("bob", text="Noodles", since=mark)
    (line,) = [x for x in listed.text.splitlines() if x.endswith(f"#{number}")]
    assert "Shop payment · Shop Noodles  🎫 voucher ¥8.00" in line, line
    mark = emulator.mark()
    await emulator.send_text("bob", f"/history {number}")
    detail = await emulator.wait_for_message("bob", text=f"#{number}", since=mark)
    assert "🎫 voucher ¥8.00" in detail.text and "Consumption vouchers" in detail.text
    assert await wallet.offers.voucher_total(BOB) == 2_00
    bob = await wallet.users.get(BOB)
    assert (await wallet.ledger.balance(bob.account_id)).available == 1_00

    # the shop gives it back: Bob is told where it went, and /history has it
    told = await shop_refunds_all_of_payment_1(emulator, wallet)
    assert told.text.splitlines() == [
        "↩️ Noodles refunded ¥8.00 of your payment #1.",
        "The ¥8.00 went back to the vouchers it came from (see /coupons).",
    ]
    assert await wallet.offers.voucher_total(BOB) == 10_00
    mark = emulator.mark()
    await emulator.send_text("bob", "/history")
    listed = await emulator.wait_for_message("bob", text="Noodles", since=mark)
    assert "🎫 back to voucher ¥8.00" in listed.text.splitlines()[1], listed.text
    assert errors(caplog) == []


async def test_a_refund_of_a_voucher_expired_since_tells_the_payer_it_went_to_the_issuer(
    emulator, wallet, settings, caplog
):
    await fund(wallet, BOB, 10_00)
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await wallet.offers.issue(ALICE, "v1", VoucherIssueOrder(10_00, 30, frozenset(), None), [BOB])
    paid = await wallet.merchants.pay(
        "p1", BOB, PayTarget(merchant.id, 15_00), authenticated=True
    )
    assert (paid.plan.voucher_fen, paid.plan.own_fen) == (10_00, 5_00), paid
    path = settings.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn, conn:  # the voucher expires meanwhile
        conn.execute("UPDATE voucher_issues SET expires_at = 1")
        conn.execute("UPDATE vouchers SET expires_at = 1")
    assert await wallet.offers.expire_due()
    await start_private(emulator, "bob")
    told = await shop_refunds_all_of_payment_1(emulator, wallet)
    assert told.text.splitlines() == [
        "↩️ Noodles refunded ¥15.00 of your payment #1.",
        "Back to your balance: ¥5.00.",
        "¥10.00 of it was paid with vouchers that have expired since: it went back to their"
        " issuer, not to you.",
    ]
    assert await wallet.offers.voucher_total(BOB) == 0
    assert await available(wallet, BOB) == 10_00
    assert errors(caplog) == []


async def test_a_voucher_does_not_pay_a_transfer(emulator, wallet):
    await fund(wallet, BOB, 1_00)
    await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    order = VoucherIssueOrder(10_00, 30, frozenset(), None)
    issue = await wallet.offers.issue(ALICE, "v1", order, [BOB])
    for _ in range(250):  # Bob never opened the chat: his notice is closed, blocked
        if (await wallet.notices.get(f"voucher:{issue.id}:{BOB}")).state.final:
            break
        await asyncio.sleep(0.02)
    await start_private(emulator, "bob")  # the voucher's notice comes now, after the welcome
    await emulator.wait_for_message("bob", text="consumption voucher of ¥10.00 (all local")
    mark = emulator.mark()
    await emulator.send_text("bob", "/send @xiaoming 5")
    refused = await emulator.wait_for_message("bob", since=mark)
    assert "¥1.00" in refused.text and not refused.buttons(), refused.text  # vouchers excluded
    assert await wallet.offers.voucher_total(BOB) == 10_00 and await escrow(wallet) == 10_00


async def test_a_new_member_pays_from_a_photo_of_the_qr_and_sees_the_coupon_saving(
    emulator, wallet, caplog
):
    """Issue 14's walk: a member new to the wallet photographs a shop's QR code, types
    the amount, and the card shows the coupon taken off; Confirm, the PIN, done: four
    steps (the PIN's six digits are one step, as in any wallet app)."""
    pytest.importorskip("zxingcpp")
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await emulator.send_text("xiaoming", "/shop")  # the shop's code, as its owner prints it
    shown = await emulator.wait_for_message("xiaoming", text="🏪")
    png = emulator.files[shown.message.photo[-1]["file_id"]].content
    await fund(wallet, BOB, 40_00)  # Bob has just joined: a top-up, a PIN, nothing else
    lunch, _ = await wallet.offers.create_campaign(
        ALICE, "c1", CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 7)
    )
    await wallet.offers.grant(ALICE, "g1", lunch.id, [BOB])
    steps = 0

    await emulator.send_photo("bob", png)
    steps += 1
    await emulator.wait_for_message("bob", text="how much")
    await emulator.send_text("bob", "25")
    steps += 1
    card = await emulator.wait_for_message("bob", text="Pay ¥25.00 to Noodles")
    assert "Coupon −¥5.00" in card.text and "From your balance: ¥20.00" in card.text
    await tap_and_wait(emulator, "bob", card, "Confirm")
    steps += 1
    done = await enter_pin(emulator, "bob", card)
    steps += 1
    assert done.text.startswith("✅ Paid ¥25.00 to Noodles"), done.text
    print(f"a new member pays a shop's QR photo with a coupon in {steps} steps")
    assert steps < 5
    bob = await wallet.users.get(BOB)
    assert (await wallet.ledger.balance(bob.account_id)).available == 20_00
    assert errors(caplog) == []
