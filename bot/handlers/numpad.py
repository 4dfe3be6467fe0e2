"""The inline number pad of a guided flow's amount step: ¥ quick picks, digits, OK.

Pure functions: the rows of buttons for a flow's callback prefix, and what a key does to
the amount typed so far (at most two decimals and eight digits before the point).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot.domain.money import format_fen

__all__ = ["DELETE", "DOT", "OK", "amount_text", "pad_rows", "press", "quick_label", "quick_row"]

DOT, DELETE, OK = "dot", "del", "ok"
QUICK = "q"  # q<fen>: a quick pick
_DIGITS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"))
MAX_WHOLE = 8


def amount_text(fen: int) -> str:
    """An amount in fen as a service reads it back: ``12.50``."""
    return f"{fen // 100}.{fen % 100:02d}"


def quick_label(fen: int) -> str:
    """A quick-pick amount as its button reads in every flow: ``¥10``, ``¥12.50``."""
    return format_fen(fen).removesuffix(".00")


def quick_row(prefix: str, amounts: list[int]) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(quick_label(fen), callback_data=f"{prefix}{QUICK}{fen}")
        for fen in amounts
    ]


def pad_rows(prefix: str, ok_label: str) -> list[list[InlineKeyboardButton]]:
    """Digits, the point, delete and OK; each key's data is ``prefix`` + the key."""
    rows = [[InlineKeyboardButton(d, callback_data=f"{prefix}{d}") for d in row] for row in _DIGITS]
    rows.append(
        [
            InlineKeyboardButton(".", callback_data=f"{prefix}{DOT}"),
            InlineKeyboardButton("0", callback_data=f"{prefix}0"),
            InlineKeyboardButton("⌫", callback_data=f"{prefix}{DELETE}"),
        ]
    )
    rows.append([InlineKeyboardButton(ok_label, callback_data=f"{prefix}{OK}")])
    return rows


def full(entry: str) -> bool:
    """Whether no digit can follow: two decimals typed, or ``MAX_WHOLE`` digits before
    the point (a leading 0 is replaced by the next digit, so it is never full)."""
    whole, point, decimals = entry.partition(".")
    return len(decimals) >= 2 if point else len(whole) >= MAX_WHOLE


def press(entry: str, key: str) -> str:
    """The amount typed so far after ``key`` (a digit, DOT or DELETE); keys that would
    make it unreadable are ignored."""
    if key == DELETE:
        return entry[:-1]
    if key == DOT:
        return entry if "." in entry else (entry or "0") + "."
    if len(key) != 1 or not key.isdigit():
        return entry
    whole, _, decimals = entry.partition(".")
    if "." in entry:
        return entry if len(decimals) >= 2 else entry + key
    if whole == "0":
        return key
    return entry if len(whole) >= MAX_WHOLE else entry + key
