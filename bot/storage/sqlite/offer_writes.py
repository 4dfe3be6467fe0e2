"""Writes of the offers (campaigns, coupons, vouchers, points) for the writer thread, and
the SQL that reads their rows back.

Each operation is one SAVEPOINT of the writer's transaction; money moves through the
ledger's own operation (its checks, the journal chain, idempotency), so an issue of
vouchers and its rows (and the notice each holder is owed), or an expiry and its
transfer back to the issuer, commit together or not at all. The writer runs one
operation at a time: an expiry and a payment spending the same voucher are put in order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.domain.errors import (
    CampaignMerchantUnknown,
    CampaignNotFound,
    CouponUnavailable,
    IdempotencyConflict,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.offer_store import (
    HolderNotice,
    VoucherExpiry,
    VoucherIssue,
    grant_notices,
    issue_notices,
)
from bot.domain.promotions import (
    Campaign,
    CampaignOrder,
    Coupon,
    CouponRule,
    grant_refusal,
    redeem_refusal,
)
from bot.domain.vouchers import (
    Voucher,
    VoucherIssueOrder,
    VoucherState,
    format_categories,
    parse_categories,
)
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.notices_store import add_notices
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "CAMPAIGN_COLUMNS",
    "CAMPAIGN_READ",
    "COUPON_COLUMNS",
    "VOUCHER_COLUMNS",
    "create_campaign",
    "expire_issue",
    "grant_coupons",
    "issue_vouchers",
    "merchant_known",
    "redeem_points",
    "row_to_campaign",
    "row_to_coupon",
    "row_to_voucher",
]

CAMPAIGN_COLUMNS = (
    "id, name, rule, min_spend_fen, off_fen, percent, cap_fen, budget_fen, spent_fen,"
    " per_user_limit, starts_at, ends_at, merchant_id, category, points_cost"
)
# A campaign as read: its columns, then its merchant's shop name (Campaign.shop).
CAMPAIGN_READ = (
    f"{CAMPAIGN_COLUMNS}, (SELECT m.name FROM merchants AS m WHERE m.id = merchant_id)"
)
COUPON_COLUMNS = "id, campaign_id, holder_id, granted_at, used_payment_id"
VOUCHER_COLUMNS = (
    "id, issue_id, holder_id, amount_fen, remaining_fen, categories, issued_at, expires_at, state"
)
_ISSUE_COLUMNS = "id, amount_fen, count, categories, issued_at, expires_at, transfer_id"


def row_to_campaign(row: Sequence) -> Campaign:
    """A campaign from its columns (``CAMPAIGN_COLUMNS``), and its shop's name after them
    when read with ``CAMPAIGN_READ``."""
    return Campaign(row[0], row[1], CouponRule(row[2]), *row[3:16])


def row_to_coupon(row: Sequence) -> Coupon:
    return Coupon(*row)


def row_to_voucher(row: Sequence) -> Voucher:
    return Voucher(*row[:5], parse_categories(row[5]), row[6], row[7], VoucherState(row[8]))


def _issue(row: Sequence, replayed: bool, holders: tuple[int, ...] = ()) -> VoucherIssue:
    return VoucherIssue(
        *row[:3], parse_categories(row[3]), *row[4:], replayed=replayed, holders=holders
    )


def campaign(conn: sqlite3.Connection, campaign_id: int) -> Campaign:
    row = conn.execute(
        f"SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = ?", (campaign_id,)
    ).fetchone()
    if row is None:
        raise CampaignNotFound(campaign_id=campaign_id)
    return row_to_campaign(row)


def _moved(conn: sqlite3.Connection, ledger: LedgerOps, key: str, spec: TransferSpec) -> int:
    try:
        (moved,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:  # the key moved other money before: refuse it all
        raise IdempotencyConflict(key=key) from None
    return moved.id


def merchant_known(conn: sqlite3.Connection, merchant_id: int) -> bool:
    if not -(2**63) <= merchant_id < 2**63:
        return False
    found = conn.execute("SELECT 1 FROM merchants WHERE id = ?", (merchant_id,)).fetchone()
    return found is not None


def create_campaign(
    conn: sqlite3.Connection,
    security: SecurityOps,
    key: str,
    order: CampaignOrder,
    admin_id: int,
    event: str,
    now_ms: int,
) -> tuple[Campaign, bool]:
    row = conn.execute("SELECT id FROM campaigns WHERE create_key = ?", (key,)).fetchone()
    if row is not None:
        return campaign(conn, row[0]), True
    if order.merchant_id is not None and not merchant_known(conn, order.merchant_id):
        raise CampaignMerchantUnknown(merchant_id=order.merchant_id)
    made = order.campaign(0, now_ms)
    cursor = conn.execute(
        f"INSERT INTO campaigns ({CAMPAIGN_COLUMNS}, created_by, create_key)"
        " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            made.name,
            made.rule.value,
            made.min_spend_fen,
            made.off_fen,
            made.percent,
            made.cap_fen,
            made.budget_fen,
            0,
            made.per_user_limit,
            made.starts_at,
            made.ends_at,
            made.merchant_id,
            made.category,
            made.points_cost,
            admin_id,
            key,
        ),
    )
    created = campaign(conn, cursor.lastrowid)
    details = {"campaign_id": created.id, "name": created.name, "rule": created.rule.value}
    details |= {"budget": created.budget_fen, "ends_at": created.ends_at, "key": key}
    security.record_event(conn, admin_id, event, None, details)
    return created, False


def grant_coupons(
    conn: sqlite3.Connection,
    security: SecurityOps,
    key: str,
    campaign_id: int,
    holder_ids: Sequence[int],
    admin_id: int,
    event: str,
    now_ms: int,
    tell: HolderNotice | None = None,
) -> int:
    granted_to = campaign(conn, campaign_id)
    if not granted_to.is_running(now_ms):
        raise CouponUnavailable(coupon_id=0, campaign_id=campaign_id)
    # the writer runs one operation at a time: what is counted here is what is written
    got = {}
    for holder in dict.fromkeys(holder_ids):
        mine, again = conn.execute(
            "SELECT (SELECT count(*) FROM coupons WHERE campaign_id = ? AND holder_id = ?),"
            " EXISTS (SELECT 1 FROM coupons WHERE grant_key = ? AND holder_id = ?)",
            (campaign_id, holder, key, holder),
        ).fetchone()
        if not again:  # a replay of the key gives nothing more: nothing to count
            got[holder] = mine
    refused = grant_refusal(granted_to, got)
    if refused is not None:
        raise refused
    granted = 0
    for holder in holder_ids:
        granted += conn.execute(
            "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (grant_key, holder_id) DO NOTHING",
            (campaign_id, holder, key, now_ms),
        ).rowcount
    if granted:
        details = {"campaign_id": campaign_id, "granted": granted, "key": key}
        security.record_event(conn, admin_id, event, None, details)
    add_notices(conn, now_ms, grant_notices(tell, key, campaign_id, holder_ids))
    return granted


def issue_vouchers(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    key: str,
    order: VoucherIssueOrder,
    holder_ids: Sequence[int],
    escrow_id: int,
    issuer_id: int,
    admin_id: int,
    event: str,
    now_ms: int,
    tell: HolderNotice | None = None,
) -> VoucherIssue:
    row = conn.execute(
        f"SELECT {_ISSUE_COLUMNS} FROM voucher_issues WHERE issue_key = ?", (key,)
    ).fetchone()
    if row is not None:  # a replay: who the first issue gave a voucher, not who is asked now
        given = conn.execute(
            "SELECT holder_id FROM vouchers WHERE issue_id = ? ORDER BY id", (row[0],)
        ).fetchall()
        issued = _issue(row, replayed=True, holders=tuple(h for (h,) in given))
        add_notices(conn, now_ms, issue_notices(tell, issued, issued.holders))
        return issued
    holders = list(dict.fromkeys(holder_ids))
    if not holders:
        raise ValueError("an issue of vouchers has holders")
    total = order.amount_fen * len(holders)
    spec = TransferSpec(issuer_id, escrow_id, total, TransferKind.VOUCHER_ISSUE, ref="vouchers")
    transfer_id = _moved(conn, ledger, key, spec)
    categories = format_categories(order.categories)
    expires_at = order.expires_at(now_ms)
    issue_id = conn.execute(
        "INSERT INTO voucher_issues (issue_key, admin_id, amount_fen, count, categories,"
        " issued_at, expires_at, escrow_id, issuer_id, transfer_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key,
            admin_id,
            order.amount_fen,
            len(holders),
            categories,
            now_ms,
            expires_at,
            escrow_id,
            issuer_id,
            transfer_id,
        ),
    ).lastrowid
    conn.executemany(
        "INSERT INTO vouchers (issue_id, holder_id, amount_fen, remaining_fen, categories,"
        " issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (issue_id, holder, order.amount_fen, order.amount_fen, categories, now_ms, expires_at)
            for holder in holders
        ],
    )
    details = {"issue_id": issue_id, "amount": order.amount_fen, "count": len(holders)}
    details |= {"total": total, "categories": categories, "expires_at": expires_at, "key": key}
    security.record_event(conn, admin_id, event, None, details)
    row = conn.execute(
        f"SELECT {_ISSUE_COLUMNS} FROM voucher_issues WHERE id = ?", (issue_id,)
    ).fetchone()
    issued = _issue(row, replayed=False, holders=tuple(holders))
    add_notices(conn, now_ms, issue_notices(tell, issued, issued.holders))
    return issued


def expire_issue(
    conn: sqlite3.Connection, ledger: LedgerOps, issue_id: int
) -> VoucherExpiry | None:
    """Give the unspent value of an issue past its deadline back to the issuer, once."""
    row = conn.execute(
        "SELECT expires_at, state, escrow_id, issuer_id FROM voucher_issues WHERE id = ?",
        (issue_id,),
    ).fetchone()
    if row is None or row[1] != "live" or ledger.clock() < row[0]:
        return None
    _, _, escrow_id, issuer_id = row
    count, left = conn.execute(
        "SELECT count(*), coalesce(sum(remaining_fen), 0) FROM vouchers"
        " WHERE issue_id = ? AND state = 'live'",
        (issue_id,),
    ).fetchone()
    if left:
        spec = TransferSpec(
            escrow_id, issuer_id, left, TransferKind.VOUCHER_EXPIRY, ref=f"voucher_issue:{issue_id}"
        )
        _moved(conn, ledger, f"voucher_issue:{issue_id}:expiry", spec)
    conn.execute("UPDATE vouchers SET state = 'expired' WHERE issue_id = ?", (issue_id,))
    conn.execute(
        "UPDATE voucher_issues SET state = 'expired', returned_fen = ? WHERE id = ?",
        (left, issue_id),
    )
    return VoucherExpiry(issue_id, count, left)


def points_balance(conn: sqlite3.Connection, holder_id: int) -> int:
    return conn.execute(
        "SELECT coalesce(sum(points), 0) FROM points_journal WHERE holder_id = ?", (holder_id,)
    ).fetchone()[0]


def redeem_points(
    conn: sqlite3.Connection, key: str, holder_id: int, campaign_id: int, now_ms: int
) -> Coupon:
    row = conn.execute(
        f"SELECT {COUPON_COLUMNS} FROM coupons WHERE grant_key = ? AND holder_id = ?",
        (key, holder_id),
    ).fetchone()
    if row is not None:
        return row_to_coupon(row)
    offered = campaign(conn, campaign_id)
    # the writer runs one operation at a time: what is counted here is what is written
    (got,) = conn.execute(
        "SELECT count(*) FROM coupons WHERE campaign_id = ? AND holder_id = ?",
        (campaign_id, holder_id),
    ).fetchone()
    refused = redeem_refusal(offered, now_ms, got, points_balance(conn, holder_id))
    if refused is not None:
        raise refused
    coupon_id = conn.execute(
        "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at) VALUES (?, ?, ?, ?)",
        (campaign_id, holder_id, key, now_ms),
    ).lastrowid
    conn.execute(
        "INSERT INTO points_journal (holder_id, points, reason, coupon_id, entry_key, created_at)"
        " VALUES (?, ?, 'redeem', ?, ?, ?)",
        (holder_id, -offered.points_cost, coupon_id, f"redeem:{key}", now_ms),
    )
    return Coupon(coupon_id, campaign_id, holder_id, now_ms)
