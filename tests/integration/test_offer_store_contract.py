"""The offers' store keeps one contract on SQLite, PostgreSQL and in memory
(``tests.fakes.offers``): the same answers, refusals, journal and security log for the
same story."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    CampaignNotFound,
    CampaignNotRedeemable,
    CouponGrantLimitReached,
    CouponUnavailable,
    IdempotencyConflict,
    PointsShort,
    StorageError,
)
from bot.domain.model import AccountKind
from bot.domain.offer_store import HolderNotice
from bot.domain.offers import VOUCHER_ESCROW, VOUCHER_ISSUER
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.vouchers import VoucherIssueOrder, VoucherState
from bot.storage.postgres import offers_store as pg_offers
from bot.storage.sqlite import offer_writes as sqlite_offers
from bot.wallet.audit import audit_ledger
from tests.fakes import ManualClock
from tests.fakes import offers as memory_offers
from tests.integration.twins import Told, assert_told_alike, spec, tell

DAY_S = 86_400


@pytest.fixture
def clock(manual_clock) -> ManualClock:
    return manual_clock  # the clock of ``db``


async def accounts(db) -> tuple[int, int]:
    escrow = await db.ledger.open_account(VOUCHER_ESCROW, AccountKind.SYSTEM, "CNY")
    issuer = await db.ledger.open_account(VOUCHER_ISSUER, AccountKind.SYSTEM, "CNY")
    return escrow.id, issuer.id


ORDER = VoucherIssueOrder(20_00, 1, frozenset({"food"}), None)
LUNCH = CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 7, points_cost=0)


async def test_an_issue_moves_the_total_once_and_expires_once(db, clock):
    escrow, issuer = await accounts(db)
    issue = await db.offers.issue_vouchers("k", ORDER, [1, 2, 1], escrow, issuer, 9, "e")
    assert (issue.count, issue.total_fen, issue.replayed) == (2, 40_00, False)
    again = await db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e")
    assert again.replayed and again.transfer_id == issue.transfer_id
    assert (await db.ledger.get_account(escrow)).balance == 40_00
    mine = await db.offers.live_vouchers(1, clock())
    assert [(v.remaining_fen, v.categories, v.state) for v in mine] == [
        (20_00, frozenset({"food"}), VoucherState.LIVE)
    ]
    assert await db.offers.due_voucher_issues(clock(), 10) == []
    assert await db.offers.expire_voucher_issue(issue.id) is None  # not due
    clock.advance(seconds=DAY_S)
    assert await db.offers.due_voucher_issues(clock(), 10) == [issue.id]
    expiry = await db.offers.expire_voucher_issue(issue.id)
    assert (expiry.vouchers, expiry.returned_fen) == (2, 40_00)
    assert await db.offers.expire_voucher_issue(issue.id) is None
    assert (await db.ledger.get_account(escrow)).balance == 0
    assert await db.offers.live_vouchers(1, clock()) == []
    async with db.snapshot() as snapshot:
        assert (await audit_ledger(snapshot)).ok


async def test_an_issue_key_that_moved_other_money_is_a_conflict(db):
    escrow, issuer = await accounts(db)
    await db.offers.issue_vouchers("k", ORDER, [1], escrow, issuer, 9, "e")
    other = VoucherIssueOrder(30_00, 1, frozenset(), None)
    replay = await db.offers.issue_vouchers("k", other, [1], escrow, issuer, 9, "e")
    assert replay.replayed and replay.amount_fen == 20_00  # the first issue answers
    await db.ledger.create_transfers("taken", [spec(issuer, escrow, 1)])
    with pytest.raises(IdempotencyConflict):
        await db.offers.issue_vouchers("taken", ORDER, [1], escrow, issuer, 9, "e")
    assert (await db.ledger.get_account(escrow)).balance == 20_01  # nothing more moved


async def test_campaigns_and_grants_are_once_per_key(db, clock):
    made, replayed = await db.offers.create_campaign("c", LUNCH, 9, "campaign")
    assert (made.id, made.starts_at, replayed) == (1, clock(), False)
    assert await db.offers.create_campaign("c", LUNCH, 9, "campaign") == (made, True)
    assert await db.offers.get_campaign(made.id) == made
    assert await db.offers.get_campaign(99) is None
    assert await db.offers.grant_coupons("g", made.id, [1, 2], 9, "grant") == 2
    assert await db.offers.grant_coupons("g", made.id, [1, 2, 3], 9, "grant") == 1
    held = await db.offers.held_coupons(1, clock())
    assert [(h.coupon.campaign_id, h.used_by_holder) for h in held] == [(made.id, 0)]
    with pytest.raises(CampaignNotFound):
        await db.offers.grant_coupons("g", 99, [1], 9, "grant")
    clock.advance(seconds=7 * DAY_S)
    assert await db.offers.held_coupons(1, clock()) == []  # the campaign ended
    with pytest.raises(CouponUnavailable):
        await db.offers.grant_coupons("late", made.id, [1], 9, "grant")


async def test_a_grant_past_the_per_person_limit_writes_nothing(db, clock):
    made, _ = await db.offers.create_campaign("c", LUNCH, 9, "campaign")  # one a person
    assert await db.offers.grant_coupons("g", made.id, [1], 9, "grant") == 1
    with pytest.raises(CouponGrantLimitReached) as refused:
        await db.offers.grant_coupons("g2", made.id, [2, 1, 3], 9, "grant")
    assert refused.value.params == {
        "campaign_id": made.id,
        "limit": 1,
        "holder_id": 1,
        "holders": 1,
        "full": (1,),
    }
    assert await db.offers.held_coupons(2, clock()) == []  # all or nothing
    assert await db.offers.grant_coupons("g", made.id, [1], 9, "grant") == 0  # a replay
    assert await db.offers.grant_coupons("g3", made.id, [2, 3, 2], 9, "grant") == 2


async def test_points_redeem_only_what_is_offered_and_held(db):
    made, _ = await db.offers.create_campaign("c", LUNCH, 9, "campaign")
    with pytest.raises(CampaignNotRedeemable):
        await db.offers.redeem_points("r", 1, made.id)
    offered = CampaignOrder(
        "Tea", CouponRule.PERCENT_OFF, 0, 0, 10, 3_00, 10_00, 7, 1, None, None, 50
    )
    tea, _ = await db.offers.create_campaign("t", offered, 9, "campaign")
    assert [c.id for c in await db.offers.redeemable_campaigns(db.now_ms())] == [tea.id]
    with pytest.raises(PointsShort) as short:
        await db.offers.redeem_points("r", 1, tea.id)
    assert short.value.params == {"balance": 0, "cost": 50}
    assert await db.offers.points_of(1, 0) == (0, 0)


async def story(db, clock: ManualClock, told: Told) -> None:
    escrow, issuer = await accounts(db)
    ask = told.ask
    await ask(db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e"))
    await ask(db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e"))
    await ask(db.offers.create_campaign("c", LUNCH, 9, "campaign"))
    await ask(db.offers.grant_coupons("g", 1, [1, 2], 9, "grant"))
    await ask(db.offers.grant_coupons("g", 7, [1, 2], 9, "grant"))
    await ask(db.offers.redeem_points("r", 1, 1))
    await ask(db.offers.live_vouchers(2, clock()))
    await ask(db.offers.held_coupons(2, clock()))
    clock.advance(seconds=DAY_S)
    await ask(db.offers.due_voucher_issues(clock(), 5))
    await ask(db.offers.expire_voucher_issue(1))
    await ask(db.offers.expire_voucher_issue(1))
    await ask(db.offers.points_of(1, 0))


async def test_the_offers_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, story, twin_back_ends))


# The holders' notices, in the issue's or the grant's own write --------------------------

VOUCHER = HolderNotice("voucher.received")
COUPON = HolderNotice("coupon.received", {"note": "spring"})


async def pending(db) -> list[tuple[str, int, str, dict]]:
    """Every notice not sent yet, read through the notices' store (claimed to be read)."""
    claimed = await db.notices.claim_notices(1_000, 60_000, 3)
    return [(n.key, n.telegram_id, n.kind, n.params) for n in claimed]


class Stopped(Exception):
    """The process stopped after the write's last row, before its commit."""


def stop_before_commit(monkeypatch) -> None:
    """From now on each back end's notice writer (the write's last step) writes its
    rows, then fails before the commit; ``monkeypatch.undo()`` ends it."""
    real = (sqlite_offers.add_notices, pg_offers.tell, memory_offers.add_notices)

    def on_sqlite(conn, now_ms, notices):
        real[0](conn, now_ms, notices)
        raise Stopped

    async def on_postgres(conn, now_ms, notices):
        await real[1](conn, now_ms, notices)
        raise Stopped

    def in_memory(state, notices):
        real[2](state, notices)
        raise Stopped

    monkeypatch.setattr(sqlite_offers, "add_notices", on_sqlite)
    monkeypatch.setattr(pg_offers, "tell", on_postgres)
    monkeypatch.setattr(memory_offers, "add_notices", in_memory)


async def test_an_issue_tells_each_holder_once_with_it_and_a_replay_tells_nobody_more(db):
    escrow, issuer = await accounts(db)
    issue = await db.offers.issue_vouchers("k", ORDER, [2, 1, 2], escrow, issuer, 9, "e", VOUCHER)
    assert issue.holders == (2, 1)
    params = {"amount": 20_00, "categories": ["food"], "expires_at": issue.expires_at}
    assert await pending(db) == [
        (f"voucher:{issue.id}:{h}", h, "voucher.received", params) for h in (2, 1)
    ]
    # the same key from a card whose list grew: the first issue answers, nobody is told
    again = await db.offers.issue_vouchers("k", ORDER, [1, 2, 3], escrow, issuer, 9, "e", VOUCHER)
    assert again.replayed and again.holders == (2, 1)
    assert await pending(db) == []
    assert await db.notices.get_notice(f"voucher:{issue.id}:3") is None
    assert await db.offers.live_vouchers(3, db.now_ms()) == []


async def test_an_issue_without_a_notice_tells_nobody_and_its_replay_tells_its_holders(db):
    escrow, issuer = await accounts(db)
    issue = await db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e")
    assert await pending(db) == []
    again = await db.offers.issue_vouchers("k", ORDER, [1, 2, 3], escrow, issuer, 9, "e", VOUCHER)
    assert [key for key, *_ in await pending(db)] == [f"voucher:{issue.id}:{h}" for h in (1, 2)]
    assert again.replayed and again.holders == (1, 2)


async def test_a_stop_before_the_issue_commits_leaves_neither_vouchers_nor_notices(db, monkeypatch):
    escrow, issuer = await accounts(db)
    stop_before_commit(monkeypatch)
    with pytest.raises(StorageError) as stopped:
        await db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e", VOUCHER)
    assert isinstance(stopped.value.__cause__, Stopped)
    assert await db.offers.live_vouchers(1, db.now_ms()) == []
    assert (await db.ledger.get_account(escrow)).balance == 0
    assert await db.offers.due_voucher_issues(db.now_ms() + 10 * DAY_S * 1000, 10) == []
    assert await db.notices.get_notice("voucher:1:1") is None
    assert await pending(db) == []
    async with db.snapshot() as snapshot:
        assert (await audit_ledger(snapshot)).ok


async def test_the_issue_retried_after_a_stop_is_written_whole_with_its_notices(db, monkeypatch):
    escrow, issuer = await accounts(db)
    stop_before_commit(monkeypatch)
    with pytest.raises(StorageError):
        await db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e", VOUCHER)
    monkeypatch.undo()

    issue = await db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e", VOUCHER)
    assert not issue.replayed and issue.holders == (1, 2)
    assert [(key, who) for key, who, *_ in await pending(db)] == [
        (f"voucher:{issue.id}:{h}", h) for h in (1, 2)
    ]
    assert (await db.ledger.get_account(escrow)).balance == 40_00


async def test_issues_of_one_key_at_once_tell_the_holders_of_the_one_written(db):
    escrow, issuer = await accounts(db)
    answers = await asyncio.gather(
        db.offers.issue_vouchers("k", ORDER, [1, 2], escrow, issuer, 9, "e", VOUCHER),
        db.offers.issue_vouchers("k", ORDER, [3, 2, 1], escrow, issuer, 9, "e", VOUCHER),
    )
    (written,) = [a for a in answers if not a.replayed]
    assert all(a.id == written.id and a.holders == written.holders for a in answers)
    assert [(key, who) for key, who, *_ in await pending(db)] == [
        (f"voucher:{written.id}:{h}", h) for h in written.holders
    ]
    assert (await db.ledger.get_account(escrow)).balance == 20_00 * len(written.holders)


async def test_a_grant_tells_each_holder_of_its_key_once_with_it(db, clock):
    made, _ = await db.offers.create_campaign("c", LUNCH, 9, "campaign")
    assert await db.offers.grant_coupons("g", made.id, [1, 2, 1], 9, "grant", COUPON) == 2
    params = {"campaign_id": made.id, "note": "spring"}
    assert await pending(db) == [(f"coupon:g:{h}", h, "coupon.received", params) for h in (1, 2)]
    # the key replayed with one more holder: the new holder's coupon and notice only
    assert await db.offers.grant_coupons("g", made.id, [1, 2, 3], 9, "grant", COUPON) == 1
    assert await pending(db) == [("coupon:g:3", 3, "coupon.received", params)]
    assert await db.offers.grant_coupons("g", made.id, [3], 9, "grant", COUPON) == 0
    assert await pending(db) == []
    clock.advance(seconds=7 * DAY_S)
    with pytest.raises(CouponUnavailable):  # ended: no coupon, nobody told
        await db.offers.grant_coupons("late", made.id, [1], 9, "grant", COUPON)
    assert await db.notices.get_notice("coupon:late:1") is None


async def test_a_stop_before_the_grant_commits_leaves_neither_coupons_nor_notices(
    db, clock, monkeypatch
):
    made, _ = await db.offers.create_campaign("c", LUNCH, 9, "campaign")
    stop_before_commit(monkeypatch)
    with pytest.raises(StorageError):
        await db.offers.grant_coupons("g", made.id, [1, 2], 9, "grant", COUPON)
    assert await db.offers.held_coupons(1, clock()) == []
    assert await db.offers.held_coupons(2, clock()) == []
    assert await pending(db) == []
