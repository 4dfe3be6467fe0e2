"""Merchants on a real SQLite file: registering, paying (static code, charge, pay code),
refunds bounded by what is left, takings, and the ledger auditing clean afterwards."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import AmountError, InsufficientFunds, UserNotFound
from bot.domain.events import verify_events
from bot.domain.kinds import TransferKind
from bot.domain.merchant_errors import (
    ChargeAlreadyPaid,
    MerchantCategoryInvalid,
    MerchantExists,
    MerchantNameInvalid,
    MerchantPaymentNotFound,
    MerchantRefundExceedsRemaining,
    NotAMerchant,
    PayCodeExpired,
    PayCodeInvalid,
    PayCodeUsed,
)
from bot.domain.merchants import MERCHANT_ADDED, PaidVia, PayStatus
from bot.domain.model import SystemAccount
from bot.domain.offers import VOUCHER_ESCROW, PaymentPlan, RefundSplit, VoucherPart
from bot.domain.users import Profile, User
from bot.domain.vouchers import VoucherIssueOrder
from bot.security.pin_entry import CONFIRM
from bot.storage import open_store_snapshot
from bot.storage.sqlite import offers_ops
from bot.wallet.audit import audit_ledger
from bot.wallet.merchants import CONFIRMATION, PayTarget
from bot.wallet.paycodes import LAPSED_NOTICE

ALICE, BOB, SHOP, ADMIN = 100_001, 100_002, 100_003, 900_001


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000_000  # 2026-05-28, 04:26 in Beijing

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def wallet(tmp_path, database_url):
    """Alice and Bob with ¥500 each and a PIN; 老王 runs a merchant (``wallet.shop``)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        admin_ids=frozenset({ADMIN}),
    )
    opened = await open_wallet(settings)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    for who, name in ((ALICE, "Alice"), (BOB, "Bob"), (SHOP, "老王")):
        user = await opened.users.seen(Profile(who, name.lower(), name, "en"), private_chat=True)
        if who != SHOP:
            await opened.ledger.transfer(
                f"fund-{who}", external, user.account_id, 500_00, TransferKind.TOPUP
            )
            await opened.pins.set_pin(who, "739201")
    owner = await opened.users.get(SHOP)
    opened.shop = await opened.merchants.add(ADMIN, owner, "老王面馆", "Food")
    yield opened
    await opened.close()
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    assert report.ok and not event_problems, report.problems + event_problems


async def available(wallet, account_id: int) -> int:
    return (await wallet.ledger.balance(account_id)).available


async def pay(wallet, payer: int, amount: int, key: str, **target) -> object:
    return await wallet.merchants.pay(
        key, payer, PayTarget(wallet.shop.id, amount, **target), authenticated=True
    )


async def test_each_leg_a_payer_paid_with_finds_its_payment(wallet):
    """An admin refunds a transfer; the shop knows the payment by its own number."""
    await wallet.offers.issue(ADMIN, "v", VoucherIssueOrder(4_00, 7, frozenset(), None), [ALICE])
    mixed = (await pay(wallet, ALICE, 10_00, "p1")).payment  # ¥4 of vouchers, ¥6 own
    own = (await pay(wallet, BOB, 3_00, "p2")).payment
    legs = [tid for _, tid in mixed.payer_legs()]
    assert len(legs) == 2 and mixed.own == 6_00
    for leg in legs:
        assert (await wallet.merchants.payment_of_leg(leg)).id == mixed.id
    assert (await wallet.merchants.payment_of_leg(own.own_transfer_id)).id == own.id
    assert await wallet.merchants.payment_of_leg(1) is None  # a top-up: no shop's
    assert await wallet.merchants.payment_of_leg(10**30) is None


async def test_sales_list_the_latest_payments_newest_first_with_what_is_left(wallet):
    for i in range(12):
        await pay(wallet, ALICE if i % 2 else BOB, 1_00 + i, f"r{i}")
    await wallet.merchants.refund(SHOP, 12, 50, "back")  # half of the newest
    sales = await wallet.merchants.sales(SHOP)
    assert [s.payment.id for s in sales.recent] == list(range(12, 2, -1))  # ten of them
    newest = sales.recent[0]
    assert (newest.payment.price, newest.left, newest.payer_name) == (1_11, 61, "Alice")
    assert sales.recent[1].payer_name == "Bob" and sales.recent[1].left == 1_10
    assert await wallet.store.merchants.recent_payments(2**62, 10) == []


async def test_registering_opens_a_merchant_account_and_is_audited(wallet):
    shop = wallet.shop
    assert (shop.name, shop.category, shop.owner_id) == ("老王面馆", "food", SHOP)
    account = await wallet.ledger.account(shop.account_id)
    assert (account.name, account.kind) == (f"merchant:{SHOP}", "merchant")
    owner = await wallet.users.get(SHOP)
    assert owner.account_id != shop.account_id  # the owner's wallet is separate
    assert len(shop.token) == 22 and await wallet.merchants.by_token(shop.token) == shop
    events = [e async for e in wallet.store.security.events() if e.event == MERCHANT_ADDED]
    assert [(e.actor_id, e.subject_id) for e in events] == [(ADMIN, SHOP)]
    with pytest.raises(MerchantExists):
        await wallet.merchants.add(ADMIN, owner, "Again")
    with pytest.raises(NotAMerchant):
        await wallet.merchants.mine(ALICE)


async def test_a_payment_moves_money_once_per_key_and_a_failure_moves_nothing(wallet):
    paid = await pay(wallet, ALICE, 12_50, "k1")
    assert paid.status is PayStatus.PAID
    assert paid.payment.own == 12_50 and paid.payment.via is PaidVia.QR
    again = await pay(wallet, ALICE, 12_50, "k1")
    assert again.status is PayStatus.PAID_BEFORE and again.payment.id == paid.payment.id
    too_much = await pay(wallet, ALICE, 600_00, "k2")
    assert too_much.status is PayStatus.REFUSED
    assert too_much.error.code == "exceeds_balance"
    yourself = await pay(wallet, SHOP, 1_00, "k3")
    assert yourself.error.code == "merchant_paying_yourself"
    assert await available(wallet, wallet.shop.account_id) == 12_50
    alice = await wallet.users.get(ALICE)
    assert await available(wallet, alice.account_id) == 487_50


async def test_a_frozen_merchant_or_payer_is_refused(wallet):
    owner = await wallet.users.get(SHOP)
    await wallet.ledger.freeze(owner.account_id)
    refused = await pay(wallet, ALICE, 1_00, "f1")
    assert refused.error.code == "merchant_frozen"
    await wallet.ledger.unfreeze(owner.account_id)
    bob = await wallet.users.get(BOB)
    await wallet.ledger.freeze(bob.account_id)
    assert (await pay(wallet, BOB, 1_00, "f2")).error.code == "account_frozen"
    assert await available(wallet, wallet.shop.account_id) == 0


async def test_a_charge_is_paid_once_whoever_races_for_it(wallet):
    _, charge = await wallet.merchants.charge(SHOP, "30")
    target = {"via": PaidVia.CHARGE, "ref": charge.token}
    results = await asyncio.gather(
        pay(wallet, ALICE, 30_00, "c-alice", **target), pay(wallet, BOB, 30_00, "c-bob", **target)
    )
    assert sorted(r.status for r in results) == [PayStatus.PAID, PayStatus.REFUSED]
    refused = next(r for r in results if r.status is PayStatus.REFUSED)
    assert isinstance(refused.error, ChargeAlreadyPaid)
    assert await available(wallet, wallet.shop.account_id) == 30_00
    with pytest.raises(AmountError):
        await wallet.merchants.charge(SHOP, "0")
    with pytest.raises(NotAMerchant):
        await wallet.merchants.charge(ALICE, "5")


async def test_an_expired_or_unknown_charge_cannot_be_paid(wallet):
    wallet.merchants.charge_ttl_s = 0  # expired as soon as it is made
    _, charge = await wallet.merchants.charge(SHOP, "5")
    expired = await pay(wallet, ALICE, 5_00, "e1", via=PaidVia.CHARGE, ref=charge.token)
    assert expired.error.code == "charge_expired"
    unknown = await pay(wallet, ALICE, 5_00, "e2", via=PaidVia.CHARGE, ref="x" * 20)
    assert unknown.error.code == "charge_not_found"
    assert await available(wallet, wallet.shop.account_id) == 0


async def test_refunds_give_back_at_most_what_is_left_once_per_key(wallet):
    paid = (await pay(wallet, ALICE, 100_00, "p1")).payment
    alice = await wallet.users.get(ALICE)
    first = await wallet.merchants.refund(SHOP, paid.id, 30_00, "r1")
    assert (first.amount, first.own, first.left) == (30_00, 30_00, 70_00)
    replay = await wallet.merchants.refund(SHOP, paid.id, 30_00, "r1")
    assert replay.replayed and replay.amount == 30_00
    with pytest.raises(MerchantRefundExceedsRemaining) as too_much:
        await wallet.merchants.refund(SHOP, paid.id, 70_01, "r2")
    assert too_much.value.params["left"] == 70_00
    rest = await wallet.merchants.refund(SHOP, paid.id, None, "r3")
    assert (rest.amount, rest.left) == (70_00, 0)
    with pytest.raises(MerchantRefundExceedsRemaining):
        await wallet.merchants.refund(SHOP, paid.id, None, "r4")
    assert await available(wallet, alice.account_id) == 500_00
    assert await available(wallet, wallet.shop.account_id) == 0
    with pytest.raises(MerchantPaymentNotFound):
        await wallet.merchants.refund(SHOP, paid.id + 99, None, "r5")


async def test_concurrent_refunds_never_exceed_the_payment(wallet):
    paid = (await pay(wallet, ALICE, 10_00, "p1")).payment
    results = await asyncio.gather(
        *(wallet.merchants.refund(SHOP, paid.id, 3_00, f"r{i}") for i in range(6)),
        return_exceptions=True,
    )
    refunded = [r for r in results if not isinstance(r, Exception)]
    assert len(refunded) == 3
    assert all(isinstance(r, MerchantRefundExceedsRemaining) for r in results if r not in refunded)
    assert await available(wallet, wallet.shop.account_id) == 1_00


async def test_takings_count_today_and_this_month(wallet):
    paid = (await pay(wallet, ALICE, 20_00, "p1")).payment
    await pay(wallet, BOB, 5_00, "p2")
    await wallet.merchants.refund(SHOP, paid.id, 2_00, "r1")
    sales = await wallet.merchants.sales(SHOP)
    for takings in (sales.today, sales.month):
        assert (takings.count, takings.gross, takings.refunds, takings.net) == (
            2,
            25_00,
            2_00,
            23_00,
        )
    assert sales.balance == 23_00


async def test_a_pay_code_is_collected_once_and_refused_after_it_expires(wallet):
    made = await wallet.paycodes.issue(ALICE)
    assert len(made.code) == 18 and made.code.isdigit()
    await wallet.store.identity.set_password_free(ALICE, 20_00, 100_00)
    outcome, _ = await wallet.paycodes.collect(SHOP, made.spaced, "8")
    assert outcome.status is PayStatus.PAID and outcome.payment.via is PaidVia.PAY_CODE
    with pytest.raises(PayCodeUsed):
        await wallet.paycodes.collect(SHOP, made.code, "8")
    forged = made.code[:-1] + str((int(made.code[-1]) + 1) % 10)
    with pytest.raises(PayCodeInvalid):
        await wallet.paycodes.collect(SHOP, forged, "8")
    with pytest.raises(NotAMerchant):
        await wallet.paycodes.collect(BOB, made.code, "8")
    big = await wallet.paycodes.issue(ALICE)  # above the password-free limit: the PIN
    outcome, key = await wallet.paycodes.collect(SHOP, big.code, "30")
    assert outcome.status is PayStatus.BLOCKED and outcome.decision.action != "block"
    confirmed = await wallet.merchants.pay(
        key, ALICE, PayTarget(wallet.shop.id, 30_00, PaidVia.PAY_CODE, key), authenticated=True
    )
    assert confirmed.status is PayStatus.PAID
    assert await available(wallet, wallet.shop.account_id) == 38_00


async def test_an_expired_pay_code_is_refused(wallet):
    wallet.paycodes.ttl_s = 0  # expired as soon as it is made
    made = await wallet.paycodes.issue(BOB)
    with pytest.raises(PayCodeExpired):
        await wallet.paycodes.collect(SHOP, made.code, "1")


async def test_a_pay_code_confirmation_left_to_expire_is_told_to_the_shop_once(wallet):
    """A card (or its PIN keypad) of a collection by pay code that expired untouched gives
    the shop one notice; used, cancelled, unexpired or other payments' cards give none."""
    card, keypad = "merchant.pay", f"{CONFIRM}{CONFIRMATION}"

    def payload(amount: int, via: PaidVia = PaidVia.PAY_CODE) -> dict:
        target = PayTarget(wallet.shop.id, amount, via, f"mpay:code:{amount}")
        return {**target.to_payload(), "key": target.ref}

    lapsed_card = await wallet.actions.create(ALICE, card, payload(31_00), ttl_s=0)
    lapsed_keypad = await wallet.actions.create(BOB, keypad, payload(32_00), ttl_s=0)
    await wallet.actions.create(ALICE, card, payload(33_00, PaidVia.QR), ttl_s=0)
    await wallet.actions.create(ALICE, card, payload(34_00))  # still in time
    used = await wallet.actions.create(ALICE, card, payload(35_00), ttl_s=1)
    cancelled = await wallet.actions.create(BOB, keypad, payload(36_00), ttl_s=1)
    await wallet.actions.finish(used)
    await wallet.actions.cancel(cancelled)
    await asyncio.sleep(1.01)  # (the last two expire too: used and cancelled before)

    purposes = (card, keypad)
    assert await wallet.paycodes.tell_lapsed(purposes) == 0  # a last-moment use may be on
    assert await wallet.paycodes.tell_lapsed(purposes, grace_s=0, window_s=0.5) == 0  # old
    assert await wallet.paycodes.tell_lapsed(purposes, grace_s=0) == 2
    owner = wallet.shop.owner_id
    for action, payer, amount in ((lapsed_card, ALICE, 31_00), (lapsed_keypad, BOB, 32_00)):
        notice = await wallet.notices.get(f"{LAPSED_NOTICE}:{action.id}")
        assert (notice.telegram_id, notice.kind) == (owner, LAPSED_NOTICE)
        assert notice.params == {"payer_id": payer, "amount": amount}
    assert await wallet.paycodes.tell_lapsed(purposes, grace_s=0) == 0  # once, every sweep


async def test_only_a_known_person_with_a_valid_name_becomes_a_merchant(wallet):
    ghost = User(999, 999, None, "Ghost", "en", None, False)
    with pytest.raises(UserNotFound):
        await wallet.merchants.add(ADMIN, ghost, "Ghost shop")
    alice = await wallet.users.get(ALICE)
    for name in ("", "   ", "x" * 41):
        with pytest.raises(MerchantNameInvalid):
            await wallet.merchants.add(ADMIN, alice, name)
    assert await wallet.store.merchants.merchant_by_owner(ALICE) is None


async def test_a_category_is_one_word_as_vouchers_name_it(wallet):
    """A shop's category is what a voucher names (``food,grocery``): one word, folded the
    way a voucher's is, or the shop could never take a voucher for it."""
    alice, bob = await wallet.users.get(ALICE), await wallet.users.get(BOB)
    for category in ("food & drink", "Food Drink", "x" * 25, "面馆!", "a,b"):
        with pytest.raises(MerchantCategoryInvalid):
            await wallet.merchants.add(ADMIN, alice, "Noodles", category)
    assert await wallet.store.merchants.merchant_by_owner(ALICE) is None
    assert await wallet.merchants.categories() == {"food": 1}  # "Food", folded
    shop = await wallet.merchants.add(ADMIN, alice, "Noodles", "ＦＯＯＤ")  # full-width
    assert shop.category == "food"
    other = await wallet.merchants.add(ADMIN, bob, "Corner shop")  # none: "general"
    assert other.category == "general"
    assert await wallet.merchants.categories() == {"food": 2, "general": 1}


async def test_the_owner_moves_the_shops_money_to_their_wallet_once_per_key(wallet):
    await pay(wallet, ALICE, 40_00, "p1")
    owner = await wallet.users.get(SHOP)
    part = await wallet.merchants.settle(SHOP, "15", "s1")
    assert (part.amount, part.kind) == (15_00, TransferKind.MERCHANT_SETTLEMENT)
    assert (await wallet.merchants.settle(SHOP, "15", "s1")).id == part.id  # a replay
    rest = await wallet.merchants.settle(SHOP, None, "s2")
    assert rest.amount == 25_00
    assert await available(wallet, owner.account_id) == 40_00
    assert await available(wallet, wallet.shop.account_id) == 0
    with pytest.raises(InsufficientFunds):
        await wallet.merchants.settle(SHOP, None, "s3")
    with pytest.raises(NotAMerchant):
        await wallet.merchants.settle(ALICE, None, "s4")


class CouponAndVoucher:
    """A planner giving ¥5 off (coupon 7) and ¥20 from voucher 3 on any price ≥ ¥50."""

    async def plan(self, payer_telegram_id, merchant_id, category, price_fen):
        if price_fen < 50_00:
            return PaymentPlan(price_fen)
        return PaymentPlan(price_fen, 7, 5_00, (VoucherPart(3, 20_00),))


@pytest.fixture
def offers_calls(monkeypatch):
    """The offers' hooks, recorded (their bodies are the offers' own, tested there)."""
    calls = []

    def use(conn, ledger, plan, *rest):
        calls.append(("use", plan, rest[:4]))

    def give_back(conn, ledger, payment_id, split, full, now_ms):
        calls.append(("give_back", payment_id, split, full))
        return 0

    async def pg_use(conn, plan, *rest):
        use(conn, None, plan, *rest)

    async def pg_give_back(conn, clock, *rest):
        return give_back(conn, None, *rest)

    from bot.storage.postgres import merchants_store

    monkeypatch.setattr(offers_ops, "use", use)
    monkeypatch.setattr(offers_ops, "give_back", give_back)
    monkeypatch.setattr(merchants_store, "use", pg_use)
    monkeypatch.setattr(merchants_store, "give_back", pg_give_back)
    return calls


async def test_each_leg_of_the_plan_moves_in_one_operation_and_refunds_split_own_first(
    wallet, offers_calls
):
    wallet.merchants.offers = CouponAndVoucher()
    alice = await wallet.users.get(ALICE)
    paid = (await pay(wallet, ALICE, 100_00, "p1")).payment
    assert (paid.price, paid.own, paid.discount, paid.coupon_id) == (100_00, 75_00, 5_00, 7)
    assert [part for part, _ in paid.vouchers] == [VoucherPart(3, 20_00)]
    ids = (paid.own_transfer_id, paid.vouchers[0][1], paid.discount_transfer_id)
    legs = [await wallet.ledger.store.get_transfer(t) for t in ids]
    assert [(t.key, t.amount, t.kind) for t in legs] == [
        ("p1", 75_00, "merchant_payment"),
        ("p1#1", 20_00, "merchant_payment"),
        ("p1#2", 5_00, "merchant_payment"),
    ]
    escrow = await wallet.ledger.store.find_account(VOUCHER_ESCROW, "CNY")
    assert legs[1].debit_account_id == escrow.id
    (hook, plan, args) = offers_calls[0]
    assert (hook, plan.own_fen, args) == ("use", 75_00, (paid.id, ALICE, wallet.shop.id, "food"))
    assert await available(wallet, alice.account_id) == 425_00
    assert await available(wallet, wallet.shop.account_id) == 100_00

    first = await wallet.merchants.refund(SHOP, paid.id, 80_00, "r1")  # own first
    assert (first.own, first.voucher, first.discount_back, first.left) == (75_00, 5_00, 0, 15_00)
    rest = await wallet.merchants.refund(SHOP, paid.id, None, "r2")  # the rest: the discount too
    assert (rest.own, rest.voucher, rest.discount_back, rest.left) == (0, 15_00, 5_00, 0)
    assert [c[3] for c in offers_calls[1:]] == [False, True]
    assert offers_calls[1][2] == RefundSplit(75_00, (VoucherPart(3, 5_00),))
    assert await available(wallet, alice.account_id) == 500_00
    assert await available(wallet, wallet.shop.account_id) == 0
    assert (await wallet.ledger.account(escrow.id)).balance == 0
