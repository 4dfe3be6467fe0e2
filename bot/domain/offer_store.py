"""What the offers (coupons, vouchers, points) need from persistence.

Every write is one transaction: an issue of vouchers with its ledger operation
(``vouchers:issuer`` → ``escrow:vouchers`` for the total) and the admin's event in the
security log; a campaign with its event; a grant of coupons; a redemption of points
for a coupon; the expiry of an issue with its transfer of the unspent value back to
the issuer. Each is idempotent on the key its caller gives.

An issue and a grant also write, in their own transaction, the notice each holder is
owed (:class:`HolderNotice`, when the caller gives one): the holders are told exactly
when what they are told of is committed, and a replay of the key writes no notice twice
(``bot.domain.notices``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.notices import NewNotice
from bot.domain.promotions import Campaign, CampaignOrder, Coupon, HeldCoupon
from bot.domain.vouchers import Voucher, VoucherIssueOrder

__all__ = [
    "HolderNotice",
    "OfferStore",
    "VoucherExpiry",
    "VoucherIssue",
    "grant_notices",
    "issue_notices",
]


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
    # who got one, in order: on a replay the first issue's holders, not the list asked
    holders: tuple[int, ...] = ()

    @property
    def total_fen(self) -> int:
        return self.amount_fen * self.count


@dataclass(frozen=True, slots=True)
class HolderNotice:
    """The notice owed to each holder of an issue or a grant: what it says (``kind``)
    and its ``params`` (a JSON object). An issue's notices also carry the issue's own
    amount, categories and expiry (those of the first issue, on a replay)."""

    kind: str
    params: dict = field(default_factory=dict)

    def to(self, prefix: str, holder_ids: Sequence[int], facts: dict) -> list[NewNotice]:
        """One notice per holder (each once, in order), keyed ``{prefix}:{holder}``."""
        params = self.params | facts
        return [
            NewNotice(f"{prefix}:{holder}", holder, self.kind, params)
            for holder in dict.fromkeys(holder_ids)
        ]


def issue_notices(
    tell: HolderNotice | None, issue: VoucherIssue, holder_ids: Sequence[int]
) -> list[NewNotice]:
    """The notices of an issue's holders (``voucher:{issue id}:{holder}``); none when
    nobody is to be told."""
    if tell is None:
        return []
    facts = {
        "amount": issue.amount_fen,
        "categories": sorted(issue.categories),
        "expires_at": issue.expires_at,
    }
    return tell.to(f"voucher:{issue.id}", holder_ids, facts)


def grant_notices(
    tell: HolderNotice | None, key: str, campaign_id: int, holder_ids: Sequence[int]
) -> list[NewNotice]:
    """The notices of a grant's holders (``coupon:{grant key}:{holder}``); none when
    nobody is to be told."""
    if tell is None:
        return []
    return tell.to(f"coupon:{key}", holder_ids, {"campaign_id": campaign_id})


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
        log, once per ``key``; a replay answers the first campaign and True. Raises
        ``CampaignMerchantUnknown`` when it names a merchant that does not exist."""
        ...

    async def merchant_known(self, merchant_id: int) -> bool:
        """Whether merchant ``merchant_id`` exists (a campaign may be limited to it)."""
        ...

    async def merchant_name(self, merchant_id: int) -> str | None:
        """The shop name of merchant ``merchant_id``; None when there is none."""
        ...

    async def get_campaign(self, campaign_id: int) -> Campaign | None: ...

    async def redeemable_campaigns(
        self, now_ms: int, holder_id: int | None = None
    ) -> list[Campaign]:
        """Running campaigns offered for points, with budget left, cheapest first; with
        ``holder_id``, only those of which the holder got fewer coupons than one person
        may use (``bot.domain.promotions.redeem_refusal``)."""
        ...

    async def grant_coupons(
        self,
        key: str,
        campaign_id: int,
        holder_ids: Sequence[int],
        admin_id: int,
        event: str,
        tell: HolderNotice | None = None,
    ) -> int:
        """Give each holder one coupon of the campaign, once per ``(key, holder)``; how
        many were new. With ``tell``, each holder's notice (:func:`grant_notices`) in
        the same transaction, once per key and holder.
        Raises ``CampaignNotFound``, ``CouponUnavailable`` (ended)."""
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
        tell: HolderNotice | None = None,
    ) -> VoucherIssue:
        """One voucher per holder and one ledger operation for the total, with the
        admin's event, once per ``key`` (a replay answers the first issue). With
        ``tell``, each holder's notice (:func:`issue_notices`) in the same transaction;
        a replay writes those the first issue's holders lack (none, once it committed
        them) and tells nobody it left out."""
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
        """Spend the campaign's points cost for one of its coupons, once per ``key``,
        checking in the same write what the holder got of the campaign (two redemptions
        at once by one person are put in order). Raises ``CampaignNotFound``,
        ``CampaignNotRedeemable``, ``RedeemLimitReached``, ``PointsShort``."""
        ...
