"""The stores of the admin console's ports (payouts, refunds, broadcasts, the admin view)
and of the follow-ups tell the same story on SQLite and in memory: every answer and
refusal, the journal with its hashes, the accounts and the security log come out alike
(``twins``), so the services' tests on the fakes (``tests/unit/*_on_fakes.py``) hold."""

from __future__ import annotations

from bot.domain.broadcasts import BROADCAST_EVENT, RecipientState
from bot.domain.followups import OpenQuestion, PendingDeletion
from bot.domain.holds import HOLD_OPENED
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.payouts import PAYOUT_PAID, PAYOUT_REJECTED
from bot.domain.refunds import REFUND_EVENT
from bot.domain.support import TICKET_CLOSED
from bot.domain.users import Profile
from tests.integration.test_port_stories import register, system
from tests.integration.twins import Told, assert_told_alike, spec, tell

DAY_MS = 86_400_000


async def payouts_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 10_000)]))
    out = spec(accounts[1], external, 300, kind="withdraw", flag=TransferFlag.PENDING)
    await ask(db.withdrawals.open_withdrawal("w1", out, 1, "1234", "req-1"))
    await ask(db.payouts.enqueue("req-1", "1234", 300, "CNY"))
    clock.advance(seconds=1)
    await ask(db.payouts.enqueue("req-1", "9999", 1, "CNY"))  # a repeat: the first
    await ask(db.payouts.enqueue("req-2", "5678", 200, "CNY"))  # no withdrawal of its own
    await ask(db.payouts.close_unknown("req-3"))
    await ask(db.payouts.close_unknown("req-2"))  # known: as it stands
    await ask(db.payouts.enqueue("req-3", "1111", 5, "CNY"))  # closed before: stays closed
    await ask(db.payouts.queued(10))
    await ask(db.payouts.queued(1))
    await ask(db.payouts.decide(1, True, 900, "REF-1", PAYOUT_PAID))
    await ask(db.payouts.decide(1, False, 901, "late", PAYOUT_REJECTED))  # decided already
    await ask(db.payouts.decide(3, True, 900, "REF-3", PAYOUT_PAID))  # closed
    await ask(db.payouts.decide(77, True, 900, "REF-77", PAYOUT_PAID))  # no such payout
    await ask(db.payouts.decide(2, False, 901, "name differs", PAYOUT_REJECTED))
    for payout_id in (1, 2, 3, 4):
        await ask(db.payouts.get_payout(payout_id))
    for request_id in ("req-1", "req-2", "req-3", "req-4"):
        await ask(db.payouts.find_payout(request_id))
    await ask(db.payouts.queued(10))


async def test_the_payouts_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, payouts_story, twin_back_ends))


async def refunds_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 10_000)]))
    await ask(db.ledger.create_transfers("pay", [spec(accounts[1], accounts[2], 3_000)]))
    payment = 2
    await ask(db.refunds.preview(payment, None))
    await ask(db.refunds.preview(payment, 1_000))
    await ask(db.refunds.preview(payment, 5_000))  # more than was paid
    await ask(db.refunds.preview(99, None))  # no such transfer
    await ask(db.refunds.refund("r1", payment, 1_000, 900, "wrong size", REFUND_EVENT))
    clock.advance(seconds=1)
    await ask(db.refunds.refund("r1", payment, 1_000, 900, "wrong size", REFUND_EVENT))  # replay
    await ask(db.refunds.refund("r1", payment, 500, 900, "wrong size", REFUND_EVENT))  # conflict
    await ask(db.refunds.refund("r2", payment, 2_500, 900, "too much", REFUND_EVENT))
    await ask(db.refunds.refund("r3", 3, None, 900, "a refund's refund", REFUND_EVENT))
    await ask(db.ledger.create_transfers("spend", [spec(accounts[2], external, 1_500)]))
    await ask(db.refunds.refund("r4", payment, None, 900, "the rest", REFUND_EVENT))  # short
    await ask(db.refunds.preview(payment, None))
    await ask(db.refunds.refund("r5", payment, 500, 900, "part", REFUND_EVENT))
    await ask(db.refunds.refund("r6", 1, None, 900, "a top-up", REFUND_EVENT))
    await ask(db.refunds.preview(payment, None))


async def test_the_refunds_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, refunds_story, twin_back_ends))


async def broadcasts_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2, 3, 4)
    await ask(db.users.upsert_user(Profile(5, None, "Group only"), "CNY", False))
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 100)]))
    await ask(db.broadcasts.set_reachable(4, False))
    await ask(db.broadcasts.audience_size())
    await ask(db.broadcasts.create_broadcast("k1", 900, "hello", BROADCAST_EVENT))
    clock.advance(seconds=1)
    await ask(db.broadcasts.create_broadcast("k1", 900, "again", BROADCAST_EVENT))
    await ask(db.broadcasts.pending_recipients(1, 2))
    for person in (1, 1, 2, 3, 9):
        await ask(db.broadcasts.claim_recipient(1, person))
    await ask(db.broadcasts.record_deliveries(1, {1: RecipientState.SENT}))
    await ask(db.broadcasts.record_deliveries(1, {2: RecipientState.BLOCKED}))
    await ask(db.broadcasts.record_deliveries(1, {1: RecipientState.FAILED}))  # final stays
    await ask(db.broadcasts.record_deliveries(1, {3: RecipientState.PENDING}))  # not a result
    await ask(db.broadcasts.finish_broadcast(1))  # 3 still sending: not finished
    await ask(db.broadcasts.reopen_stale_claims(1, 2))
    await ask(db.broadcasts.claim_recipient(1, 3))
    await ask(db.broadcasts.reopen_stale_claims(1, 2))  # claimed twice: failed now
    await ask(db.broadcasts.set_progress_message(1, 900, 77))
    await ask(db.broadcasts.get_broadcast(1))
    await ask(db.broadcasts.unfinished_broadcasts())
    await ask(db.broadcasts.finish_broadcast(1))
    await ask(db.broadcasts.finish_broadcast(2))  # no such broadcast
    await ask(db.broadcasts.audience_size())  # 2 blocked the bot
    await ask(db.broadcasts.set_reachable(2, True))
    await ask(db.broadcasts.create_broadcast("k2", 901, "two", BROADCAST_EVENT))
    await ask(db.broadcasts.unfinished_broadcasts())
    await ask(db.broadcasts.get_broadcast(3))


async def test_the_broadcasts_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, broadcasts_story, twin_back_ends))


async def admin_view_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 10_000)]))
    clock.advance(seconds=DAY_MS // 1000)
    await register(db, told, 3)
    await ask(db.ledger.create_transfers("pay", [spec(accounts[1], accounts[2], 700)]))
    held = spec(accounts[1], accounts[2], 900, flag=TransferFlag.PENDING)
    await ask(db.holds.open_hold("h1", held, ["new_account"], HOLD_OPENED))
    await ask(db.ledger.create_transfers("reserve", [held.__class__(
        accounts[1], external, 50, TransferKind.WITHDRAW, flag=TransferFlag.PENDING
    )]))  # fmt: skip
    ticket = await ask(db.support.open_ticket(1, "help", ()))
    await ask(db.support.open_ticket(1, "more help", ()))
    await ask(db.support.close_ticket(ticket.id, 900, TICKET_CLOSED))
    for telegram_id in (1, 2, 3):
        await ask(db.adminview.open_tickets(telegram_id))
        await ask(db.adminview.pin_locked_until(telegram_id))
        await ask(db.adminview.pin_lockouts(telegram_id, 0))
    await ask(db.adminview.holds_of(accounts[1], 0))
    await ask(db.adminview.holds_of(accounts[1], clock() + 1))
    await ask(db.adminview.holds_of(accounts[2], 0))
    await ask(db.adminview.daily_activity(0, DAY_MS, 8 * 3_600_000))
    await ask(db.adminview.daily_activity(clock() - 1, DAY_MS, 0))
    await ask(db.adminview.record_event(900, "admin.view_user", 1, {}))


async def test_the_admin_view_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, admin_view_story, twin_back_ends))


async def followups_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 1)]))
    await ask(db.followups.ask_question(OpenQuestion("payout_note", 1, [1, True, 5], 10)))
    await ask(db.followups.ask_question(OpenQuestion("payout_note", 1, {"a": [1]}, 20)))
    await ask(db.followups.ask_question(OpenQuestion("ticket_answer", 1, 7, 30)))
    await ask(db.followups.open_questions("payout_note"))
    await ask(db.followups.drop_question("ticket_answer", 1))
    await ask(db.followups.open_questions("ticket_answer"))
    await ask(db.followups.delete_later(PendingDeletion(1, 2, 300, "2fa_qr", 1)))
    await ask(db.followups.delete_later(PendingDeletion(1, 3, 100, "card_reveal", None)))
    await ask(db.followups.delete_later(PendingDeletion(1, 2, 200, "2fa_qr", 1)))
    await ask(db.followups.pending_deletions())
    await ask(db.followups.deleted(1, 3))
    await ask(db.followups.pending_deletions())


async def test_the_follow_ups_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, followups_story, twin_back_ends))
