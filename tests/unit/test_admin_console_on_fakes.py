"""The admin console's services on the in-memory stores: the manual payout queue (the
admins told, a decision taken once, the full card shown audited and only while it is
the payout's), refunds, and a broadcast a crash interrupted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.domain.broadcasts import RecipientState
from bot.domain.errors import (
    PayoutAlreadyDecided,
    PayoutCardUnavailable,
    RefundExceedsRemaining,
    RefundPayeeShort,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.security_ports import Action
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalStatus
from bot.gateways.manual import ManualGateway
from bot.security.cards import luhn_check_digit
from bot.wallet.broadcasts import Broadcasts
from bot.wallet.payouts import Payouts
from bot.wallet.refunds import Refunds
from tests.fakes.wallet import FakeWallet

ALICE, BOB, ADMIN, OTHER_ADMIN = 1, 2, 9, 10
CARD = "622202020011234567" + luhn_check_digit("622202020011234567")
NEW_CARD = "622202020099887766" + luhn_check_digit("622202020099887766")


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


@pytest.fixture
def queued(wallet) -> list:
    """The manual gateway over the fake queue; what it told of each payout queued."""
    told: list = []

    async def on_queued(payout) -> None:
        told.append(payout)

    wallet.withdrawals.gateway = ManualGateway(wallet.db.payouts, on_queued=on_queued)
    return told


def payouts(wallet: FakeWallet) -> Payouts:
    return Payouts(wallet.db.payouts, wallet.withdrawals, wallet.users, wallet.guard)


async def queue_a_withdrawal(wallet: FakeWallet, amount: str = "60"):
    alice = await wallet.person(ALICE, funds=10_000)
    await wallet.verify(alice, card=CARD)
    order = await wallet.withdrawals.order(alice, amount)
    outcome = await wallet.withdrawals.settle("confirm", order)
    assert outcome.status is WithdrawalStatus.UNKNOWN  # waits for an admin
    return alice


def action(admin_id: int, **payload) -> SimpleNamespace:
    """What the keypad hands a confirmation once the admin's code was right."""
    return SimpleNamespace(telegram_id=admin_id, payload=payload, id="a1")


async def events(wallet: FakeWallet, name: str) -> list:
    async with wallet.db.snapshot() as snapshot:
        return [e async for e in snapshot.events() if e.event == name]


async def test_a_queued_payout_is_told_once_and_two_admins_at_once_decide_it_once(wallet, queued):
    alice = await queue_a_withdrawal(wallet)
    assert [(p.id, p.amount, p.card_last4, p.telegram_id) for p in queued] == [
        (1, 60_00, CARD[-4:], ALICE)
    ]
    queue = payouts(wallet)
    results = await asyncio.gather(
        queue.decide(1, ADMIN, paid=True, note="REF-A"),
        queue.decide(1, OTHER_ADMIN, paid=True, note="REF-B"),
        return_exceptions=True,
    )
    decided = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, PayoutAlreadyDecided)]
    assert len(decided) == 1 and len(refused) == 1
    assert decided[0].settled_now
    balance = await wallet.ledger.balance(alice.account_id)
    assert (balance.available, balance.reserved) == (40_00, 0)  # left the wallet once
    assert len(await events(wallet, "admin.payout_paid")) == 1


async def change_card(wallet, number: str) -> None:
    """Alice replaces her bound card, as her PIN keypad's confirmation does."""
    payload = await wallet.identity.card_change(ALICE, number)
    await wallet.identity.apply_card_change(Action("c", ALICE, "card", payload, "open", 0, 0))


async def test_the_full_card_is_shown_audited_and_only_while_it_is_the_payouts(wallet, queued):
    await queue_a_withdrawal(wallet)
    queue = payouts(wallet)
    shown = await queue.reveal_card(action(ADMIN, payout_id=1))
    assert (shown.outcome.card_number, shown.outcome.admin_id) == (CARD, ADMIN)
    (logged,) = await events(wallet, "admin.payout_card_revealed")
    assert (logged.actor_id, logged.subject_id, logged.details) == (
        ADMIN,
        ALICE,
        {"payout_id": 1, "card_last4": CARD[-4:]},
    )
    assert CARD not in str(logged.details)  # the log names the card, never its number

    await change_card(wallet, NEW_CARD)  # another card now: not this payout's
    with pytest.raises(PayoutCardUnavailable):
        await queue.reveal_card(action(ADMIN, payout_id=1))
    await change_card(wallet, CARD)
    await queue.decide(1, ADMIN, paid=False, note="name differs")
    with pytest.raises(PayoutAlreadyDecided):
        await queue.reveal_card(action(ADMIN, payout_id=1))
    assert len(await events(wallet, "admin.payout_card_revealed")) == 1


async def test_a_partial_refund_leaves_the_rest_and_no_more_can_be_refunded(wallet):
    alice = await wallet.person(ALICE, funds=100_00)
    bob = await wallet.person(BOB)
    payment = await wallet.ledger.transfer(
        "pay", alice.account_id, bob.account_id, 50_00, TransferKind.TRANSFER
    )
    refunds = Refunds(wallet.db.refunds)
    first = await refunds.refund(ADMIN, payment.id, 20_00, "wrong size", "r1")
    again = await refunds.refund(ADMIN, payment.id, 20_00, "wrong size", "r1")
    assert (first.left, again.replayed, again.transfer.id) == (30_00, True, first.transfer.id)
    with pytest.raises(RefundExceedsRemaining):
        await refunds.refund(ADMIN, payment.id, 30_01, "too much", "r2")
    await wallet.ledger.transfer("spend", bob.account_id, alice.account_id, 25_00, "transfer")
    with pytest.raises(RefundPayeeShort):  # Bob has ¥5 left of the ¥30
        await refunds.refund(ADMIN, payment.id, None, "the rest", "r3")
    assert (await wallet.ledger.balance(bob.account_id)).available == 5_00
    assert len(await events(wallet, "admin.refund")) == 1


async def test_only_a_payment_with_money_left_to_give_back_is_refundable(wallet):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    top_up = await wallet.ledger.transfer(
        "top-up", external, alice.account_id, 100_00, TransferKind.TOPUP
    )
    payment = await wallet.ledger.transfer(
        "pay", alice.account_id, bob.account_id, 50_00, TransferKind.TRANSFER
    )
    refunds = Refunds(wallet.db.refunds)
    assert await refunds.refundable(payment.id)
    assert not await refunds.refundable(top_up.id)
    assert not await refunds.refundable(999_999)  # no such transfer
    refund = await refunds.refund(ADMIN, payment.id, None, "all of it", "r1")
    assert not await refunds.refundable(payment.id)  # nothing left
    assert not await refunds.refundable(refund.transfer.id)  # a refund itself


async def test_a_broadcast_a_crash_interrupted_reaches_everyone_the_uncertain_once_more(wallet):
    people = [await wallet.person(i) for i in range(1, 11)]
    for person in people:  # they opened the private chat
        profile = Profile(person.telegram_id, person.username, person.first_name)
        await wallet.users.seen(profile, private_chat=True)
    broadcasts = Broadcasts(wallet.db.broadcasts, batch=4)
    begun = await broadcasts.begin("k", ADMIN, "Water is off")
    sent: list[int] = []
    hanging: set[int] = set()

    async def dies_after_five(telegram_id: int, text: str) -> RecipientState:
        if len(sent) + len(hanging) >= 5:
            hanging.add(telegram_id)
            await asyncio.Event().wait()  # the process dies before Telegram answers
        sent.append(telegram_id)
        return RecipientState.SENT

    run = asyncio.ensure_future(broadcasts.run(begun.id, dies_after_five, _no_report))
    for _ in range(1000):  # until the five answers are written and three sends hang
        await asyncio.sleep(0)
        if (await broadcasts.get(begun.id)).sent == 5 and len(hanging) == 3:
            break
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert (len(sent), len(hanging)) == (5, 3)

    assert await broadcasts.reopen_stale_claims(begun.id) == (3, 0)
    after: list[int] = []

    async def delivers(telegram_id: int, text: str) -> RecipientState:
        after.append(telegram_id)
        return RecipientState.SENT

    done = await broadcasts.run(begun.id, delivers, _no_report)
    assert (done.sent, done.failed, done.finished) == (10, 0, True)
    assert sorted(sent + after) == [p.telegram_id for p in people]  # nobody missed
    assert hanging <= set(after)  # the uncertain ones once more


async def _no_report(broadcast) -> None:
    pass
