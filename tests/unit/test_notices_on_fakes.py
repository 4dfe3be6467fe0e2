"""The services write their notices once, on the in-memory stores: a voucher issue and a
coupon grant one per holder (a replay none more), a withdrawal settled after the fact
one for its owner however often it is announced; the sender sends each once."""

from __future__ import annotations

from bot.domain.notices import NoticeState
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.vouchers import VoucherIssueOrder
from bot.wallet.ledger import Ledger
from bot.wallet.notices import Notices
from bot.wallet.offers import COUPON_NOTICE, VOUCHER_NOTICE, Offers
from bot.wallet.users import Users
from tests.fakes import MemoryDatabase

HOLDERS = [11, 12, 13]


async def offers_over(db: MemoryDatabase) -> tuple[Offers, Notices]:
    ledger = Ledger(db.ledger, "CNY")
    await ledger.open_system_accounts()
    notices = Notices(db.notices)
    return Offers(db.offers, ledger, Users(db.users, "CNY"), notices=notices), notices


async def test_an_issue_writes_one_notice_per_holder_and_a_replay_none_more():
    db = MemoryDatabase()
    offers, notices = await offers_over(db)
    order = VoucherIssueOrder(5_00, 30, frozenset({"food"}), None)

    issue = await offers.issue(1, "issue-1", order, HOLDERS)
    await offers.issue(1, "issue-1", order, HOLDERS)  # the confirmation replayed

    sent = []

    async def deliver(notice) -> NoticeState:
        sent.append((notice.telegram_id, notice.kind, notice.params))
        return NoticeState.SENT

    assert await notices.run(deliver) == 3
    assert await notices.run(deliver) == 0
    params = {"amount": 5_00, "categories": ["food"], "expires_at": issue.expires_at}
    assert sent == [(h, VOUCHER_NOTICE, params) for h in HOLDERS]


async def test_a_grant_writes_one_notice_per_holder_of_its_key():
    db = MemoryDatabase()
    offers, notices = await offers_over(db)
    campaign, _ = await offers.create_campaign(
        1,
        "campaign-1",
        CampaignOrder("Tea", CouponRule.SPEND_OFF, 10_00, 2_00, 0, 0, 100_00, 7),
    )

    await offers.grant(1, "grant-1", campaign.id, HOLDERS[:2])
    await offers.grant(1, "grant-1", campaign.id, HOLDERS[:2])
    await offers.grant(1, "grant-2", campaign.id, HOLDERS[2:])

    keys = [f"coupon:grant-1:{h}" for h in HOLDERS[:2]] + [f"coupon:grant-2:{HOLDERS[2]}"]
    found = [await notices.get(key) for key in keys]
    assert [(n.telegram_id, n.kind, n.params) for n in found] == [
        (h, COUPON_NOTICE, {"campaign_id": campaign.id}) for h in HOLDERS
    ]
    assert await db.notices.claim_notices(10, 1_000, 3) == found_claimed(found)


def found_claimed(found: list) -> list:
    return [
        type(n)(n.id, n.key, n.telegram_id, n.kind, n.params, NoticeState.SENDING, 1, n.created_at)
        for n in found
    ]


async def test_a_notice_that_raises_in_its_send_is_tried_again_later():
    db = MemoryDatabase()
    offers, notices = await offers_over(db)
    await offers.issue(1, "issue-1", VoucherIssueOrder(5_00, 30, frozenset(), None), [11])

    async def broken(notice) -> NoticeState:
        raise RuntimeError("the network")

    assert await notices.run(broken) == 1
    left = await notices.get("voucher:1:11")
    assert (left.state, left.attempts) == (NoticeState.PENDING, 1)
