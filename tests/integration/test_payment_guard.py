"""The payment guard reads the risk facts from a real ledger, decides, logs and holds
(on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.domain.errors import IdempotencyConflict, InsufficientFunds, UserNotFound
from bot.domain.events import verify_events
from bot.domain.holds import DAY_MS, Held, HoldState, day_start_ms
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.risk import (
    DEFAULT_RULES,
    HOUR_MS,
    MINUTE_MS,
    RecentGrab,
    RecentPayment,
    RiskAction,
    RiskReason,
    RiskRules,
)
from bot.domain.security_errors import (
    HeldPaymentAlreadyDecided,
    HeldPaymentNotFound,
    HeldPaymentOwn,
)
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.security.idnumber import id_check_character
from bot.wallet.users import Users

YUAN = 100
START_MS = 1_700_000_000_000  # where the conftest clock starts: 06:13 in Beijing
ALICE, BOB, CAROL = 101, 202, 303
ADMIN = 9
TODAY = day_start_ms(START_MS)  # 2023-11-15 00:00 in Beijing, 2023-11-14 16:00 UTC
MONTH_AGO = START_MS - 30 * DAY_MS
HOLD_RULES = RiskRules(new_account_max_payment_fen=10 * YUAN)  # holds come cheap


# Every test here holds on SQLite and on PostgreSQL (tests/integration/conftest.py).
@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


class World:
    """People with wallets, a guard over the test's store, and ways to move money."""

    def __init__(self, store, ledger, clock, external) -> None:
        self.store, self.ledger, self.clock, self.external = store, ledger, clock, external
        self.users = Users(store.users, "CNY")
        self.identity = Identity(store.identity, Keyring(bytes(range(32))))
        self.accounts: dict[int, int] = {}
        self.notified: list[Held] = []
        self._keys = 0

    def guard(self, rules: RiskRules | None = None, notify=None) -> PaymentGuard:
        async def remember(held: Held) -> None:
            self.notified.append(held)

        return PaymentGuard(
            self.store.holds,
            self.identity,
            rules=rules or DEFAULT_RULES,
            notify_admins=notify or remember,
        )

    def key(self) -> str:
        self._keys += 1
        return f"k{self._keys}"

    async def person(self, telegram_id: int, *, at: int = MONTH_AGO, pin=True, funds=0) -> int:
        """Open a wallet at ``at``; set a PIN; top it up. The clock ends at ``START_MS``."""
        self.clock.now_ms = at
        user = await self.users.seen(Profile(telegram_id, f"user{telegram_id}", "U"))
        self.accounts[telegram_id] = user.account_id
        if pin:
            await self.store.security.set_pin(telegram_id, "scrypt-hash", "key")
        if funds:
            await self.topup(telegram_id, funds)
        self.clock.now_ms = START_MS
        return user.account_id

    async def verify(self, telegram_id: int) -> None:
        first_17 = f"11010519491231{telegram_id % 1000:03d}"
        await self.identity.verify(telegram_id, "张三", first_17 + id_check_character(first_17))

    async def topup(self, telegram_id: int, amount: int) -> None:
        await self.ledger.transfer(
            self.key(), self.external, self.accounts[telegram_id], amount, "topup"
        )

    async def pay(self, payer: int, recipient: int, amount: int, kind="transfer", *, key=None):
        debit, credit = self.accounts[payer], self.accounts[recipient]
        return await self.ledger.transfer(key or self.key(), debit, credit, amount, kind)

    async def grab(self, grabber: int, ref: str):
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        credit = self.accounts[grabber]
        return await self.ledger.transfer(self.key(), escrow, credit, 1, "redpacket_grab", ref=ref)

    async def to_system(self, payer: int, name: SystemAccount, amount: int, kind: str):
        credit = await self.ledger.system_account_id(name)
        return await self.ledger.transfer(self.key(), self.accounts[payer], credit, amount, kind)

    async def reserve(self, payer: int, amount: int, kind="withdraw"):
        return await self.ledger.reserve(
            self.key(), self.accounts[payer], self.external, amount, kind
        )

    async def balance(self, telegram_id: int):
        return await self.ledger.balance(self.accounts[telegram_id])

    async def events(self, prefix: str = "") -> list:
        return [e async for e in self.store.security.events() if e.event.startswith(prefix)]


@pytest.fixture
async def world(store, ledger, clock, external) -> World:
    assert clock.now_ms == START_MS
    return World(store, ledger, clock, external)


# Facts -------------------------------------------------------------------------------


def test_today_is_the_calendar_day_in_china():
    assert TODAY == 1_699_977_600_000  # 16:00 UTC, midnight in Beijing
    assert day_start_ms(TODAY) == TODAY
    assert day_start_ms(TODAY - 1) == TODAY - DAY_MS
    assert day_start_ms(TODAY + DAY_MS - 1) == TODAY
    assert day_start_ms(START_MS, offset_ms=0) == 1_699_920_000_000  # UTC would differ


async def test_sent_today_counts_todays_outgoing_payments_only(world, clock):
    await world.person(ALICE, funds=1_000 * YUAN)
    await world.person(BOB, funds=100 * YUAN)
    clock.now_ms = TODAY - 1  # 23:59:59.999 yesterday in Beijing; the same day in UTC
    await world.pay(ALICE, BOB, 10 * YUAN)
    clock.now_ms = TODAY
    await world.pay(ALICE, BOB, 1 * YUAN)
    clock.now_ms = START_MS
    await world.topup(ALICE, 50 * YUAN)  # money in: not sent
    await world.pay(BOB, ALICE, 3 * YUAN)  # money in: not sent
    await world.pay(ALICE, BOB, 2 * YUAN, "tip")
    await world.to_system(ALICE, SystemAccount.ESCROW_REDPACKETS, 4 * YUAN, "red_packet")
    await world.reserve(ALICE, 5 * YUAN)  # in flight: counts
    posted = await world.reserve(ALICE, 6 * YUAN)
    await world.ledger.post(world.key(), posted.id)  # counts once
    voided = await world.reserve(ALICE, 7 * YUAN)
    await world.ledger.void(world.key(), voided.id)  # released: does not count
    await world.to_system(ALICE, SystemAccount.FEES, 8 * YUAN, "fee")  # not a payment kind

    facts = await world.guard().facts(ALICE, 1, TransferKind.TRANSFER, BOB)

    assert facts.sent_today_fen == (1 + 2 + 4 + 5 + 6) * YUAN
    assert (await world.guard().facts(BOB, 1, "transfer")).sent_today_fen == 3 * YUAN


async def test_recent_payments_name_people_only_and_reach_back_an_hour(world, clock):
    await world.person(ALICE, funds=1_000 * YUAN)
    await world.person(BOB)
    merchant = (await world.ledger.open_merchant_account(CAROL)).id
    clock.now_ms = START_MS - 61 * MINUTE_MS
    await world.pay(ALICE, BOB, 1 * YUAN)  # older than the look-back
    clock.now_ms = START_MS - 30 * MINUTE_MS
    first = await world.pay(ALICE, BOB, 2 * YUAN)
    clock.now_ms = START_MS - 20 * MINUTE_MS
    await world.to_system(ALICE, SystemAccount.ESCROW_REDPACKETS, 3 * YUAN, "red_packet")
    await world.ledger.transfer(
        world.key(), world.accounts[ALICE], merchant, 400, "merchant_payment"
    )
    clock.now_ms = START_MS
    await world.reserve(ALICE, 5 * YUAN)
    await world.pay(BOB, ALICE, 1 * YUAN)  # incoming

    facts = await world.guard().facts(ALICE, 1, "transfer", BOB)

    assert facts.recent_payments == (
        RecentPayment(first.created_at, 2 * YUAN, BOB),
        RecentPayment(START_MS - 20 * MINUTE_MS, 3 * YUAN, None),
        RecentPayment(START_MS - 20 * MINUTE_MS, 4 * YUAN, None),
        RecentPayment(START_MS, 5 * YUAN, None),
    )


async def test_account_age_and_protections_come_from_the_payers_records(world, clock, store):
    await world.person(ALICE, at=START_MS, pin=False)
    clock.advance(seconds=3 * 3600)

    fresh = await world.guard().facts(ALICE, 1, "transfer")
    assert (fresh.account_age_ms, fresh.tier, fresh.has_pin, fresh.has_2fa) == (
        3 * HOUR_MS,
        0,
        False,
        False,
    )
    assert (fresh.password_free_limit_fen, fresh.password_free_daily_limit_fen) == (0, 0)

    await store.security.set_pin(ALICE, "scrypt-hash", "key")
    await store.identity.set_totp(ALICE, "token", True)
    await store.identity.set_password_free(ALICE, 20 * YUAN, 100 * YUAN)
    await world.verify(ALICE)
    later = await world.guard().facts(ALICE, 1, "transfer")
    assert (later.tier, later.has_pin, later.has_2fa) == (1, True, True)
    assert (later.password_free_limit_fen, later.password_free_daily_limit_fen) == (20_00, 100_00)


async def test_an_unknown_payer_is_refused(world):
    with pytest.raises(UserNotFound):
        await world.guard().assess(4242, 1, "transfer")


async def test_grabs_carry_their_chat_and_a_burst_across_chats_is_blocked(world, clock):
    await world.person(ALICE)
    clock.now_ms = START_MS - 6 * MINUTE_MS
    await world.grab(ALICE, "chat:-1009")
    clock.now_ms = START_MS - 4 * MINUTE_MS
    for i in range(19):
        await world.grab(ALICE, f"chat:-100{i % 3}")
    await world.grab(ALICE, "?")  # names no chat
    clock.now_ms = START_MS
    guard = world.guard()

    facts = await guard.facts(ALICE, 5, TransferKind.RED_PACKET_GRAB)
    assert len(facts.recent_grabs) == 20  # the one six minutes ago is out of the window
    assert facts.recent_grabs[0] == RecentGrab(START_MS - 4 * MINUTE_MS, -1000)
    assert {g.chat_id for g in facts.recent_grabs} == {-1000, -1001, -1002, 0}
    assert facts.sent_today_fen == 0  # a grab is money in

    decision = await guard.assess(ALICE, 5, TransferKind.RED_PACKET_GRAB)
    assert (decision.action, decision.reasons) == (RiskAction.BLOCK, (RiskReason.GRAB_BURST,))


# Decisions ---------------------------------------------------------------------------


async def test_an_unverified_payer_over_the_payment_limit_is_blocked_and_logged(world):
    await world.person(ALICE, funds=1_000 * YUAN)
    guard = world.guard()

    assert (await guard.assess(ALICE, 500 * YUAN, "transfer", BOB)).action is RiskAction.STEP_UP_PIN
    decision = await guard.assess(ALICE, 500 * YUAN + 1, "transfer", BOB)

    assert decision.action is RiskAction.BLOCK
    assert RiskReason.EXCEEDS_PAYMENT_LIMIT in decision.reasons
    (event,) = await world.events("risk.")
    assert (event.event, event.actor_id, event.subject_id) == ("risk.block", ALICE, ALICE)
    assert event.details == {
        "amount": 500_01,
        "kind": "transfer",
        "reasons": ["exceeds_payment_limit", "pin_required"],
        "recipient_id": BOB,
    }


async def test_the_eleventh_payment_within_ten_minutes_is_held(world, clock):
    await world.person(ALICE, funds=100 * YUAN)
    await world.person(BOB)
    guard = world.guard()
    clock.now_ms = START_MS - 9 * MINUTE_MS
    for _ in range(10):
        decision = await guard.assess(ALICE, 1 * YUAN, "transfer", BOB)
        assert decision.action is RiskAction.STEP_UP_PIN
        await world.pay(ALICE, BOB, 1 * YUAN)
        clock.advance(seconds=50)

    decision = await guard.assess(ALICE, 1 * YUAN, "transfer", BOB)
    assert (decision.action, decision.auth) == (RiskAction.HOLD, RiskAction.STEP_UP_PIN)
    assert decision.reasons[0] is RiskReason.VELOCITY_PAYMENTS
    assert [e.event for e in await world.events("risk.")] == ["risk.hold"]

    clock.advance(seconds=99)  # 9 min 59 s after the first payment
    assert (await guard.assess(ALICE, 1 * YUAN, "transfer", BOB)).action is RiskAction.HOLD
    clock.advance(seconds=1)  # the first payment leaves the window
    assert (await guard.assess(ALICE, 1 * YUAN, "transfer", BOB)).action is RiskAction.STEP_UP_PIN


async def test_a_new_account_sending_over_a_thousand_yuan_is_held(world):
    await world.person(ALICE, at=START_MS - 2 * HOUR_MS, funds=2_000 * YUAN)
    await world.verify(ALICE)  # tier 1: ¥5,000 a payment
    guard = world.guard()

    at_limit = await guard.assess(ALICE, 1_000 * YUAN, "transfer", BOB)
    over = await guard.assess(ALICE, 1_000 * YUAN + 1, "transfer", BOB)

    assert at_limit.action is RiskAction.STEP_UP_PIN
    assert over.action is RiskAction.HOLD
    assert over.reasons == (RiskReason.NEW_ACCOUNT_LARGE_AMOUNT, RiskReason.PIN_REQUIRED)


async def test_password_free_payments_are_allowed_until_the_daily_total(world, store, clock):
    await world.person(ALICE, funds=1_000 * YUAN)
    await world.person(BOB)
    await store.identity.set_password_free(ALICE, 50 * YUAN, 200 * YUAN)
    guard = world.guard()

    decision = await guard.assess(ALICE, 50 * YUAN, "transfer", BOB)
    assert (decision.action, decision.reasons) == (RiskAction.ALLOW, (RiskReason.PASSWORD_FREE,))
    assert (await guard.assess(ALICE, 50 * YUAN, "withdraw")).action is RiskAction.STEP_UP_PIN

    clock.now_ms = TODAY - 1
    await guard.mark_password_free("yesterday", ALICE)  # yesterday's do not count today
    await world.pay(ALICE, BOB, 50 * YUAN, key="yesterday")
    clock.now_ms = START_MS
    for i in range(3):
        await guard.mark_password_free(f"nopin-{i}", ALICE)
        await guard.mark_password_free(f"nopin-{i}", ALICE)  # marking twice is marking once
        await world.pay(ALICE, BOB, 50 * YUAN, "tip", key=f"nopin-{i}")
    await guard.mark_password_free("refused", ALICE)
    with pytest.raises(InsufficientFunds):  # a refused payment moved nothing: costs nothing
        await world.pay(ALICE, BOB, 10**9, "tip", key="refused")
    await world.pay(ALICE, BOB, 30 * YUAN)  # with the PIN: not password-free

    facts = await guard.facts(ALICE, 50 * YUAN, "transfer", BOB)
    assert facts.password_free_spent_today_fen == 150 * YUAN
    assert facts.sent_today_fen == 180 * YUAN
    assert (await guard.assess(ALICE, 50 * YUAN, "transfer", BOB)).action is RiskAction.ALLOW

    await guard.mark_password_free("nopin-3", ALICE)
    await world.pay(ALICE, BOB, 50 * YUAN, "tip", key="nopin-3")
    decision = await guard.assess(ALICE, 1, "transfer", BOB)
    assert (decision.action, decision.reasons) == (
        RiskAction.STEP_UP_PIN,
        (RiskReason.EXCEEDS_PASSWORD_FREE_DAILY_LIMIT,),
    )


async def test_a_payer_without_a_pin_is_asked_to_set_one(world):
    await world.person(ALICE, pin=False, funds=100 * YUAN)

    decision = await world.guard().assess(ALICE, 1 * YUAN, "transfer", BOB)

    assert (decision.action, decision.reasons) == (RiskAction.STEP_UP_PIN, (RiskReason.NO_PIN_SET,))
    assert decision.needs_pin_setup
    assert await world.events("risk.") == []  # a plain PIN step-up is not logged


async def test_two_factor_is_asked_from_the_threshold_on_and_logged(world, store):
    await world.person(ALICE, funds=5_000 * YUAN)
    await world.verify(ALICE)
    await store.identity.set_totp(ALICE, "token", True)
    guard = world.guard()

    below = await guard.assess(ALICE, 2_000 * YUAN - 1, "transfer", BOB)
    at = await guard.assess(ALICE, 2_000 * YUAN, "merchant_payment")

    assert below.action is RiskAction.STEP_UP_PIN
    assert (at.action, at.reasons) == (RiskAction.STEP_UP_2FA, (RiskReason.ABOVE_2FA_THRESHOLD,))
    (event,) = await world.events("risk.")
    assert event.event == "risk.step_up_2fa"
    assert event.details["kind"] == "merchant_payment"


# Holds -------------------------------------------------------------------------------


async def held_payment(world: World, amount=20 * YUAN, key="pay-1", **guard_kw) -> Held:
    """Alice (a wallet opened today, ¥100) sends Bob ``amount``, which the guard holds."""
    if ALICE not in world.accounts:
        await world.person(ALICE, at=START_MS, funds=100 * YUAN)
        await world.person(BOB, funds=1 * YUAN)
    guard = world.guard(HOLD_RULES, **guard_kw)
    decision = await guard.assess(ALICE, amount, "transfer", BOB)
    assert decision.action is RiskAction.HOLD
    return await guard.hold(
        key, world.accounts[ALICE], world.accounts[BOB], amount, "transfer", decision, memo="rent"
    )


async def test_a_hold_reserves_the_money_and_tells_the_admins(world):
    held = await held_payment(world)

    alice, bob = await world.balance(ALICE), await world.balance(BOB)
    assert (alice.available, alice.reserved, bob.available) == (80 * YUAN, 20 * YUAN, 1 * YUAN)
    assert (held.payer_telegram_id, held.recipient_telegram_id, held.amount) == (ALICE, BOB, 20_00)
    assert (held.kind, held.memo, held.state) == ("transfer", "rent", HoldState.OPEN)
    assert held.reasons == ("new_account_large_amount",)  # not the PIN the payer entered
    assert world.notified == [held]
    guard = world.guard(HOLD_RULES)
    assert await guard.open_holds() == [held]
    assert await guard.get_hold(held.id) == held
    pending = await world.ledger.store.get_transfer(held.pending_transfer_id)
    assert (pending.flag, pending.timeout_ms, pending.kind) == ("pending", 0, "transfer")
    # a held payment is sent money until it is rejected
    assert (await guard.facts(ALICE, 1, "transfer")).sent_today_fen == 20 * YUAN
    assert [e.event for e in await world.events()] == ["risk.hold", "hold.opened"]


async def test_approving_posts_the_held_payment_exactly_once(world, audit):
    held = await held_payment(world)
    guard = world.guard()

    approved = await guard.approve(held.id, ADMIN)

    assert (approved.state, approved.decided_by, approved.decided_at) == (
        HoldState.APPROVED,
        ADMIN,
        START_MS,
    )
    for decide in (guard.approve, guard.reject):
        with pytest.raises(HeldPaymentAlreadyDecided) as refused:
            await decide(held.id, ADMIN)
        assert refused.value.params == {"held_id": held.id, "state": "approved"}
    alice, bob = await world.balance(ALICE), await world.balance(BOB)
    assert (alice.available, alice.reserved, bob.available) == (80 * YUAN, 0, 21 * YUAN)
    assert await guard.open_holds() == []
    (event,) = await world.events("admin.")
    assert (event.event, event.actor_id, event.subject_id) == ("admin.hold_approved", ADMIN, ALICE)
    assert event.details["held_id"] == held.id and event.details["amount"] == 20_00
    assert (await audit()).ok


async def test_an_admin_who_pays_or_receives_a_held_payment_may_reject_but_not_approve_it(
    world, audit
):
    held = await held_payment(world)
    guard = world.guard()
    for admin in (ALICE, BOB):  # the payer, the recipient: another admin must approve
        with pytest.raises(HeldPaymentOwn) as refused:
            await guard.approve(held.id, admin)
        assert refused.value.code == "held_payment_own"
    assert await guard.open_holds() == [held]  # nothing decided, nothing moved
    alice, bob = await world.balance(ALICE), await world.balance(BOB)
    assert (alice.available, alice.reserved, bob.available) == (80 * YUAN, 20 * YUAN, 1 * YUAN)
    assert await world.events("admin.") == []

    rejected = await guard.reject(held.id, ALICE)  # the payer calls it off

    assert (rejected.state, rejected.decided_by) == (HoldState.REJECTED, ALICE)
    assert (await world.balance(ALICE)).available == 100 * YUAN
    assert (await audit()).ok


async def test_rejecting_voids_the_held_payment_and_it_no_longer_counts(world, audit):
    held = await held_payment(world)
    guard = world.guard()

    rejected = await guard.reject(held.id, ADMIN)

    assert rejected.state is HoldState.REJECTED
    alice, bob = await world.balance(ALICE), await world.balance(BOB)
    assert (alice.available, alice.reserved, bob.available) == (100 * YUAN, 0, 1 * YUAN)
    assert (await guard.facts(ALICE, 1, "transfer")).sent_today_fen == 0
    assert [e.event for e in await world.events("admin.")] == ["admin.hold_rejected"]
    assert (await audit()).ok


async def test_approve_and_reject_at_once_one_wins_and_the_money_adds_up(world, audit, clock):
    holds = []
    for i in range(6):
        holds.append(await held_payment(world, 11 * YUAN, key=f"pay-{i}"))
    guard = world.guard()

    won = {}
    for i, held in enumerate(holds):
        racers = (guard.approve, guard.reject) if i % 2 else (guard.reject, guard.approve)
        results = await asyncio.gather(
            *(decide(held.id, ADMIN + n) for n, decide in enumerate(racers)),
            return_exceptions=True,
        )
        (winner,) = [r for r in results if isinstance(r, Held)]
        (loser,) = [r for r in results if not isinstance(r, Held)]
        assert isinstance(loser, HeldPaymentAlreadyDecided)
        assert (await guard.get_hold(held.id)).state is winner.state
        won[held.id] = winner.state

    approved = sum(1 for state in won.values() if state is HoldState.APPROVED)
    alice, bob = await world.balance(ALICE), await world.balance(BOB)
    assert alice.reserved == 0
    assert alice.available == 100 * YUAN - approved * 11 * YUAN
    assert bob.available == 1 * YUAN + approved * 11 * YUAN
    assert len(await world.events("admin.")) == len(holds)
    report = await audit()
    assert report.ok, report.problems
    assert report.open_pending == 0
    count, problems = await verify_events(world.store.security.events())
    assert problems == [] and count == len(await world.events())


async def test_a_failing_notify_hook_does_not_fail_the_hold(world, caplog):
    async def broken(held: Held) -> None:
        raise RuntimeError("Telegram is down")

    with caplog.at_level(logging.ERROR, logger="bot.security.guard"):
        held = await held_payment(world, notify=broken)

    assert (await world.guard().get_hold(held.id)).state is HoldState.OPEN
    assert (await world.balance(ALICE)).reserved == 20 * YUAN
    assert "held payment" in caplog.text and "Telegram is down" in caplog.text


async def test_replaying_a_hold_returns_the_same_hold_and_reserves_once(world):
    first = await held_payment(world, key="pay-9")
    again = await held_payment(world, key="pay-9")

    assert again == first
    assert (await world.balance(ALICE)).reserved == 20 * YUAN
    assert len(await world.guard().open_holds()) == 1
    with pytest.raises(IdempotencyConflict):
        await held_payment(world, amount=30 * YUAN, key="pay-9")


async def test_a_hold_that_cannot_reserve_leaves_no_review_item(world, audit):
    with pytest.raises(InsufficientFunds):
        await held_payment(world, amount=100 * YUAN + 1)

    guard = world.guard()
    assert await guard.open_holds() == []
    assert world.notified == []
    assert [e.event for e in await world.events()] == ["risk.hold"]
    assert (await audit()).ok


async def test_a_hold_needs_a_hold_decision_and_a_known_id(world):
    await world.person(ALICE, funds=10 * YUAN)
    await world.person(BOB)
    guard = world.guard()
    allow = await guard.assess(ALICE, 1, "transfer", BOB)
    with pytest.raises(ValueError, match="only a payment the guard held"):
        await guard.hold("k", world.accounts[ALICE], world.accounts[BOB], 1, "transfer", allow)
    for action in (guard.approve, guard.reject):
        with pytest.raises(HeldPaymentNotFound):
            await action(404, ADMIN)
    with pytest.raises(HeldPaymentNotFound):
        await guard.get_hold(404)
