"""Coupons and promotions, consumption vouchers and loyalty points.

:class:`Offers` is the merchant payment's planner (``bot.domain.offers.Offers``): the
best applicable coupon first, then the payer's vouchers (soonest expiring first), then
their balance. The plan is only read; the payment's write checks it again
(``bot.storage.sqlite.offers_ops``).

It is also where admins issue vouchers (one ledger operation ``vouchers:issuer`` →
``escrow:vouchers`` for the total, idempotent on the issue's key), create campaigns and
grant coupons, each with its event in the security log, and where residents read
their coupons, vouchers and points and redeem points for coupons. Each holder of an issue
or a grant is owed a notice, written by the store in the issue's or the grant's own
transaction (``bot.domain.offer_store``; sent once, also after a restart, by
``bot.wallet.notices``). Expired issues give
their unspent value back to the issuer (:meth:`Offers.expire_due`, a sweep like the
red packets').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.domain.errors import (
    CampaignMerchantUnknown,
    CampaignNotFound,
    CouponGrantLimitReached,
    OfferNobody,
    OfferRecipientsUnknown,
)
from bot.domain.ledger_rules import key_error
from bot.domain.model import AccountKind
from bot.domain.offer_store import HolderNotice, OfferStore, VoucherExpiry, VoucherIssue
from bot.domain.offers import VOUCHER_ESCROW, VOUCHER_ISSUER, PaymentPlan
from bot.domain.points import TIER_WINDOW_MS, PointsStanding, TierThresholds, standing
from bot.domain.promotions import (
    Campaign,
    CampaignOrder,
    Coupon,
    CouponRule,
    HeldCoupon,
    best_coupon,
)
from bot.domain.vouchers import Voucher, VoucherIssueOrder, voucher_parts
from bot.security.pin_entry import ConfirmationResult

if TYPE_CHECKING:
    from bot.domain.security_ports import Action
    from bot.wallet.ledger import Ledger
    from bot.wallet.notices import Notices
    from bot.wallet.users import Users

__all__ = [
    "CAMPAIGN",
    "CAMPAIGN_EVENT",
    "COUPON_NOTICE",
    "GRANT",
    "GRANT_EVENT",
    "ISSUE",
    "ISSUE_EVENT",
    "VOUCHER_NOTICE",
    "CouponGrant",
    "IssuePreview",
    "Offers",
    "campaign_order",
    "campaign_payload",
]

ISSUE = "voucher_issue"  # the keypad's confirmation of an issue, for an admin with 2FA
CAMPAIGN = "campaign_add"  # the same for a campaign
GRANT = "coupon_grant"  # the same for a grant of coupons
ISSUE_EVENT = "admin.voucher_issue"
CAMPAIGN_EVENT = "admin.campaign_add"
GRANT_EVENT = "admin.coupon_grant"
VOUCHER_NOTICE = "voucher.received"  # the notice to each holder of an issue
COUPON_NOTICE = "coupon.received"  # the notice to each holder of a grant


@dataclass(frozen=True, slots=True)
class IssuePreview:
    """Who an issue would reach, before anything is written."""

    order: VoucherIssueOrder
    holder_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.holder_ids)

    @property
    def total_fen(self) -> int:
        return self.order.amount_fen * self.count


@dataclass(frozen=True, slots=True)
class CouponGrant:
    """Coupons given to ``asked`` people, ``granted`` of them new (a replay gives none),
    none to the ``at_limit`` of them who had as many as one person may use."""

    campaign: Campaign
    asked: int
    granted: int
    holders: tuple[int, ...] = ()
    at_limit: int = 0


class Offers:
    def __init__(
        self,
        store: OfferStore,
        ledger: Ledger,
        users: Users,
        thresholds: TierThresholds | None = None,
        notices: Notices | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.users = users
        self.thresholds = thresholds or TierThresholds()
        self.notices = notices  # holders are told of what they got (None: not told)

    # The payment's plan ---------------------------------------------------------------

    async def plan(
        self, payer_telegram_id: int, merchant_id: int, category: str, price_fen: int
    ) -> PaymentPlan:
        """The best coupon, then vouchers (soonest expiring first), then the balance."""
        now = self.store.now_ms()
        held = await self.store.held_coupons(payer_telegram_id, now)
        best = best_coupon(held, payer_telegram_id, merchant_id, category, price_fen, now)
        coupon_id, discount = (best[0].coupon.id, best[1]) if best else (None, 0)
        vouchers = await self.store.live_vouchers(payer_telegram_id, now)
        parts = voucher_parts(vouchers, category, now, price_fen - discount)
        return PaymentPlan(price_fen, coupon_id, discount, parts)

    # Vouchers -------------------------------------------------------------------------

    async def recipients(self, names: Sequence[str] | None) -> tuple[int, ...]:
        """The Telegram ids of ``@name``/id ``names`` (None: every verified resident);
        raises ``OfferRecipientsUnknown`` naming strangers, ``OfferNobody``."""
        if names is None:
            ids = await self.store.verified_residents()
        else:
            found, unknown = [], []
            for name in names:
                user = await self.users.find(name)
                (unknown if user is None else found).append(name if user is None else user)
            if unknown:
                raise OfferRecipientsUnknown(names=", ".join(unknown))
            ids = [user.telegram_id for user in found]
        ids = tuple(dict.fromkeys(ids))
        if not ids:
            raise OfferNobody()
        return ids

    async def preview_issue(self, order: VoucherIssueOrder) -> IssuePreview:
        """Who the issue would reach and what it would cost, for the admin to confirm."""
        return IssuePreview(order, await self.recipients(order.recipients))

    async def issue(
        self, admin_id: int, key: str, order: VoucherIssueOrder, holder_ids: Sequence[int]
    ) -> VoucherIssue:
        """Issue one voucher to each holder, once per ``key``: one ledger operation
        moves the total from the issuer into the vouchers' escrow."""
        error = key_error(key)
        if error is not None:
            raise error
        if not holder_ids:
            raise OfferNobody()
        escrow = await self.ledger.store.open_account(
            VOUCHER_ESCROW, AccountKind.SYSTEM, self.ledger.currency
        )
        issuer = await self.ledger.store.open_account(
            VOUCHER_ISSUER, AccountKind.SYSTEM, self.ledger.currency
        )
        # each holder's notice is written with the issue, in its transaction; a replay
        # of the key tells only the first issue's holders (a list that grew since names
        # people who got nothing), and nobody twice
        issued = await self.store.issue_vouchers(
            key,
            order,
            holder_ids,
            escrow.id,
            issuer.id,
            admin_id,
            ISSUE_EVENT,
            self._notice(VOUCHER_NOTICE),
        )
        self._wake()
        return issued

    def _notice(self, kind: str) -> HolderNotice | None:
        """What each holder is told (None: nobody is told)."""
        return None if self.notices is None else HolderNotice(kind)

    def _wake(self) -> None:
        """Let this process's sender send the notices just committed."""
        if self.notices is not None:
            self.notices.wake()

    async def vouchers(self, holder_id: int) -> list[Voucher]:
        """The holder's vouchers that can still pay, soonest expiring first."""
        return await self.store.live_vouchers(holder_id, self.store.now_ms())

    async def voucher_total(self, holder_id: int) -> int:
        return sum(v.remaining_fen for v in await self.vouchers(holder_id))

    async def expire_due(self, limit: int = 200) -> list[VoucherExpiry]:
        """Give every expired issue's unspent value back to the issuer; safe to run from
        several places (each issue expires once)."""
        done = []
        for issue_id in await self.store.due_voucher_issues(self.store.now_ms(), limit):
            expiry = await self.store.expire_voucher_issue(issue_id)
            if expiry is not None:
                done.append(expiry)
        return done

    # Campaigns and coupons ------------------------------------------------------------

    async def check_campaign(self, order: CampaignOrder) -> CampaignOrder:
        """The order, if it can be a campaign: the merchant it names exists (raises
        ``CampaignMerchantUnknown``). Asked before the admin's card is shown; the
        campaign's write checks it again."""
        merchant = order.merchant_id
        if merchant is not None and not await self.store.merchant_known(merchant):
            raise CampaignMerchantUnknown(merchant_id=merchant)
        return order

    async def preview_campaign(self, order: CampaignOrder) -> Campaign:
        """The campaign ``order`` would make if it started now, with its shop's name: what
        the admin's card shows before Confirm."""
        made = order.campaign(0, self.store.now_ms())
        if made.merchant_id is None:
            return made
        return replace(made, shop=await self.store.merchant_name(made.merchant_id))

    async def create_campaign(
        self, admin_id: int, key: str, order: CampaignOrder
    ) -> tuple[Campaign, bool]:
        """The campaign, starting now, once per ``key`` (True: a replay). Raises
        ``CampaignMerchantUnknown`` when it names a merchant that does not exist."""
        error = key_error(key)
        if error is not None:
            raise error
        return await self.store.create_campaign(key, order, admin_id, CAMPAIGN_EVENT)

    async def campaign(self, campaign_id: int) -> Campaign:
        found = await self.store.get_campaign(campaign_id)
        if found is None:
            raise CampaignNotFound(campaign_id=campaign_id)
        return found

    async def grant(
        self, admin_id: int, key: str, campaign_id: int, holder_ids: Sequence[int]
    ) -> CouponGrant:
        """One coupon of the campaign to each holder, once per ``(key, holder)``, except to
        those who already have as many of its coupons as one person may use (counted in
        the write); ``CouponGrantLimitReached``, naming one of them, when that is
        everyone asked."""
        found = await self.campaign(campaign_id)
        if not holder_ids:
            raise OfferNobody()
        left_out: set[int] = set()
        while True:  # each refusal names more people at the limit: it ends
            asked = [holder for holder in holder_ids if holder not in left_out]
            try:
                granted = await self.store.grant_coupons(
                    key, campaign_id, asked, admin_id, GRANT_EVENT, self._notice(COUPON_NOTICE)
                )
                break
            except CouponGrantLimitReached as full:
                left_out.update(full.params["full"])
                if any(holder not in left_out for holder in holder_ids):
                    continue
                everyone = tuple(h for h in dict.fromkeys(holder_ids) if h in left_out)
                first = everyone[0]
                holder = await self.users.get(first)
                who = holder.display_name if holder is not None else str(first)
                params = {**full.params, "holder_id": first, "holders": len(everyone)}
                raise CouponGrantLimitReached(**params | {"full": everyone, "who": who}) from None
        self._wake()
        return CouponGrant(
            found,
            len(holder_ids),
            granted,
            tuple(asked),
            at_limit=len(set(holder_ids)) - len(set(asked)),
        )

    async def coupons(self, holder_id: int) -> list[HeldCoupon]:
        """The holder's unused coupons of running campaigns, ending soonest first."""
        return await self.store.held_coupons(holder_id, self.store.now_ms())

    # Points ---------------------------------------------------------------------------

    async def points(self, holder_id: int) -> PointsStanding:
        now = self.store.now_ms()
        balance, earned = await self.store.points_of(holder_id, now - TIER_WINDOW_MS)
        return standing(balance, earned, self.thresholds)

    async def redeemable(self, holder_id: int | None = None) -> list[Campaign]:
        """The campaigns on offer for points (with ``holder_id``: those the holder may
        still redeem, not yet holding as many of its coupons as one person may use)."""
        return await self.store.redeemable_campaigns(self.store.now_ms(), holder_id)

    async def redeem(self, key: str, holder_id: int, campaign_id: int) -> Coupon:
        """Spend points for one coupon of the campaign, once per ``key``."""
        return await self.store.redeem_points(key, holder_id, campaign_id)

    # The keypad's confirmations after an admin's 2FA code ------------------------------

    async def confirm_issue(self, action: Action) -> ConfirmationResult:
        payload = action.payload
        order = VoucherIssueOrder(
            int(payload["amount"]),
            int(payload["days"]),
            frozenset(payload["categories"]),
            None,
        )
        holders = [int(h) for h in payload["holders"]]
        issued = await self.issue(action.telegram_id, str(payload["key"]), order, holders)
        return ConfirmationResult("voucher.issued", outcome=issued)

    async def confirm_grant(self, action: Action) -> ConfirmationResult:
        payload = action.payload
        holders = [int(h) for h in payload["holders"]]
        done = await self.grant(
            action.telegram_id, str(payload["key"]), int(payload["campaign_id"]), holders
        )
        return ConfirmationResult("coupon.granted", outcome=done)

    async def confirm_campaign(self, action: Action) -> ConfirmationResult:
        payload = dict(action.payload)
        key = str(payload.pop("key"))
        order = campaign_order(payload)
        made, _ = await self.create_campaign(action.telegram_id, key, order)
        return ConfirmationResult("campaign.created", outcome=made)


def campaign_payload(order: CampaignOrder) -> dict:
    """A campaign order as a pending action's JSON payload."""
    return {
        "name": order.name,
        "rule": order.rule.value,
        "min": order.min_spend_fen,
        "off": order.off_fen,
        "percent": order.percent,
        "cap": order.cap_fen,
        "budget": order.budget_fen,
        "days": order.days,
        "limit": order.per_user_limit,
        "merchant": order.merchant_id,
        "category": order.category,
        "points": order.points_cost,
    }


def campaign_order(payload: dict) -> CampaignOrder:
    """The campaign order a pending action's payload holds."""
    return CampaignOrder(
        name=str(payload["name"]),
        rule=CouponRule(payload["rule"]),
        min_spend_fen=int(payload["min"]),
        off_fen=int(payload["off"]),
        percent=int(payload["percent"]),
        cap_fen=int(payload["cap"]),
        budget_fen=int(payload["budget"]),
        days=int(payload["days"]),
        per_user_limit=int(payload["limit"]),
        merchant_id=None if payload["merchant"] is None else int(payload["merchant"]),
        category=payload["category"],
        points_cost=int(payload["points"]),
    )
