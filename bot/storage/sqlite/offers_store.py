"""Coupons, vouchers and points on SQLite (the ``OfferStore`` of ``bot.domain.offer_store``;
the writes and their SQL are in ``offer_writes``, a payment's share in ``offers_ops``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.offer_store import HolderNotice, OfferStore, VoucherExpiry, VoucherIssue
from bot.domain.promotions import Campaign, CampaignOrder, Coupon, HeldCoupon
from bot.domain.vouchers import Voucher, VoucherIssueOrder
from bot.storage.sqlite import offer_writes as ops
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteOffers"]

_C_COLUMNS = ", ".join(f"c.{name.strip()}" for name in ops.CAMPAIGN_COLUMNS.split(","))
_K_COLUMNS = ", ".join(f"k.{name.strip()}" for name in ops.COUPON_COLUMNS.split(","))
_HELD = (
    f"SELECT {_K_COLUMNS}, {_C_COLUMNS},"
    " (SELECT m.name FROM merchants AS m WHERE m.id = c.merchant_id),"
    " (SELECT count(*) FROM coupon_redemptions AS r"
    "  WHERE r.holder_id = k.holder_id AND r.campaign_id = k.campaign_id)"
    " FROM coupons AS k JOIN campaigns AS c ON c.id = k.campaign_id"
    " WHERE k.holder_id = ? AND k.used_payment_id IS NULL AND c.starts_at <= ? AND ? < c.ends_at"
    " ORDER BY c.ends_at, k.id"
)


class SqliteOffers(PortStore, OfferStore):
    async def create_campaign(
        self, key: str, order: CampaignOrder, admin_id: int, event: str
    ) -> tuple[Campaign, bool]:
        return await self._writer.run(
            ops.create_campaign, self._security, key, order, admin_id, event, self._clock()
        )

    async def merchant_known(self, merchant_id: int) -> bool:
        if not -(2**63) <= merchant_id < 2**63:
            return False
        row = await self._fetchone("SELECT 1 FROM merchants WHERE id = ?", (merchant_id,))
        return row is not None

    async def merchant_name(self, merchant_id: int) -> str | None:
        if not -(2**63) <= merchant_id < 2**63:
            return None
        row = await self._fetchone("SELECT name FROM merchants WHERE id = ?", (merchant_id,))
        return None if row is None else row[0]

    async def get_campaign(self, campaign_id: int) -> Campaign | None:
        row = await self._fetchone(
            f"SELECT {ops.CAMPAIGN_READ} FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return None if row is None else ops.row_to_campaign(row)

    async def redeemable_campaigns(
        self, now_ms: int, holder_id: int | None = None
    ) -> list[Campaign]:
        rows = await self._fetchall(
            f"SELECT {ops.CAMPAIGN_READ} FROM campaigns AS c WHERE points_cost > 0"
            " AND starts_at <= ?1 AND ?1 < ends_at AND spent_fen < budget_fen"
            " AND (?2 IS NULL OR (SELECT count(*) FROM coupons AS k"
            "  WHERE k.campaign_id = c.id AND k.holder_id = ?2) < per_user_limit)"
            " ORDER BY points_cost, id LIMIT 20",
            (now_ms, holder_id),
        )
        return [ops.row_to_campaign(row) for row in rows]

    async def grant_coupons(
        self,
        key: str,
        campaign_id: int,
        holder_ids: Sequence[int],
        admin_id: int,
        event: str,
        tell: HolderNotice | None = None,
    ) -> int:
        return await self._writer.run(
            ops.grant_coupons,
            self._security,
            key,
            campaign_id,
            tuple(holder_ids),
            admin_id,
            event,
            self._clock(),
            tell,
        )

    async def held_coupons(self, holder_id: int, now_ms: int) -> list[HeldCoupon]:
        rows = await self._fetchall(_HELD, (holder_id, now_ms, now_ms))
        return [
            HeldCoupon(ops.row_to_coupon(row[:5]), ops.row_to_campaign(row[5:21]), row[21])
            for row in rows
        ]

    async def verified_residents(self) -> list[int]:
        rows = await self._fetchall("SELECT telegram_id FROM identities ORDER BY telegram_id", ())
        return [row[0] for row in rows]

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
        return await self._writer.run(
            ops.issue_vouchers,
            self._ledger,
            self._security,
            key,
            order,
            tuple(holder_ids),
            escrow_id,
            issuer_id,
            admin_id,
            event,
            self._clock(),
            tell,
        )

    async def live_vouchers(self, holder_id: int, now_ms: int) -> list[Voucher]:
        rows = await self._fetchall(
            f"SELECT {ops.VOUCHER_COLUMNS} FROM vouchers WHERE holder_id = ? AND state = 'live'"
            " AND expires_at > ? AND remaining_fen > 0 ORDER BY expires_at, id",
            (holder_id, now_ms),
        )
        return [ops.row_to_voucher(row) for row in rows]

    async def due_voucher_issues(self, now_ms: int, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT id FROM voucher_issues WHERE state = 'live' AND expires_at <= ?"
            " ORDER BY expires_at LIMIT ?",
            (now_ms, limit),
        )
        return [row[0] for row in rows]

    async def expire_voucher_issue(self, issue_id: int) -> VoucherExpiry | None:
        return await self._writer.run(ops.expire_issue, self._ledger, issue_id)

    async def points_of(self, holder_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchone(
            "SELECT coalesce(sum(points), 0),"
            " coalesce(sum(CASE WHEN reason <> 'redeem' AND created_at >= ? THEN points END), 0)"
            " FROM points_journal WHERE holder_id = ?",
            (since_ms, holder_id),
        )
        return row[0], row[1]

    async def redeem_points(self, key: str, holder_id: int, campaign_id: int) -> Coupon:
        return await self._writer.run(ops.redeem_points, key, holder_id, campaign_id, self._clock())
