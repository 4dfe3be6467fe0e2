"""Monthly statements: the money that moved in one calendar month, with the running balance.

A statement lists what changed the account's balance, oldest first: posted transfers and
posted reservations, each at the moment its money moved. Reservations that were only held
(and perhaps released) moved nothing, so they are in ``/history`` but not here. Each row
carries the balance after it; the first row starts from the balance at the start of the
month (the opening balance), so ``opening + Σ amounts = closing`` holds exactly, in fen.

Months are calendar months in China (Asia/Shanghai, UTC+8 all year: China has kept no
daylight saving time since 1991), like the daily limits of the payment guard.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from bot.domain.errors import MonthInvalid
from bot.domain.history import PacketSide, Party, StatementStore
from bot.domain.model import Transfer
from bot.wallet.history import counterparty_id, line_kind, memos_of, packet_sides

__all__ = [
    "CHINA",
    "FIRST_YEAR",
    "Month",
    "Statement",
    "StatementRow",
    "Statements",
    "build_statement",
    "parse_month",
]

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
FIRST_YEAR = 2000  # statements start here; earlier years are typos
_MONTH = re.compile(r"(\d{4})[-/.](\d{1,2})")
_MS = 1000


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month in China's time zone."""

    year: int
    month: int

    @classmethod
    def containing(cls, ms: int) -> Month:
        moment = datetime.fromtimestamp(ms // _MS, tz=CHINA)
        return cls(moment.year, moment.month)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def start_ms(self) -> int:
        """The first millisecond of the month (00:00 on the 1st, Beijing time)."""
        start = datetime(self.year, self.month, 1, tzinfo=CHINA)
        return int(start.astimezone(UTC).timestamp()) * _MS

    @property
    def end_ms(self) -> int:
        """The first millisecond after the month."""
        return self.next().start_ms

    @property
    def days(self) -> int:
        return (self.end_ms - self.start_ms) // (86_400 * _MS)


def parse_month(text: str | None, now_ms: int) -> Month:
    """``2026-01`` (also ``2026/1``, full-width digits) → that month; empty → this month.

    Refused with :class:`MonthInvalid`: another shape (``26-01``, ``January``), a month
    outside 01–12 or before :data:`FIRST_YEAR`, and a month that has not begun yet.
    """
    current = Month.containing(now_ms)
    if text is None or not text.strip():
        return current
    shown = text.strip()[:40]
    match = _MONTH.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise MonthInvalid("month_format", text=shown, latest=current.label)
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or year < FIRST_YEAR:
        raise MonthInvalid("month_out_of_range", text=shown, latest=current.label)
    wanted = Month(year, month)
    if wanted > current:
        raise MonthInvalid("month_in_future", text=shown, latest=current.label)
    return wanted


@dataclass(frozen=True, slots=True)
class StatementRow:
    transfer_id: int
    created_at: int  # unix ms
    kind: str
    counterparty: Party
    amount: int  # signed fen: + in, - out
    memo: str
    balance_after: int  # fen
    packet: PacketSide | None = None  # a red packet's transfer: the packet behind the escrow


@dataclass(frozen=True, slots=True)
class Statement:
    month: Month
    account_id: int
    opening_balance: int  # fen, at the start of the month
    rows: tuple[StatementRow, ...]  # oldest first
    as_of_ms: int | None = None  # made before the month ended: the moment it was made

    @property
    def until_ms(self) -> int:
        """Where the statement's period ends: the month's end, or the moment it was made."""
        end = self.month.end_ms
        return end if self.as_of_ms is None else max(self.month.start_ms, min(end, self.as_of_ms))

    @property
    def closing_balance(self) -> int:
        return self.rows[-1].balance_after if self.rows else self.opening_balance

    @property
    def money_in(self) -> int:
        return sum(row.amount for row in self.rows if row.amount > 0)

    @property
    def money_out(self) -> int:
        """What left the account, as a positive number of fen."""
        return -sum(row.amount for row in self.rows if row.amount < 0)

    def spending_by_kind(self) -> tuple[tuple[str, int], ...]:
        """Money out per kind of transfer, largest first (ties by kind), positive fen."""
        totals: dict[str, int] = {}
        for row in self.rows:
            if row.amount < 0:
                totals[row.kind] = totals.get(row.kind, 0) - row.amount
        return tuple(sorted(totals.items(), key=lambda item: (-item[1], item[0])))

    def balance_points(self) -> tuple[tuple[int, int], ...]:
        """(unix ms, balance) from the start of the month, one point per row."""
        start = ((self.month.start_ms, self.opening_balance),)
        return start + tuple((row.created_at, row.balance_after) for row in self.rows)


def build_statement(
    month: Month,
    account_id: int,
    opening_balance: int,
    transfers: Sequence[Transfer],
    parties: dict[int, Party],
    memos: dict[int, str] | None = None,
    *,
    as_of_ms: int | None = None,
    packets: dict[int, PacketSide] | None = None,
) -> Statement:
    """The statement of ``transfers`` (the month's balance-moving ones, in id order)."""
    balance = opening_balance
    rows = []
    for transfer in transfers:
        if not transfer.flag.moves_posted_balance:
            raise ValueError(f"transfer {transfer.id} moved no money ({transfer.flag})")
        if account_id == transfer.credit_account_id:
            amount = transfer.amount
        elif account_id == transfer.debit_account_id:
            amount = -transfer.amount
        else:
            raise ValueError(f"transfer {transfer.id} does not touch account {account_id}")
        balance += amount
        rows.append(
            StatementRow(
                transfer_id=transfer.id,
                created_at=transfer.created_at,
                kind=line_kind(transfer),
                counterparty=parties[counterparty_id(transfer, account_id)],
                amount=amount,
                memo=(memos or {}).get(transfer.id, transfer.memo),
                balance_after=balance,
                packet=(packets or {}).get(transfer.id),
            )
        )
    return Statement(month, account_id, opening_balance, tuple(rows), as_of_ms)


class Statements:
    """Builds monthly statements from the journal; moves nothing."""

    def __init__(self, store: StatementStore) -> None:
        self.store = store

    async def statement(self, account_id: int, month_text: str | None) -> Statement:
        """The statement of the month a person asked for (this month when empty)."""
        return await self.for_month(account_id, parse_month(month_text, self.store.now_ms()))

    async def for_month(self, account_id: int, month: Month) -> Statement:
        now = self.store.now_ms()
        opening = await self.store.posted_balance_before(account_id, month.start_ms)
        transfers = await self.store.moved_between(account_id, month.start_ms, month.end_ms)
        parties = await self.store.parties({counterparty_id(t, account_id) for t in transfers})
        memos = await memos_of(self.store, transfers)
        packets = await packet_sides(self.store, transfers, account_id)
        as_of = now if now < month.end_ms else None
        return build_statement(
            month, account_id, opening, transfers, parties, memos, as_of_ms=as_of, packets=packets
        )
