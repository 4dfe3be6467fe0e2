"""Coupons, vouchers and points in memory (the ``OfferStore`` of
``bot.domain.offer_store``), answering as ``bot.storage.sqlite.offers_store`` does.

Only the port is here: the merchant payment's hooks (``offers_ops.use``/``give_back``)
run inside a SQLite transaction and are tested on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.domain.errors import (
    CampaignMerchantUnknown,
    CampaignNotFound,
    CouponUnavailable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.offer_store import (
    HolderNotice,
    OfferStore,
    VoucherExpiry,
    VoucherIssue,
    grant_notices,
    issue_notices,
)
from bot.domain.promotions import (
    Campaign,
    CampaignOrder,
    Coupon,
    HeldCoupon,
    grant_refusal,
    redeem_refusal,
)
from bot.domain.vouchers import Voucher, VoucherIssueOrder, VoucherState, format_categories
from tests.fakes.ledger import create_transfers
from tests.fakes.notices import add_notices
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryOffers", "live_voucher_value"]


@dataclass(frozen=True, slots=True)
class IssueRow:
    issue: VoucherIssue
    key: str
    escrow_id: int
    issuer_id: int
    currency: str
    expired: bool = False


@dataclass(frozen=True, slots=True)
class PointsEntry:
    holder_id: int
    points: int
    reason: str  # payment | refund | redeem
    created_at: int


def live_voucher_value(state: MemoryState) -> dict[str, int]:
    """The remaining value of the live vouchers, by their escrow's currency."""
    value: dict[str, int] = {}
    for voucher in state.vouchers.values():
        if voucher.state is VoucherState.LIVE:
            currency = state.voucher_issues[voucher.issue_id].currency
            value[currency] = value.get(currency, 0) + voucher.remaining_fen
    return value


def _campaign(state: MemoryState, campaign_id: int) -> Campaign:
    found = state.campaigns.get(campaign_id)
    if found is None:
        raise CampaignNotFound(campaign_id=campaign_id)
    return found


def _create_campaign(
    state: MemoryState, key: str, order: CampaignOrder, admin_id: int, event: str
) -> tuple[Campaign, bool]:
    if key in state.campaign_keys:
        return state.campaigns[state.campaign_keys[key]], True
    if order.merchant_id is not None:  # the memory back end holds no merchants
        raise CampaignMerchantUnknown(merchant_id=order.merchant_id)
    made = order.campaign(len(state.campaigns) + 1, state.clock())
    state.campaigns[made.id] = made
    state.campaign_keys[key] = made.id
    details = {"campaign_id": made.id, "name": made.name, "rule": made.rule.value}
    details |= {"budget": made.budget_fen, "ends_at": made.ends_at, "key": key}
    record_event(state, admin_id, event, None, details)
    return made, False


def _grant(
    state: MemoryState,
    key: str,
    campaign_id: int,
    holder_ids: tuple[int, ...],
    admin_id: int,
    event: str,
    tell: HolderNotice | None = None,
) -> int:
    now = state.clock()
    granted_to = _campaign(state, campaign_id)
    if not granted_to.is_running(now):
        raise CouponUnavailable(coupon_id=0, campaign_id=campaign_id)
    got = {
        holder: sum(
            k.campaign_id == campaign_id and k.holder_id == holder for k in state.coupons.values()
        )
        for holder in dict.fromkeys(holder_ids)
        if (key, holder) not in state.coupon_keys
    }
    refused = grant_refusal(granted_to, got)
    if refused is not None:
        raise refused
    granted = 0
    for holder in holder_ids:
        if (key, holder) in state.coupon_keys:
            continue
        coupon = Coupon(len(state.coupons) + 1, campaign_id, holder, now)
        state.coupons[coupon.id] = coupon
        state.coupon_keys[(key, holder)] = coupon.id
        granted += 1
    if granted:
        details = {"campaign_id": campaign_id, "granted": granted, "key": key}
        record_event(state, admin_id, event, None, details)
    add_notices(state, grant_notices(tell, key, campaign_id, holder_ids))
    return granted


def _issue(
    state: MemoryState,
    key: str,
    order: VoucherIssueOrder,
    holder_ids: tuple[int, ...],
    escrow_id: int,
    issuer_id: int,
    admin_id: int,
    event: str,
    tell: HolderNotice | None = None,
) -> VoucherIssue:
    if key in state.issue_keys:  # who the first issue gave a voucher, not who is asked now
        issue = state.voucher_issues[state.issue_keys[key]].issue
        given = tuple(v.holder_id for v in state.vouchers.values() if v.issue_id == issue.id)
        issue = replace(issue, replayed=True, holders=given)
        add_notices(state, issue_notices(tell, issue, given))
        return issue
    holders = list(dict.fromkeys(holder_ids))
    if not holders:
        raise ValueError("an issue of vouchers has holders")
    total = order.amount_fen * len(holders)
    spec = TransferSpec(issuer_id, escrow_id, total, TransferKind.VOUCHER_ISSUE, ref="vouchers")
    (moved,), _ = create_transfers(state, key, (spec,))
    now = state.clock()
    issue = VoucherIssue(
        len(state.voucher_issues) + 1,
        order.amount_fen,
        len(holders),
        order.categories,
        now,
        order.expires_at(now),
        moved.id,
        holders=tuple(holders),
    )
    currency = state.accounts[escrow_id].currency
    state.voucher_issues[issue.id] = IssueRow(issue, key, escrow_id, issuer_id, currency)
    state.issue_keys[key] = issue.id
    for holder in holders:
        voucher_id = len(state.vouchers) + 1
        state.vouchers[voucher_id] = Voucher(
            voucher_id,
            issue.id,
            holder,
            order.amount_fen,
            order.amount_fen,
            order.categories,
            now,
            issue.expires_at,
        )
    details = {"issue_id": issue.id, "amount": order.amount_fen, "count": len(holders)}
    details |= {
        "total": total,
        "categories": format_categories(order.categories),
        "expires_at": issue.expires_at,
        "key": key,
    }
    record_event(state, admin_id, event, None, details)
    add_notices(state, issue_notices(tell, issue, holders))
    return issue


def _expire(state: MemoryState, issue_id: int) -> VoucherExpiry | None:
    row = state.voucher_issues.get(issue_id)
    if row is None or row.expired or state.clock() < row.issue.expires_at:
        return None
    mine = [v for v in state.vouchers.values() if v.issue_id == issue_id]
    live = [v for v in mine if v.state is VoucherState.LIVE]
    left = sum(v.remaining_fen for v in live)
    if left:
        spec = TransferSpec(
            row.escrow_id,
            row.issuer_id,
            left,
            TransferKind.VOUCHER_EXPIRY,
            ref=f"voucher_issue:{issue_id}",
        )
        create_transfers(state, f"voucher_issue:{issue_id}:expiry", (spec,))
    for voucher in mine:
        state.vouchers[voucher.id] = replace(voucher, state=VoucherState.EXPIRED)
    state.voucher_issues[issue_id] = replace(row, expired=True)
    return VoucherExpiry(issue_id, len(live), left)


def _balance(state: MemoryState, holder_id: int) -> int:
    return sum(e.points for e in state.points if e.holder_id == holder_id)


def _redeem(state: MemoryState, key: str, holder_id: int, campaign_id: int) -> Coupon:
    if (key, holder_id) in state.coupon_keys:
        return state.coupons[state.coupon_keys[(key, holder_id)]]
    now = state.clock()
    offered = _campaign(state, campaign_id)
    got = sum(
        k.campaign_id == campaign_id and k.holder_id == holder_id for k in state.coupons.values()
    )
    refused = redeem_refusal(offered, now, got, _balance(state, holder_id))
    if refused is not None:
        raise refused
    coupon = Coupon(len(state.coupons) + 1, campaign_id, holder_id, now)
    state.coupons[coupon.id] = coupon
    state.coupon_keys[(key, holder_id)] = coupon.id
    state.points.append(PointsEntry(holder_id, -offered.points_cost, "redeem", now))
    return coupon


class MemoryOffers(MemoryPort, OfferStore):
    async def create_campaign(
        self, key: str, order: CampaignOrder, admin_id: int, event: str
    ) -> tuple[Campaign, bool]:
        return await self._state.write(_create_campaign, self._state, key, order, admin_id, event)

    async def merchant_known(self, merchant_id: int) -> bool:
        return False  # the memory back end holds no merchants

    async def merchant_name(self, merchant_id: int) -> str | None:
        return None

    async def get_campaign(self, campaign_id: int) -> Campaign | None:
        return self._db.campaigns.get(campaign_id)

    async def redeemable_campaigns(
        self, now_ms: int, holder_id: int | None = None
    ) -> list[Campaign]:
        def got(campaign: Campaign) -> int:
            coupons = self._db.coupons.values()
            return sum(k.campaign_id == campaign.id and k.holder_id == holder_id for k in coupons)

        found = [
            c
            for c in self._db.campaigns.values()
            if c.points_cost > 0
            and c.is_running(now_ms)
            and c.spent_fen < c.budget_fen
            and (holder_id is None or got(c) < c.per_user_limit)
        ]
        return sorted(found, key=lambda c: (c.points_cost, c.id))[:20]

    async def grant_coupons(
        self,
        key: str,
        campaign_id: int,
        holder_ids: Sequence[int],
        admin_id: int,
        event: str,
        tell: HolderNotice | None = None,
    ) -> int:
        return await self._state.write(
            _grant, self._state, key, campaign_id, tuple(holder_ids), admin_id, event, tell
        )

    async def held_coupons(self, holder_id: int, now_ms: int) -> list[HeldCoupon]:
        db = self._db
        held = []
        for coupon in db.coupons.values():
            campaign = db.campaigns[coupon.campaign_id]
            if coupon.holder_id != holder_id or coupon.is_used or not campaign.is_running(now_ms):
                continue
            used = sum(
                1
                for r in db.redemptions.values()
                if r[2] == holder_id and r[1] == coupon.campaign_id
            )
            held.append(HeldCoupon(coupon, campaign, used))
        return sorted(held, key=lambda h: (h.campaign.ends_at, h.coupon.id))

    async def verified_residents(self) -> list[int]:
        return sorted(self._db.identities)

    async def issue_vouchers(
        self,
        key: str,
        order: VoucherIssueOrder,
        holder_ids: Sequence[int],
        escrow_id: int,
        issuer_id: int,
        admin_id: int,
        event: str,
        tell: HolderNotice | None = None,
    ) -> VoucherIssue:
        return await self._state.write(
            _issue,
            self._state,
            key,
            order,
            tuple(holder_ids),
            escrow_id,
            issuer_id,
            admin_id,
            event,
            tell,
        )

    async def live_vouchers(self, holder_id: int, now_ms: int) -> list[Voucher]:
        found = [
            v
            for v in self._db.vouchers.values()
            if v.holder_id == holder_id
            and v.state is VoucherState.LIVE
            and v.expires_at > now_ms
            and v.remaining_fen > 0
        ]
        return sorted(found, key=lambda v: (v.expires_at, v.id))

    async def due_voucher_issues(self, now_ms: int, limit: int) -> list[int]:
        due = [
            row.issue
            for row in self._db.voucher_issues.values()
            if not row.expired and row.issue.expires_at <= now_ms
        ]
        return [issue.id for issue in sorted(due, key=lambda i: i.expires_at)[:limit]]

    async def expire_voucher_issue(self, issue_id: int) -> VoucherExpiry | None:
        return await self._state.write(_expire, self._state, issue_id)

    async def points_of(self, holder_id: int, since_ms: int) -> tuple[int, int]:
        mine = [e for e in self._db.points if e.holder_id == holder_id]
        earned = sum(e.points for e in mine if e.reason != "redeem" and e.created_at >= since_ms)
        return sum(e.points for e in mine), earned

    async def redeem_points(self, key: str, holder_id: int, campaign_id: int) -> Coupon:
        return await self._state.write(_redeem, self._state, key, holder_id, campaign_id)
