"""A monthly statement as a CSV file that Excel and WPS open correctly.

UTF-8 with a byte order mark (without it Excel reads Chinese as mojibake), CRLF line ends,
one header row in the reader's language, then one row per transfer, oldest first:
time (Beijing), transfer id, kind, counterparty, amount in yuan with two decimals
(``-3.00``), memo, balance after. Amounts are written from integers of fen, never floats.
A red packet's counterparty is what ``/history`` shows for it (the packet's sender, where
it was sent, its refund), not the escrow account that held the money.

Names and memos are other people's words: a cell that would start a spreadsheet formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe, so opening a
statement never runs anything.
"""

from __future__ import annotations

import csv
import io

from bot.domain.money import FEN_PER_YUAN
from bot.i18n import translate
from bot.render.labels import counterparty_label, full_time, kind_label
from bot.wallet.statements import Statement

__all__ = ["BOM", "COLUMNS", "statement_csv", "yuan"]

BOM = "\ufeff"
COLUMNS = ("time", "id", "kind", "counterparty", "amount", "memo", "balance")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and no grouping: ``1234.50``, ``-0.05``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def _text_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def statement_csv(statement: Statement, language: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([translate(language, f"statement.csv.{name}") for name in COLUMNS])
    for row in statement.rows:
        writer.writerow(
            [
                full_time(row.created_at),
                row.transfer_id,
                kind_label(language, row.kind),
                _text_cell(counterparty_label(language, row.counterparty, row.packet)),
                yuan(row.amount),
                _text_cell(row.memo),
                yuan(row.balance_after),
            ]
        )
    return (BOM + out.getvalue()).encode("utf-8")
