"""The offers wired into the merchant payment (``bot.app.open_wallet``): the planner's
coupon and vouchers are paid as legs of the payment, a refund gives own money back
first and the voucher last, and the points follow."""

from __future__ import annotations

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import CouponBudgetExhausted, VoucherUnavailable
from bot.domain.merchant_errors import PayCodeInvalid, PayCodeUsed, PayingYourself
from bot.domain.merchants import MerchantPaymentOrder, PaidVia
from bot.domain.model import SystemAccount
from bot.domain.offers import VOUCHER_ESCROW, VOUCHER_ISSUER
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.wallet.audit import audit_ledger
from bot.wallet.merchants import PayStatus, PayTarget
from tests.integration.raw import execute

ADMIN, PAYER, OWNER = 100, 1, 2


@pytest.fixture
async def wallet(tmp_path, database_url):
    settings = Settings(
        database_url=database_url,
        admin_ids=frozenset({ADMIN}),
        data_dir=tmp_path,
    )
    opened = await open_wallet(settings)
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
    await opened.close()
    assert report.ok, report.problems


async def balance(wallet, telegram_id: int) -> int:
    user = await wallet.users.get(telegram_id)
    return (await wallet.ledger.balance(user.account_id)).available


async def shop(wallet):
    """A payer with ¥100, a noodle shop (category food), a voucher and a coupon."""
    payer = await wallet.users.seen(Profile(PAYER, "payer", "Payer"), private_chat=True)
    owner = await wallet.users.seen(Profile(OWNER, "owner", "Owner"), private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("fund", external, payer.account_id, 100_00, "topup")
    merchant = await wallet.merchants.add(ADMIN, owner, "Noodles", "food")
    order = VoucherIssueOrder(10_00, 30, frozenset({"food"}), None)
    await wallet.offers.issue(ADMIN, "issue-1", order, [PAYER])
    campaign, _ = await wallet.offers.create_campaign(
        ADMIN,
        "campaign-1",
        CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 30),
    )
    await wallet.offers.grant(ADMIN, "grant-1", campaign.id, [PAYER])
    return merchant


async def test_a_payment_uses_the_best_coupon_and_the_voucher_and_earns_points(wallet):
    merchant = await shop(wallet)
    target = PayTarget(merchant.id, 30_00)
    paid = await wallet.merchants.pay("pay-1", PAYER, target, authenticated=True)
    assert paid.status is PayStatus.PAID, paid
    plan = paid.plan
    assert (plan.discount_fen, plan.voucher_fen, plan.own_fen) == (5_00, 10_00, 15_00)
    assert await balance(wallet, PAYER) == 85_00
    merchant_account = await wallet.ledger.account(merchant.account_id)
    assert merchant_account.balance == 30_00
    assert (await wallet.offers.points(PAYER)).balance == 15
    assert await wallet.offers.coupons(PAYER) == [] and await wallet.offers.vouchers(PAYER) == []

    await wallet.merchants.refund(OWNER, paid.payment.id, 20_00, "refund-1")
    assert await balance(wallet, PAYER) == 100_00  # own money first
    assert await wallet.offers.voucher_total(PAYER) == 5_00  # then the voucher
    assert (await wallet.offers.points(PAYER)).balance == 0


async def test_a_voucher_spent_between_the_card_and_the_payment_refuses_it(wallet):
    merchant = await shop(wallet)
    quoted = await wallet.offers.plan(PAYER, merchant.id, "food", 30_00)  # the card's plan
    assert quoted.voucher_fen == 10_00
    first = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(merchant.id, 8_00), authenticated=True
    )
    assert first.status is PayStatus.PAID and first.plan.voucher_fen == 8_00
    stale = MerchantPaymentOrder("pay-2", PAYER, merchant.id, quoted, PaidVia.QR)
    with pytest.raises(VoucherUnavailable):
        await wallet.store.merchants.pay_merchant(stale)
    assert await balance(wallet, PAYER) == 100_00  # nothing moved
    escrow = await wallet.store.ledger.find_account(VOUCHER_ESCROW, "CNY")
    assert escrow.balance == 2_00 == await wallet.offers.voucher_total(PAYER)
    assert len(await wallet.offers.coupons(PAYER)) == 1  # the coupon was not taken


async def test_a_coupon_whose_budget_ran_out_refuses_the_payment(wallet, database_url):
    merchant = await shop(wallet)
    quoted = await wallet.offers.plan(PAYER, merchant.id, "food", 30_00)
    await execute(database_url, "UPDATE campaigns SET spent_fen = budget_fen - 1")
    stale = MerchantPaymentOrder("pay-2", PAYER, merchant.id, quoted, PaidVia.QR)
    with pytest.raises(CouponBudgetExhausted):
        await wallet.store.merchants.pay_merchant(stale)
    assert await balance(wallet, PAYER) == 100_00
    assert await wallet.offers.voucher_total(PAYER) == 10_00
    replanned = await wallet.offers.plan(PAYER, merchant.id, "food", 30_00)
    assert replanned.coupon_id is None and replanned.own_fen == 20_00


async def test_a_full_refund_gives_the_coupon_back_and_a_partial_one_does_not(wallet):
    """All of a payment given back: its coupon is the payer's again, unused, and the
    campaign's budget has its discount back; the coupon then pays a new payment. A
    refund of part of it keeps the coupon spent."""
    merchant = await shop(wallet)
    (before,) = await wallet.offers.coupons(PAYER)
    campaign_id = before.campaign.id
    paid = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(merchant.id, 30_00), authenticated=True
    )
    assert (paid.plan.coupon_id, paid.plan.discount_fen) == (before.coupon.id, 5_00)
    await wallet.merchants.refund(OWNER, paid.payment.id, 10_00, "refund-part")
    assert await wallet.offers.coupons(PAYER) == []  # part of it only: still spent
    done = await wallet.merchants.refund(OWNER, paid.payment.id, None, "refund-rest")
    assert done.left == 0 and done.discount_back == 5_00
    held = await wallet.offers.coupons(PAYER)
    assert [h.coupon.id for h in held] == [paid.plan.coupon_id]
    assert held[0].used_by_holder == 0  # no longer counted toward the per-person limit
    assert (await wallet.store.offers.get_campaign(campaign_id)).spent_fen == 0
    replay = await wallet.merchants.refund(OWNER, paid.payment.id, None, "refund-rest")
    assert replay.replayed and replay.amount == done.amount  # the first answer, nothing more
    assert (await wallet.store.offers.get_campaign(campaign_id)).spent_fen == 0
    assert len(await wallet.offers.coupons(PAYER)) == 1
    again = await wallet.merchants.pay(
        "pay-2", PAYER, PayTarget(merchant.id, 30_00), authenticated=True
    )
    assert again.status is PayStatus.PAID
    assert (again.plan.coupon_id, again.plan.discount_fen) == (paid.plan.coupon_id, 5_00)
    assert await wallet.offers.coupons(PAYER) == []
    assert (await wallet.store.offers.get_campaign(campaign_id)).spent_fen == 5_00


async def test_a_payment_with_vouchers_shows_their_part_in_the_payers_history(wallet):
    """A payment that vouchers paid alone is in the payer's /history (a "voucher" line,
    the shop as the other side, no money of theirs moved), by the number its receipt
    gives, in full and for a dispute; a payment of vouchers and own money shows both
    lines. Nobody else sees those lines."""
    from bot.domain.errors import TransferNotFound
    from bot.domain.history import EntryState

    merchant = await shop(wallet)
    payer = await wallet.users.get(PAYER)
    alone = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(merchant.id, 8_00), authenticated=True
    )
    assert (alone.plan.voucher_fen, alone.plan.own_fen) == (8_00, 0)
    ((_, leg),) = alone.payment.payer_legs()
    page = await wallet.history.page(payer.account_id)
    line = page.lines[0]
    assert (line.transfer_id, line.state, line.amount) == (leg, EntryState.VOUCHER, 8_00)
    assert line.counterparty.shop == "Noodles"
    detail = await wallet.history.detail(payer.account_id, f"#{leg}")
    assert detail.credit.shop == "Noodles" and detail.line.state is EntryState.VOUCHER
    owner = await wallet.users.get(OWNER)
    with pytest.raises(TransferNotFound):
        await wallet.history.detail(owner.account_id, leg)  # the owner's own wallet: not theirs
    assert leg not in [x.transfer_id for x in (await wallet.history.page(owner.account_id)).lines]
    ticket = await wallet.support.dispute(payer, str(leg), "the noodles never came")
    assert ticket.transfer_id == leg
    assert [(a.transfer_id, a.amount) for a in ticket.attached] == [(leg, -8_00)]  # paid out

    mixed = await wallet.merchants.pay(
        "pay-2", PAYER, PayTarget(merchant.id, 30_00), authenticated=True
    )
    plan = mixed.plan
    assert (plan.discount_fen, plan.voucher_fen, plan.own_fen) == (5_00, 2_00, 23_00)
    own_leg, voucher_leg = (tid for _, tid in mixed.payment.payer_legs())
    newest = (await wallet.history.page(payer.account_id)).lines[:2]
    assert [(x.transfer_id, x.state, x.amount) for x in newest] == [
        (voucher_leg, EntryState.VOUCHER, 2_00),
        (own_leg, EntryState.MOVED, -23_00),
    ]
    # paging back from the newest line reaches the older voucher line once
    older = await wallet.history.page(payer.account_id, before=voucher_leg)
    assert [x.transfer_id for x in older.lines].count(leg) == 1

    # the shop gives the voucher-only payment back: a "back to voucher" line, the shop's
    back = await wallet.merchants.refund(OWNER, alone.payment.id, None, "refund-1")
    (refund,) = back.transfers
    line = (await wallet.history.page(payer.account_id)).lines[0]
    assert (line.transfer_id, line.state, line.amount) == (refund.id, EntryState.VOUCHER_BACK, 8_00)
    assert line.counterparty.shop == "Noodles"
    shown = await wallet.history.detail(payer.account_id, refund.id)
    assert shown.line.state is EntryState.VOUCHER_BACK
    with pytest.raises(TransferNotFound):
        await wallet.history.detail(owner.account_id, refund.id)
    assert await wallet.offers.voucher_total(PAYER) == 8_00  # (2_00 of it spent on pay-2)


async def test_a_refund_says_what_of_it_went_on_to_the_issuer_of_an_expired_voucher(
    wallet, database_url
):
    """A voucher expired between the payment and its refund: its part of the refund goes
    on to the issuer, and the refund says how much did (the payer is told so)."""
    merchant = await shop(wallet)
    target = PayTarget(merchant.id, 15_00)
    paid = await wallet.merchants.pay("pay-1", PAYER, target, authenticated=True)
    assert (paid.plan.voucher_fen, paid.plan.own_fen) == (10_00, 5_00), paid
    live = await wallet.merchants.refund(OWNER, paid.payment.id, 7_00, "refund-1")
    assert (live.own, live.voucher, live.voucher_lapsed) == (5_00, 2_00, 0)
    await execute(
        database_url,
        "UPDATE voucher_issues SET expires_at = 1",
        "UPDATE vouchers SET expires_at = 1",
    )
    assert await wallet.offers.expire_due()
    issuer = (await wallet.store.ledger.find_account(VOUCHER_ISSUER, "CNY")).id
    before = (await wallet.ledger.account(issuer)).balance
    lapsed = await wallet.merchants.refund(OWNER, paid.payment.id, None, "refund-2")
    assert (lapsed.own, lapsed.voucher, lapsed.voucher_lapsed) == (0, 8_00, 8_00)
    assert (await wallet.ledger.account(issuer)).balance == before + 8_00
    assert await wallet.offers.voucher_total(PAYER) == 0
    replay = await wallet.merchants.refund(OWNER, paid.payment.id, None, "refund-2")
    assert replay.replayed and replay.voucher == 8_00


async def test_a_pay_code_is_checked_before_the_amount_is_asked_without_using_it(wallet):
    merchant = await shop(wallet)
    code = await wallet.paycodes.issue(PAYER)
    await wallet.paycodes.check(OWNER, code.code)  # fine, and still unused:
    with pytest.raises(PayingYourself):
        await wallet.paycodes.check(PAYER, code.code)
    with pytest.raises(PayCodeInvalid):
        await wallet.paycodes.check(OWNER, "1" * 18)
    outcome, _ = await wallet.paycodes.collect(OWNER, code.code, "5")  # (the PIN to come)
    assert outcome.merchant.id == merchant.id
    with pytest.raises(PayCodeUsed):
        await wallet.paycodes.check(OWNER, code.code)
