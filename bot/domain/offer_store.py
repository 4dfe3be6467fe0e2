"""What the offers (coupons, vouchers, points) need from persistence.

Every write is one transaction: an issue of vouchers with its ledger operation
(``vouchers:issuer`` → ``escrow:vouchers`` for the total) and the admin's event in the
security log; a campaign with its event; a grant of coupons; a redemption of points
for a coupon; the expiry of an issue with its transfer of the unspent value back to
the issuer. Each is idempotent on the key its caller gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.promotions import Campaign, CampaignOrder, Coupon, HeldCoupon
from bot.domain.vouchers import Voucher, VoucherIssueOrder

__all__ = ["OfferStore", "VoucherExpiry", "VoucherIssue"]


@dataclass(frozen=True, slots=True)
class VoucherIssue:
    """One issue of vouchers: ``count`` vouchers of ``amount_fen`` each."""

    id: int
    amount_fen: int
    count: int
    categories: frozenset[str]
    issued_at: int
    expires_at: int
    transfer_id: int
    replayed: bool = False
    # who got one: the issuing call's list; on a replay, the first issue's holders
    holders: tuple[int, ...] = ()

    @property
    def total_fen(self) -> int:
        return self.amount_fen * self.count


@dataclass(frozen=True, slots=True)
class VoucherExpiry:
    """An issue expired: ``returned_fen`` went back to the issuer (0: all was spent)."""

    issue_id: int
    vouchers: int
    returned_fen: int


class OfferStore(Protocol):
    def now_ms(self) -> int: ...

    async def create_campaign(
        self, key: str, order: CampaignOrder, admin_id: int, event: str
    ) -> tuple[Campaign, bool]:
        """Create the campaign (starting now) with the admin's ``event`` in the security
        log, once per ``key``; a replay answers the first campaign and True."""
        ...

    async def get_campaign(self, campaign_id: int) -> Campaign | None: ...

    async def redeemable_campaigns(self, now_ms: int) -> list[Campaign]:
        """Running campaigns offered for points, with budget left, cheapest first."""
        ...

    async def grant_coupons(
        self,
        key: str,
        campaign_id: int,
        holder_ids: Sequence[int],
        admin_id: int,
        event: str,
    ) -> int:
        """Give each holder one coupon of the campaign, once per ``(key, holder)``; how
        many were new. Raises ``CampaignNotFound``, ``CouponUnavailable`` (ended)."""
        ...

    async def held_coupons(self, holder_id: int, now_ms: int) -> list[HeldCoupon]:
        """The holder's unused coupons of running campaigns, with their use counts."""
        ...

    async def verified_residents(self) -> list[int]:
        """Telegram ids of everyone who verified their identity."""
        ...

    async def issue_vouchers(
        self,
        key: str,
        order: VoucherIssueOrder,
        holder_ids: Sequence[int],
        escrow_id: int,
        issuer_id: int,
        admin_id: int,
        event: str,
    ) -> VoucherIssue:
        """One voucher per holder and one ledger operation for the total, with the
        admin's event, once per ``key`` (a replay answers the first issue)."""
        ...

    async def live_vouchers(self, holder_id: int, now_ms: int) -> list[Voucher]:
        """The holder's unexpired vouchers with value left."""
        ...

    async def due_voucher_issues(self, now_ms: int, limit: int) -> list[int]: ...

    async def expire_voucher_issue(self, issue_id: int) -> VoucherExpiry | None:
        """Past its deadline: the unspent value back to the issuer (one transfer) and
        its vouchers marked expired, once (None: not due, or done before)."""
        ...

    async def points_of(self, holder_id: int, since_ms: int) -> tuple[int, int]:
        """The holder's points balance, and the points earned since ``since_ms`` (earned
        less taken back)."""
        ...

    async def redeem_points(self, key: str, holder_id: int, campaign_id: int) -> Coupon:
        """Spend the campaign's points cost for one of its coupons, once per ``key``.
        Raises ``CampaignNotFound``, ``CampaignNotRedeemable``, ``PointsShort``."""
        ...
