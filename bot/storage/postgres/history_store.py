"""A person's history and monthly statements on PostgreSQL: the ``HistoryStore`` and the
``StatementStore`` of ``bot.domain.history`` (reads of the journal only).

The visibility rule of ``bot.wallet.history`` in SQL, as on SQLite: a transfer debiting
the account (any flag: moved money, a reservation, its release), or one crediting it
whose money moved (``posted`` or ``post_pending``). Each query is a ``UNION ALL`` of a
debit and a credit side so that both use their ``(account, id)`` index; a transfer never
has the same account on both sides (a CHECK), so nothing is counted twice. A third side
adds the voucher legs of the account owner's shop payments (``merchant_payment_vouchers``,
found by the payer's index on ``merchant_payments``), a fourth the refunds of those legs
(by their ``ref``): they move money between the vouchers' escrow and a shop's own
account, never a person's, so they are not counted twice either.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.history import HistoryStore, PacketFacts, Party, StatementStore
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, Transfer
from bot.domain.refunds import refund_ref
from bot.storage.postgres.ledger_store import TRANSFER_COLUMNS, is_bigint, row_to_transfer
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgHistory"]

_MOVED = "flag IN ('posted', 'post_pending')"
_MAX_ID = 2**63 - 1


_RESOLVED_HOLD = (
    "(flag = 'pending' AND EXISTS (SELECT 1 FROM transfers AS r WHERE r.pending_id = transfers.id))"
)


# The voucher legs of the shop payments of the person whose account is $1.
_VOUCHER_LEGS = (
    "SELECT v.transfer_id FROM users AS u"
    " JOIN merchant_payments AS p ON p.payer_id = u.telegram_id"
    " JOIN merchant_payment_vouchers AS v ON v.payment_id = p.id"
    " WHERE u.account_id = $1"
)
# The refs of their refunds (``bot.domain.refunds.refund_ref``), found by that index.
_VOUCHER_REFUND_REFS = f"SELECT 'refund:' || transfer_id FROM ({_VOUCHER_LEGS}) AS legs"
# A payment's refunds, by the partial index on their ref (``transfers_refunds``).
_REFUNDS_OF = (
    f"SELECT {TRANSFER_COLUMNS} FROM transfers"
    f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = $1 ORDER BY id"
)
_VOUCHER_PAYER = (
    "SELECT u.account_id FROM merchant_payment_vouchers AS v"
    " JOIN merchant_payments AS p ON p.id = v.payment_id"
    " JOIN users AS u ON u.telegram_id = p.payer_id"
    " WHERE v.transfer_id = $1"
)


def _visible(bound: str, order: str) -> str:
    side = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE {{who}} AND id {bound} $2"
    # a hold shows while it holds; once posted, voided or expired, its resolution's line
    # says what became of the money (the hold and its payment are one event to a person)
    debit = side.format(who=f"debit_account_id = $1 AND NOT {_RESOLVED_HOLD}")
    credit = side.format(who=f"credit_account_id = $1 AND {_MOVED}")
    voucher = side.format(who=f"id IN ({_VOUCHER_LEGS})")
    back = side.format(who=f"kind = 'payment_refund' AND ref IN ({_VOUCHER_REFUND_REFS})")
    return (
        f"SELECT {TRANSFER_COLUMNS} FROM (({debit} ORDER BY id {order} LIMIT $3)"
        f" UNION ALL ({credit} ORDER BY id {order} LIMIT $3)"
        f" UNION ALL ({voucher} ORDER BY id {order} LIMIT $3)"
        f" UNION ALL ({back} ORDER BY id {order} LIMIT $3)) AS seen"
        f" ORDER BY id {order} LIMIT $3"
    )


_VISIBLE_BEFORE = _visible("<", "DESC")
_VISIBLE_AFTER = _visible(">", "ASC")
_BALANCE_BEFORE = (
    "SELECT ((SELECT coalesce(sum(amount), 0) FROM transfers"
    f"  WHERE credit_account_id = $1 AND {_MOVED} AND created_at < $2)"
    " - (SELECT coalesce(sum(amount), 0) FROM transfers"
    f"  WHERE debit_account_id = $1 AND {_MOVED} AND created_at < $2))::bigint"
)
_MOVED_BETWEEN = (
    f"SELECT {TRANSFER_COLUMNS} FROM (SELECT {TRANSFER_COLUMNS} FROM transfers"
    f" WHERE debit_account_id = $1 AND {_MOVED} AND created_at >= $2 AND created_at < $3"
    f" UNION ALL SELECT {TRANSFER_COLUMNS} FROM transfers WHERE credit_account_id = $1"
    f" AND {_MOVED} AND created_at >= $2 AND created_at < $3) AS moved ORDER BY id"
)
# The person behind a user account (users.account_id) or a merchant account (merchant:<id>).
_PARTIES = (
    "SELECT a.id, a.kind, a.name, coalesce(u.telegram_id, m.telegram_id),"
    " coalesce(u.username, m.username), coalesce(u.first_name, m.first_name), shop.name"
    " FROM accounts AS a"
    " LEFT JOIN users AS u ON u.account_id = a.id"
    " LEFT JOIN merchants AS shop ON shop.account_id = a.id"
    " LEFT JOIN users AS m ON a.kind = 'merchant' AND m.telegram_id ="
    "  CASE WHEN a.name ~ '^merchant:[0-9]{1,18}$'"
    "  THEN substr(a.name, length('merchant:') + 1)::bigint END"
    " WHERE a.id = ANY($1::bigint[])"
)

# The red packets behind a page's red packet lines, by their primary key: the sender's and
# (exclusive packets) the recipient's users rows for their names, by theirs.
_PACKETS = (
    "SELECT p.id, p.chat_id, p.inline_message_id, s.telegram_id, s.username, s.first_name,"
    " r.telegram_id, r.username, r.first_name, p.chat_title"
    " FROM red_packets AS p"
    " JOIN users AS s ON s.telegram_id = p.sender_id"
    " LEFT JOIN users AS r ON r.telegram_id = p.recipient_id"
    " WHERE p.id = ANY($1::text[])"
)


def _person(telegram_id: int | None, username: str | None, first_name: str | None) -> str | None:
    """The same display name as ``bot.domain.users.User.display_name``."""
    if telegram_id is None:
        return None
    return first_name or (f"@{username}" if username else str(telegram_id))


def _packet_facts(row) -> PacketFacts:
    packet_id, chat_id, inline_message_id = row[0], row[1], row[2]
    return PacketFacts(
        packet_id,
        sender=_person(row[3], row[4], row[5]) or "",
        in_group=chat_id is not None and inline_message_id is None,
        recipient=_person(row[6], row[7], row[8]),
        chat_title=row[9] or None,
    )


def _ids(ids: Iterable[int]) -> list[int]:
    return sorted({n for n in ids if is_bigint(n)})


class PgHistory(PgPortStore, HistoryStore, StatementStore):
    """Reads only: it moves nothing and writes nothing."""

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        if not is_bigint(transfer_id):
            return None
        row = await self._fetchrow(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1", transfer_id
        )
        return row_to_transfer(row) if row else None

    async def visible_before(
        self, account_id: int, before_id: int | None, limit: int
    ) -> list[Transfer]:
        before = before_id if before_id is not None else _MAX_ID
        rows = await self._fetch(_VISIBLE_BEFORE, account_id, before, limit)
        return [row_to_transfer(r) for r in rows]

    async def visible_after(self, account_id: int, after_id: int, limit: int) -> list[Transfer]:
        rows = await self._fetch(_VISIBLE_AFTER, account_id, after_id, limit)
        return [row_to_transfer(r) for r in rows]

    async def voucher_payer(self, transfer_id: int) -> int | None:
        if not is_bigint(transfer_id):
            return None
        row = await self._fetchrow(_VOUCHER_PAYER, transfer_id)
        return row[0] if row else None

    async def refunds_of(self, transfer_id: int) -> list[Transfer]:
        rows = await self._fetch(_REFUNDS_OF, refund_ref(transfer_id))
        return [row_to_transfer(r) for r in rows]

    async def resolution_of(self, pending_id: int) -> Transfer | None:
        if not is_bigint(pending_id):
            return None
        row = await self._fetchrow(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE pending_id = $1", pending_id
        )
        return row_to_transfer(row) if row else None

    async def transfers_by_id(self, ids: Iterable[int]) -> dict[int, Transfer]:
        rows = await self._fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1::bigint[])", _ids(ids)
        )
        return {row[0]: row_to_transfer(row) for row in rows}

    async def parties(self, account_ids: Iterable[int]) -> dict[int, Party]:
        found: dict[int, Party] = {}
        for row in await self._fetch(_PARTIES, _ids(account_ids)):
            account_id, kind, name, telegram_id, username, first_name, shop = row
            person = _person(telegram_id, username, first_name)
            found[account_id] = Party(account_id, AccountKind(kind), name, person, shop)
        return found

    async def packet_facts(self, packet_ids: Iterable[str]) -> dict[str, PacketFacts]:
        wanted = sorted(set(packet_ids))
        if not wanted:
            return {}
        rows = await self._fetch(_PACKETS, wanted)
        return {row[0]: _packet_facts(row) for row in rows}

    async def posted_balance_before(self, account_id: int, before_ms: int) -> int:
        return (await self._fetchrow(_BALANCE_BEFORE, account_id, before_ms))[0]

    async def moved_between(self, account_id: int, start_ms: int, end_ms: int) -> list[Transfer]:
        rows = await self._fetch(_MOVED_BETWEEN, account_id, start_ms, end_ms)
        return [row_to_transfer(r) for r in rows]
