"""Reads for the payment guard (``bot.security.guard``): SQL text and row mapping.

The store runs these through its reader pool. The conventions they encode are
described in ``bot.security.guard``: an outgoing payment is a transfer of an outgoing
payment kind debiting the payer's account, posted, or pending and not voided or expired
(a posted reservation counts once, by its pending row), and not a withdrawal the bank
declined (``withdrawals.state = 'failed'``: voided or refunded); a grab is a posted
``redpacket_grab`` transfer crediting the grabber with ``ref`` ``chat:<id>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.domain.holds import Held, HoldState, PayerRecord
from bot.domain.kinds import PAYMENT_KINDS, TransferKind
from bot.domain.redpackets import grab_chat_id
from bot.domain.risk import RecentGrab

__all__ = [
    "HELD_COLUMNS",
    "HELD_FROM",
    "OUTGOING_TOTALS",
    "PAYER",
    "RECENT_GRABS",
    "RECENT_OUTGOING",
    "row_to_grab",
    "row_to_held",
    "row_to_payer",
]

_KINDS = ", ".join(f"'{kind.value}'" for kind in sorted(PAYMENT_KINDS))  # constants, not input
_OUTGOING = (
    f"t.debit_account_id = :account AND t.kind IN ({_KINDS})"
    " AND (t.flag = 'posted' OR (t.flag = 'pending' AND NOT EXISTS ("
    "  SELECT 1 FROM transfers AS r WHERE r.pending_id = t.id"
    "  AND r.flag IN ('void_pending', 'expire_pending'))))"
    # A withdrawal the bank declined gave its money back (voided, or refunded by a new
    # transfer after an approved hold): it no longer counts as sent.
    " AND NOT EXISTS (SELECT 1 FROM withdrawals AS w"
    "  WHERE w.pending_transfer_id = t.id AND w.state = 'failed')"
)

PAYER = (
    "SELECT u.account_id, a.created_at, c.pin_hash IS NOT NULL,"
    " coalesce(c.totp_enabled, 0), coalesce(c.nopin_per_payment, 0),"
    " coalesce(c.nopin_daily, 0)"
    " FROM users AS u JOIN accounts AS a ON a.id = u.account_id"
    " LEFT JOIN credentials AS c ON c.telegram_id = u.telegram_id"
    " WHERE u.telegram_id = ?"
)

# (Σ sent, Σ sent without a PIN) from :since on
OUTGOING_TOTALS = (
    "SELECT coalesce(sum(t.amount), 0), coalesce(sum(CASE WHEN EXISTS ("
    "  SELECT 1 FROM password_free_payments AS m WHERE m.transfer_key = t.key)"
    "  THEN t.amount ELSE 0 END), 0)"
    f" FROM transfers AS t WHERE {_OUTGOING} AND t.created_at >= :since"
)

# (at, amount, recipient's Telegram id or NULL) after :since
RECENT_OUTGOING = (
    "SELECT t.created_at, t.amount, u.telegram_id FROM transfers AS t"
    " LEFT JOIN users AS u ON u.account_id = t.credit_account_id"
    f" WHERE {_OUTGOING} AND t.created_at > :since ORDER BY t.created_at, t.id"
)

RECENT_GRABS = (
    "SELECT t.created_at, t.ref FROM transfers AS t"
    f" WHERE t.credit_account_id = :account AND t.kind = '{TransferKind.RED_PACKET_GRAB.value}'"
    " AND t.flag = 'posted' AND t.created_at > :since ORDER BY t.created_at, t.id"
)

HELD_COLUMNS = (
    "h.id, h.pending_transfer_id, h.payer_account_id, h.credit_account_id, p.telegram_id,"
    " r.telegram_id, h.amount, h.kind, h.reasons, t.memo, h.state, h.created_at,"
    " h.decided_by, h.decided_at"
)
HELD_FROM = (
    "held_payments AS h JOIN transfers AS t ON t.id = h.pending_transfer_id"
    " LEFT JOIN users AS p ON p.account_id = h.payer_account_id"
    " LEFT JOIN users AS r ON r.account_id = h.credit_account_id"
)


def row_to_grab(row: Sequence) -> RecentGrab:
    return RecentGrab(row[0], grab_chat_id(row[1]))


def row_to_payer(row: Sequence) -> PayerRecord:
    return PayerRecord(row[0], row[1], bool(row[2]), bool(row[3]), row[4], row[5])


def row_to_held(row: Sequence) -> Held:
    return Held(
        id=row[0],
        pending_transfer_id=row[1],
        payer_account_id=row[2],
        credit_account_id=row[3],
        payer_telegram_id=row[4],
        recipient_telegram_id=row[5],
        amount=row[6],
        kind=row[7],
        reasons=tuple(json.loads(row[8])),
        memo=row[9],
        state=HoldState(row[10]),
        created_at=row[11],
        decided_by=row[12],
        decided_at=row[13],
    )
