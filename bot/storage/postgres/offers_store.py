"""Coupons, vouchers and points on PostgreSQL (the ``OfferStore`` of
``bot.domain.offer_store``), and the offers' share of a merchant payment's write
(:func:`use`, :func:`give_back`, run by ``merchants_store`` in the payment's transaction).

Money moves through the ledger's own operation (``create_transfers``: its checks, the
journal chain, idempotency) in the same transaction as the rows that say whose it is.
An operation that moves money takes the journal's advisory lock first
(:func:`money_lock`), so it reads and decides in the order its transfers take in the
chain, whatever process runs it: an expiry and a payment spending the same voucher are
put in order, and a key repeated at once is answered as a replay. What must hold
whatever the order is also kept by the rows themselves: a voucher part is taken by a
conditional update (only while the voucher is live and has the value left), a coupon
once (``used_payment_id IS NULL``), a campaign's budget by a conditional update of what
it has spent; points are redeemed under a per-person advisory lock (the person's coupons
of the campaign and their points counted under it, so two redemptions at once by one
person are put in order); a grant counts each holder's coupons of the campaign under the
campaign's row lock (grants of it at once, and redemptions, put in order), so nobody
gets more than one person may use. An issue and a grant
write the notice each holder is owed in their own transaction (:func:`tell`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.errors import (
    CampaignMerchantUnknown,
    CampaignNotFound,
    CouponBudgetExhausted,
    CouponUnavailable,
    IdempotencyConflict,
    LedgerError,
    VoucherUnavailable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, Transfer, TransferSpec
from bot.domain.notices import NewNotice
from bot.domain.offer_store import (
    HolderNotice,
    OfferStore,
    VoucherExpiry,
    VoucherIssue,
    grant_notices,
    issue_notices,
)
from bot.domain.offers import PaymentPlan, RefundSplit
from bot.domain.points import points_for, points_kept
from bot.domain.promotions import (
    Campaign,
    CampaignOrder,
    Coupon,
    CouponRule,
    HeldCoupon,
    coupon_refusal,
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
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import create_transfers, is_bigint, open_account
from bot.storage.postgres.port import (
    JOURNAL_LOCK,
    RETRY_SQLSTATES,
    UNIQUE_VIOLATION,
    PgPortStore,
)

__all__ = [
    "PgOffers",
    "fresh_transfers",
    "give_back",
    "money_lock",
    "system_account",
    "tell",
    "use",
]

# pg_advisory_xact_lock(POINTS_LOCK, hashtext(holder)): one person's points redeemed
# one at a time (the two-key space, apart from port.py's one-key locks).
POINTS_LOCK = 0x77_61_6C_10

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
_C_COLUMNS = ", ".join(f"c.{name.strip()}" for name in CAMPAIGN_COLUMNS.split(","))
_K_COLUMNS = ", ".join(f"k.{name.strip()}" for name in COUPON_COLUMNS.split(","))
_HELD = (
    f"SELECT {_K_COLUMNS}, {_C_COLUMNS},"
    " (SELECT m.name FROM merchants AS m WHERE m.id = c.merchant_id),"
    " (SELECT count(*) FROM coupon_redemptions AS r"
    "  WHERE r.holder_id = k.holder_id AND r.campaign_id = k.campaign_id)"
    " FROM coupons AS k JOIN campaigns AS c ON c.id = k.campaign_id"
    " WHERE k.holder_id = $1 AND k.used_payment_id IS NULL AND c.starts_at <= $2"
    " AND $2 < c.ends_at ORDER BY c.ends_at, k.id"
)


def row_to_campaign(row: Sequence) -> Campaign:
    """A campaign from its columns (``CAMPAIGN_COLUMNS``), and its shop's name after them
    when read with ``CAMPAIGN_READ``."""
    row = tuple(row)
    return Campaign(row[0], row[1], CouponRule(row[2]), *row[3:16])


def row_to_coupon(row: Sequence) -> Coupon:
    return Coupon(*tuple(row))


def row_to_voucher(row: Sequence) -> Voucher:
    row = tuple(row)
    return Voucher(*row[:5], parse_categories(row[5]), row[6], row[7], VoucherState(row[8]))


def _issue(row: Sequence, replayed: bool, holders: tuple[int, ...] = ()) -> VoucherIssue:
    row = tuple(row)
    return VoucherIssue(
        *row[:3], parse_categories(row[3]), *row[4:], replayed=replayed, holders=holders
    )


def _updated(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


# Shared with the merchants' store ----------------------------------------------------


async def money_lock(conn: asyncpg.Connection) -> None:
    """Take the journal's lock now (``create_transfers`` takes it too, later): what the
    operation reads before it moves money is read in the chain's order."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)


async def fresh_transfers(
    conn: asyncpg.Connection, clock: Callable[[], int], key: str, specs: Sequence[TransferSpec]
) -> tuple[Transfer, ...]:
    """``create_transfers`` for a key the caller found no record of: a key that moved
    money before (for something else) refuses the whole operation."""
    await money_lock(conn)
    if await conn.fetchval("SELECT 1 FROM transfers WHERE key = $1", key):
        raise IdempotencyConflict(key=key)
    return await create_transfers(conn, clock, key, specs)


async def system_account(
    conn: asyncpg.Connection, clock: Callable[[], int], name: str, currency: str
) -> int:
    """The id of a system account, opened if missing (looked up first: an id is taken
    from the sequence only by an account that is opened)."""
    found = await conn.fetchval(
        "SELECT id FROM accounts WHERE name = $1 AND currency = $2", name, currency
    )
    if found is not None:
        return found
    return (await open_account(conn, clock, name, AccountKind.SYSTEM, currency)).id


_ROW_LOCKS = ("", " FOR UPDATE", " FOR KEY SHARE")


async def campaign(conn: asyncpg.Connection, campaign_id: int, lock: str = "") -> Campaign:
    """The campaign's row, locked with ``lock`` (one of :data:`_ROW_LOCKS`) till the end
    of the transaction; ``CampaignNotFound`` when there is none."""
    if lock not in _ROW_LOCKS:
        raise ValueError(f"no such row lock: {lock!r}")
    row = None
    if is_bigint(campaign_id):
        row = await conn.fetchrow(
            f"SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = $1{lock}", campaign_id
        )
    if row is None:
        raise CampaignNotFound(campaign_id=campaign_id)
    return row_to_campaign(row)


# A merchant payment's share (in the payment's transaction) ----------------------------


async def _spend_voucher(
    conn: asyncpg.Connection,
    voucher_id: int,
    amount: int,
    payment_id: int,
    payer: int,
    category: str,
    now_ms: int,
) -> None:
    refused = VoucherUnavailable(voucher_id=voucher_id)
    if not is_bigint(voucher_id):
        raise refused
    categories = await conn.fetchval(
        "SELECT categories FROM vouchers WHERE id = $1 AND holder_id = $2", voucher_id, payer
    )
    if categories is None:
        raise refused
    allowed = parse_categories(categories)
    if allowed and category not in allowed:
        raise refused
    taken = await conn.execute(
        "UPDATE vouchers SET remaining_fen = remaining_fen - $1 WHERE id = $2"
        " AND state = 'live' AND expires_at > $3 AND remaining_fen >= $1",
        amount,
        voucher_id,
        now_ms,
    )
    if _updated(taken) != 1:
        raise refused
    await conn.execute(
        "INSERT INTO voucher_spends (payment_id, voucher_id, amount_fen) VALUES ($1, $2, $3)",
        payment_id,
        voucher_id,
        amount,
    )


async def _take_coupon(
    conn: asyncpg.Connection,
    plan: PaymentPlan,
    payment_id: int,
    payer: int,
    merchant_id: int,
    category: str,
    now_ms: int,
) -> None:
    coupon_id = plan.coupon_id
    row = None
    if is_bigint(coupon_id):
        # locked: two payments with one coupon are put in order, the second sees it used
        row = await conn.fetchrow(
            f"SELECT {COUPON_COLUMNS} FROM coupons WHERE id = $1 FOR UPDATE", coupon_id
        )
    if row is None:
        raise CouponUnavailable(coupon_id=coupon_id)
    coupon = row_to_coupon(row)
    used = await conn.fetchval(
        "SELECT count(*) FROM coupon_redemptions WHERE holder_id = $1 AND campaign_id = $2",
        payer,
        coupon.campaign_id,
    )
    held = HeldCoupon(coupon, await campaign(conn, coupon.campaign_id), used)
    discount, refused = coupon_refusal(held, payer, merchant_id, category, plan.price_fen, now_ms)
    if refused is not None:
        raise refused
    if discount != plan.discount_fen:  # the campaign is not what the plan read
        raise CouponUnavailable(coupon_id=coupon_id)
    # the budget again, as the discount is written: two payments never overspend it
    spent = await conn.execute(
        "UPDATE campaigns SET spent_fen = spent_fen + $1 WHERE id = $2"
        " AND spent_fen + $1 <= budget_fen",
        discount,
        coupon.campaign_id,
    )
    if not _updated(spent):
        raise CouponBudgetExhausted(campaign_id=coupon.campaign_id)
    taken = await conn.execute(
        "UPDATE coupons SET used_payment_id = $1, used_at = $2 WHERE id = $3"
        " AND used_payment_id IS NULL",
        payment_id,
        now_ms,
        coupon_id,
    )
    if not _updated(taken):
        raise CouponUnavailable(coupon_id=coupon_id)
    await conn.execute(
        "INSERT INTO coupon_redemptions"
        " (payment_id, coupon_id, campaign_id, holder_id, discount_fen, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        payment_id,
        coupon_id,
        coupon.campaign_id,
        payer,
        discount,
        now_ms,
    )


async def use(
    conn: asyncpg.Connection,
    plan: PaymentPlan,
    payment_id: int,
    payer_telegram_id: int,
    merchant_id: int,
    category: str,
    now_ms: int,
) -> None:
    """Spend the plan's vouchers and coupon, and award the payment's points, in the
    payment's transaction.

    Raises ``VoucherUnavailable``, ``CouponUnavailable``, ``CouponLimitReached`` or
    ``CouponBudgetExhausted`` to refuse the whole payment. Called once per payment
    (a second call for the same payment does nothing)."""
    if await conn.fetchval("SELECT 1 FROM offer_payments WHERE payment_id = $1", payment_id):
        return
    for part in plan.vouchers:
        await _spend_voucher(
            conn, part.voucher_id, part.amount_fen, payment_id, payer_telegram_id, category, now_ms
        )
    if plan.coupon_id is not None:
        await _take_coupon(conn, plan, payment_id, payer_telegram_id, merchant_id, category, now_ms)
    points = points_for(plan.own_fen)
    await conn.execute(
        "INSERT INTO offer_payments (payment_id, payer_id, own_fen, points, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        payment_id,
        payer_telegram_id,
        plan.own_fen,
        points,
        now_ms,
    )
    if points:
        await conn.execute(
            "INSERT INTO points_journal (holder_id, points, reason, payment_id, created_at)"
            " VALUES ($1, $2, 'payment', $3, $4)",
            payer_telegram_id,
            points,
            payment_id,
            now_ms,
        )


async def _return_voucher(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    payment_id: int,
    voucher_id: int,
    amount: int,
) -> int:
    """``amount`` back into the voucher it was spent from, or, that voucher having
    expired, on to its issuer: how much went to the issuer (0 or ``amount``)."""
    spent = await conn.fetchrow(
        "SELECT amount_fen, returned_fen FROM voucher_spends"
        " WHERE payment_id = $1 AND voucher_id = $2 FOR UPDATE",
        payment_id,
        voucher_id,
    )
    if spent is None or spent[1] + amount > spent[0]:
        raise LedgerError(f"payment {payment_id} did not spend {amount} of voucher {voucher_id}")
    await conn.execute(
        "UPDATE voucher_spends SET returned_fen = returned_fen + $1"
        " WHERE payment_id = $2 AND voucher_id = $3",
        amount,
        payment_id,
        voucher_id,
    )
    state, issue_id = await conn.fetchrow(
        "SELECT state, issue_id FROM vouchers WHERE id = $1 FOR UPDATE", voucher_id
    )
    if state == "live":  # back into the voucher (an expiry due gives it to the issuer)
        await conn.execute(
            "UPDATE vouchers SET remaining_fen = remaining_fen + $1 WHERE id = $2",
            amount,
            voucher_id,
        )
        return 0
    escrow_id, issuer_id = await conn.fetchrow(
        "SELECT escrow_id, issuer_id FROM voucher_issues WHERE id = $1", issue_id
    )
    key = f"voucher:{voucher_id}:return:{payment_id}:{spent[1]}"
    spec = TransferSpec(
        escrow_id, issuer_id, amount, TransferKind.VOUCHER_EXPIRY, ref=f"voucher_issue:{issue_id}"
    )
    await fresh_transfers(conn, clock, key, (spec,))
    await conn.execute(
        "UPDATE voucher_issues SET returned_fen = returned_fen + $1 WHERE id = $2",
        amount,
        issue_id,
    )
    return amount


async def _return_coupon(conn: asyncpg.Connection, payment_id: int) -> None:
    """The coupon of a payment given back in full: unused again, no longer counted
    toward the per-person limit, its discount no longer spent of the campaign's budget."""
    row = await conn.fetchrow(
        "DELETE FROM coupon_redemptions WHERE payment_id = $1"
        " RETURNING coupon_id, campaign_id, discount_fen",
        payment_id,
    )
    if row is None:
        return
    coupon_id, campaign_id, discount = row
    done = await conn.execute(
        "UPDATE coupons SET used_payment_id = NULL, used_at = NULL"
        " WHERE id = $1 AND used_payment_id = $2",
        coupon_id,
        payment_id,
    )
    if done == "UPDATE 0":
        raise LedgerError("a redeemed coupon is not marked used by its payment")
    await conn.execute(
        "UPDATE campaigns SET spent_fen = spent_fen - $1 WHERE id = $2", discount, campaign_id
    )


async def give_back(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    payment_id: int,
    split: RefundSplit,
    full: bool,
    now_ms: int,
) -> int:
    """Return a refund's voucher parts to their vouchers (to the issuer once a voucher
    has expired), and take back the points the refunded money earned, in the refund's
    transaction; once all of the payment is given back (``full``: its discount went back
    to the promotion), its coupon to the payer, unused again, and its discount to the
    campaign's budget. How much of the voucher parts went on to the issuers of vouchers
    expired meanwhile."""
    lapsed = 0
    for part in split.vouchers:
        lapsed += await _return_voucher(conn, clock, payment_id, part.voucher_id, part.amount_fen)
    if full:
        await _return_coupon(conn, payment_id)
    row = await conn.fetchrow(
        "SELECT payer_id, own_fen, own_refunded_fen, points FROM offer_payments"
        " WHERE payment_id = $1 FOR UPDATE",
        payment_id,
    )
    if row is None:  # a payment written before the offers existed: no points to undo
        return lapsed
    payer, own, refunded, points = row
    refunded += split.own_fen
    kept = min(points, points_kept(own, refunded, full))
    await conn.execute(
        "UPDATE offer_payments SET own_refunded_fen = $1, points = $2 WHERE payment_id = $3",
        refunded,
        kept,
        payment_id,
    )
    if kept < points:
        # never below zero: points already spent (a coupon bought with them) stay spent;
        # under the person's lock, so a redemption at once is counted before or after
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2::text))", POINTS_LOCK, str(payer)
        )
        held = await conn.fetchval(
            "SELECT coalesce(sum(points), 0)::bigint FROM points_journal WHERE holder_id = $1",
            payer,
        )
        taken = min(points - kept, max(held, 0))
        if taken:
            await conn.execute(
                "INSERT INTO points_journal (holder_id, points, reason, payment_id, created_at)"
                " VALUES ($1, $2, 'refund', $3, $4)",
                payer,
                -taken,
                payment_id,
                now_ms,
            )
    return lapsed


# The store's own writes ------------------------------------------------------------------


async def _merchant_known(conn: asyncpg.Connection, merchant_id: int) -> bool:
    if not is_bigint(merchant_id):
        return False
    return await conn.fetchval("SELECT 1 FROM merchants WHERE id = $1", merchant_id) is not None


async def _create_campaign(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    order: CampaignOrder,
    admin_id: int,
    event: str,
    now_ms: int,
) -> tuple[Campaign, bool]:
    found = await conn.fetchval("SELECT id FROM campaigns WHERE create_key = $1", key)
    if found is not None:
        return await campaign(conn, found), True
    if order.merchant_id is not None and not await _merchant_known(conn, order.merchant_id):
        raise CampaignMerchantUnknown(merchant_id=order.merchant_id)
    made = order.campaign(0, now_ms)
    campaign_id = await conn.fetchval(
        "INSERT INTO campaigns (name, rule, min_spend_fen, off_fen, percent, cap_fen,"
        " budget_fen, spent_fen, per_user_limit, starts_at, ends_at, merchant_id, category,"
        " points_cost, created_by, create_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, $14, $15)"
        " RETURNING id",
        made.name,
        made.rule.value,
        made.min_spend_fen,
        made.off_fen,
        made.percent,
        made.cap_fen,
        made.budget_fen,
        made.per_user_limit,
        made.starts_at,
        made.ends_at,
        made.merchant_id,
        made.category,
        made.points_cost,
        admin_id,
        key,
    )
    created = await campaign(conn, campaign_id)
    details = {"campaign_id": created.id, "name": created.name, "rule": created.rule.value}
    details |= {"budget": created.budget_fen, "ends_at": created.ends_at, "key": key}
    await append_event(conn, clock, admin_id, event, None, details)
    return created, False


async def tell(conn: asyncpg.Connection, now_ms: int, notices: Sequence[NewNotice]) -> int:
    """Write each notice whose key is new, in order, inside the caller's transaction (as
    ``notices_store.add_notices`` does, in one statement however many holders: an issue
    to every resident holds the journal's lock while it writes); how many were new."""
    if not notices:
        return 0
    return _updated(
        await conn.execute(
            "INSERT INTO notices (key, telegram_id, kind, params, due_at, created_at)"
            " SELECT n.key, n.telegram_id, n.kind, n.params, $5, $5"
            " FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])"
            "  WITH ORDINALITY AS n (key, telegram_id, kind, params, i)"
            " ORDER BY n.i ON CONFLICT (key) DO NOTHING",
            [n.key for n in notices],
            [n.telegram_id for n in notices],
            [n.kind for n in notices],
            [json.dumps(n.params, sort_keys=True) for n in notices],
            now_ms,
        )
    )


async def _grant_coupons(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    campaign_id: int,
    holder_ids: Sequence[int],
    admin_id: int,
    event: str,
    now_ms: int,
    told: HolderNotice | None = None,
) -> int:
    # the campaign's row locked: grants of it (and redemptions, which share the row's key
    # lock) are put in order, so each counts what the one before it wrote
    granted_to = await campaign(conn, campaign_id, lock=" FOR UPDATE")
    if not granted_to.is_running(now_ms):
        raise CouponUnavailable(coupon_id=0, campaign_id=campaign_id)
    holders = list(dict.fromkeys(holder_ids))
    rows = await conn.fetch(
        "SELECT h.holder, (SELECT count(*) FROM coupons AS k"
        "  WHERE k.campaign_id = $1 AND k.holder_id = h.holder)"
        " FROM unnest($2::bigint[]) WITH ORDINALITY AS h (holder, n)"
        " WHERE NOT EXISTS (SELECT 1 FROM coupons AS k"
        "  WHERE k.grant_key = $3 AND k.holder_id = h.holder)"
        " ORDER BY h.n",
        campaign_id,
        holders,
        key,
    )
    refused = grant_refusal(granted_to, {holder: got for holder, got in rows})
    if refused is not None:
        raise refused
    # in the order given, each holder once; those the key granted before are left out
    # (a concurrent grant of the same key meets the unique index and grants nothing)
    granted = _updated(
        await conn.execute(
            "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
            " SELECT $1, h.holder, $2, $3"
            " FROM unnest($4::bigint[]) WITH ORDINALITY AS h (holder, n)"
            " WHERE NOT EXISTS (SELECT 1 FROM coupons AS k"
            "  WHERE k.grant_key = $2 AND k.holder_id = h.holder)"
            " ORDER BY h.n ON CONFLICT (grant_key, holder_id) DO NOTHING",
            campaign_id,
            key,
            now_ms,
            holders,
        )
    )
    if granted:
        details = {"campaign_id": campaign_id, "granted": granted, "key": key}
        await append_event(conn, clock, admin_id, event, None, details)
    await tell(conn, now_ms, grant_notices(told, key, campaign_id, holder_ids))
    return granted


async def _issue_vouchers(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    order: VoucherIssueOrder,
    holder_ids: Sequence[int],
    escrow_id: int,
    issuer_id: int,
    admin_id: int,
    event: str,
    now_ms: int,
    told: HolderNotice | None = None,
) -> VoucherIssue:
    await money_lock(conn)  # an issue of the same key at once: the later one replays
    row = await conn.fetchrow(
        f"SELECT {_ISSUE_COLUMNS} FROM voucher_issues WHERE issue_key = $1", key
    )
    if row is not None:  # a replay: who the first issue gave a voucher, not who is asked now
        given = await conn.fetch(
            "SELECT holder_id FROM vouchers WHERE issue_id = $1 ORDER BY id", row[0]
        )
        issued = _issue(row, replayed=True, holders=tuple(r[0] for r in given))
        await tell(conn, now_ms, issue_notices(told, issued, issued.holders))
        return issued
    holders = list(dict.fromkeys(holder_ids))
    if not holders:
        raise ValueError("an issue of vouchers has holders")
    total = order.amount_fen * len(holders)
    spec = TransferSpec(issuer_id, escrow_id, total, TransferKind.VOUCHER_ISSUE, ref="vouchers")
    (moved,) = await fresh_transfers(conn, clock, key, (spec,))
    categories = format_categories(order.categories)
    expires_at = order.expires_at(now_ms)
    row = await conn.fetchrow(
        "INSERT INTO voucher_issues (issue_key, admin_id, amount_fen, count, categories,"
        " issued_at, expires_at, escrow_id, issuer_id, transfer_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        f" RETURNING {_ISSUE_COLUMNS}",
        key,
        admin_id,
        order.amount_fen,
        len(holders),
        categories,
        now_ms,
        expires_at,
        escrow_id,
        issuer_id,
        moved.id,
    )
    await conn.execute(
        "INSERT INTO vouchers (issue_id, holder_id, amount_fen, remaining_fen, categories,"
        " issued_at, expires_at)"
        " SELECT $1, h.holder, $2, $2, $3, $4, $5"
        " FROM unnest($6::bigint[]) WITH ORDINALITY AS h (holder, n) ORDER BY h.n",
        row[0],
        order.amount_fen,
        categories,
        now_ms,
        expires_at,
        holders,
    )
    details = {"issue_id": row[0], "amount": order.amount_fen, "count": len(holders)}
    details |= {"total": total, "categories": categories, "expires_at": expires_at, "key": key}
    await append_event(conn, clock, admin_id, event, None, details)
    issued = _issue(row, replayed=False, holders=tuple(holders))
    await tell(conn, now_ms, issue_notices(told, issued, issued.holders))
    return issued


async def _expire_issue(
    conn: asyncpg.Connection, clock: Callable[[], int], issue_id: int
) -> VoucherExpiry | None:
    """Give the unspent value of an issue past its deadline back to the issuer, once
    (two sweeps at once: the second finds it expired)."""
    if not is_bigint(issue_id):
        return None
    await money_lock(conn)  # after every payment that spent from it, before any later
    row = await conn.fetchrow(
        "SELECT expires_at, state, escrow_id, issuer_id FROM voucher_issues WHERE id = $1"
        " FOR UPDATE",
        issue_id,
    )
    if row is None or row[1] != "live" or clock() < row[0]:
        return None
    _, _, escrow_id, issuer_id = row
    count, left = await conn.fetchrow(
        "SELECT count(*), coalesce(sum(remaining_fen), 0)::bigint FROM vouchers"
        " WHERE issue_id = $1 AND state = 'live'",
        issue_id,
    )
    if left:
        spec = TransferSpec(
            escrow_id, issuer_id, left, TransferKind.VOUCHER_EXPIRY, ref=f"voucher_issue:{issue_id}"
        )
        await fresh_transfers(conn, clock, f"voucher_issue:{issue_id}:expiry", (spec,))
    await conn.execute("UPDATE vouchers SET state = 'expired' WHERE issue_id = $1", issue_id)
    await conn.execute(
        "UPDATE voucher_issues SET state = 'expired', returned_fen = $1 WHERE id = $2",
        left,
        issue_id,
    )
    return VoucherExpiry(issue_id, count, left)


async def _redeem_points(
    conn: asyncpg.Connection, key: str, holder_id: int, campaign_id: int, now_ms: int
) -> Coupon:
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::text))", POINTS_LOCK, str(holder_id)
    )
    row = await conn.fetchrow(
        f"SELECT {COUPON_COLUMNS} FROM coupons WHERE grant_key = $1 AND holder_id = $2",
        key,
        holder_id,
    )
    if row is not None:
        return row_to_coupon(row)
    # the campaign's key lock: a grant of it at once (which locks the row for update) is
    # put before or after this redemption, so either counts the other's coupon
    offered = await campaign(conn, campaign_id, lock=" FOR KEY SHARE")
    # under the person's lock: two redemptions of theirs at once count one after the other
    got = await conn.fetchval(
        "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND holder_id = $2",
        campaign_id,
        holder_id,
    )
    balance = await conn.fetchval(
        "SELECT coalesce(sum(points), 0)::bigint FROM points_journal WHERE holder_id = $1",
        holder_id,
    )
    refused = redeem_refusal(offered, now_ms, got, balance)
    if refused is not None:
        raise refused
    coupon_id = await conn.fetchval(
        "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        campaign_id,
        holder_id,
        key,
        now_ms,
    )
    await conn.execute(
        "INSERT INTO points_journal (holder_id, points, reason, coupon_id, entry_key, created_at)"
        " VALUES ($1, $2, 'redeem', $3, $4, $5)",
        holder_id,
        -offered.points_cost,
        coupon_id,
        f"redeem:{key}",
        now_ms,
    )
    return Coupon(coupon_id, campaign_id, holder_id, now_ms)


class PgOffers(PgPortStore, OfferStore):
    async def create_campaign(
        self, key: str, order: CampaignOrder, admin_id: int, event: str
    ) -> tuple[Campaign, bool]:
        return await self._write(
            _create_campaign,
            self._clock,
            key,
            order,
            admin_id,
            event,
            self._clock(),
            retry=RETRY_SQLSTATES | {UNIQUE_VIOLATION},  # the same key at once: a replay
        )

    async def merchant_known(self, merchant_id: int) -> bool:
        if not is_bigint(merchant_id):
            return False
        row = await self._fetchrow("SELECT 1 FROM merchants WHERE id = $1", merchant_id)
        return row is not None

    async def merchant_name(self, merchant_id: int) -> str | None:
        if not is_bigint(merchant_id):
            return None
        row = await self._fetchrow("SELECT name FROM merchants WHERE id = $1", merchant_id)
        return None if row is None else row[0]

    async def get_campaign(self, campaign_id: int) -> Campaign | None:
        if not is_bigint(campaign_id):
            return None
        row = await self._fetchrow(
            f"SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = $1", campaign_id
        )
        return None if row is None else row_to_campaign(row)

    async def redeemable_campaigns(
        self, now_ms: int, holder_id: int | None = None
    ) -> list[Campaign]:
        rows = await self._fetch(
            f"SELECT {CAMPAIGN_READ} FROM campaigns AS c WHERE points_cost > 0"
            " AND starts_at <= $1 AND $1 < ends_at AND spent_fen < budget_fen"
            " AND ($2::bigint IS NULL OR (SELECT count(*) FROM coupons AS k"
            "  WHERE k.campaign_id = c.id AND k.holder_id = $2) < per_user_limit)"
            " ORDER BY points_cost, id LIMIT 20",
            now_ms,
            holder_id,
        )
        return [row_to_campaign(row) for row in rows]

    async def grant_coupons(
        self,
        key: str,
        campaign_id: int,
        holder_ids: Sequence[int],
        admin_id: int,
        event: str,
        tell: HolderNotice | None = None,
    ) -> int:
        return await self._write(
            _grant_coupons,
            self._clock,
            key,
            campaign_id,
            tuple(holder_ids),
            admin_id,
            event,
            self._clock(),
            tell,
        )

    async def held_coupons(self, holder_id: int, now_ms: int) -> list[HeldCoupon]:
        rows = await self._fetch(_HELD, holder_id, now_ms)
        return [
            HeldCoupon(row_to_coupon(tuple(row)[:5]), row_to_campaign(tuple(row)[5:21]), row[21])
            for row in rows
        ]

    async def verified_residents(self) -> list[int]:
        rows = await self._fetch("SELECT telegram_id FROM identities ORDER BY telegram_id")
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
        return await self._write(
            _issue_vouchers,
            self._clock,
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
        rows = await self._fetch(
            f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE holder_id = $1 AND state = 'live'"
            " AND expires_at > $2 AND remaining_fen > 0 ORDER BY expires_at, id",
            holder_id,
            now_ms,
        )
        return [row_to_voucher(row) for row in rows]

    async def due_voucher_issues(self, now_ms: int, limit: int) -> list[int]:
        rows = await self._fetch(
            "SELECT id FROM voucher_issues WHERE state = 'live' AND expires_at <= $1"
            " ORDER BY expires_at LIMIT $2",
            now_ms,
            limit,
        )
        return [row[0] for row in rows]

    async def expire_voucher_issue(self, issue_id: int) -> VoucherExpiry | None:
        return await self._write(_expire_issue, self._clock, issue_id)

    async def points_of(self, holder_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchrow(
            "SELECT coalesce(sum(points), 0)::bigint,"
            " coalesce(sum(CASE WHEN reason <> 'redeem' AND created_at >= $1 THEN points END),"
            " 0)::bigint FROM points_journal WHERE holder_id = $2",
            since_ms,
            holder_id,
        )
        return row[0], row[1]

    async def redeem_points(self, key: str, holder_id: int, campaign_id: int) -> Coupon:
        return await self._write(_redeem_points, key, holder_id, campaign_id, self._clock())
