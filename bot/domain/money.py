"""Money as integers of fen: parse what people type, format what they read.

Parsing never goes through ``float`` (or ``Decimal``): the text is checked against a
grammar and the digits are turned into an integer directly, so ``0.1 + 0.2`` problems
cannot arise. Every refusal raises :class:`AmountError` with a code that says exactly
what was wrong, so the chat layer can tell the user how to write it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bot.domain.errors import AmountError

__all__ = [
    "DEFAULT_MAX_AMOUNT_FEN",
    "FEN_PER_YUAN",
    "amount_words",
    "format_fen",
    "parse_amount",
]

FEN_PER_YUAN = 100
DEFAULT_MAX_AMOUNT_FEN = 1_000_000 * FEN_PER_YUAN  # ¥1,000,000: anything above is a typo
_MAX_INTEGER_DIGITS = 15  # refuse before building absurd integers

_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)e[+-]?\d+", re.IGNORECASE)
_NUMBER = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?")
_PREFIXES = ("¥", "cny", "rmb")
_SUFFIXES = ("元", "块钱", "块", "cny", "rmb")
_MINUS_SIGNS = ("-", "−")  # ASCII hyphen-minus and U+2212 (full-width ones fold by NFKC)
# digits grouped by spaces ("1 000", "12 500.50"): thousands, or an amount and a number?
_SPACED = re.compile(r"\d{1,3}(?: \d{3})+(?:\.\d*)?")
_GROUP = re.compile(r"\d{3}")


_LEADING_GROUP = re.compile(  # an amount of one to three digits, its currency sign before
    rf"(?:{'|'.join(map(re.escape, _PREFIXES))})?\d{{1,3}}", re.IGNORECASE
)
_LAST_GROUP = re.compile(  # the last group of three digits, a unit may end it
    rf"\d{{3}}(?:\.\d*)?(?:{'|'.join(map(re.escape, _SUFFIXES))})?", re.IGNORECASE
)


def _strip_currency(text: str) -> str:
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text, lowered = text[len(prefix) :].strip(), lowered[len(prefix) :].strip()
            break
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    return text


def amount_words(words: Sequence[str]) -> tuple[str, list[str]]:
    """A command's amount and the words after it (a memo, a greeting): a currency sign or
    unit written apart from the number (``¥ 5``, ``5 元``, ``5 RMB``) is the amount's,
    not the memo's. Groups of three digits after an amount of one to three (``1 000``,
    ``12 500.50``) are the amount's too, which :func:`parse_amount` then refuses as
    unclear (thousands, or an amount and a memo?) rather than read ``1 000`` as ¥1 with
    the memo "000". ``words`` must not be empty."""
    first, rest = words[0], list(words[1:])
    if unicodedata.normalize("NFKC", first).lower() in _PREFIXES and rest:
        first, rest = first + rest[0], rest[1:]
    if _LEADING_GROUP.fullmatch(unicodedata.normalize("NFKC", first)):
        while rest and _GROUP.fullmatch(unicodedata.normalize("NFKC", rest[0])):
            first, rest = first + " " + rest[0], rest[1:]
        if rest and _LAST_GROUP.fullmatch(unicodedata.normalize("NFKC", rest[0])):
            first, rest = first + " " + rest[0], rest[1:]
    has_unit = unicodedata.normalize("NFKC", first).lower().endswith(_SUFFIXES)
    if rest and not has_unit and unicodedata.normalize("NFKC", rest[0]).lower() in _SUFFIXES:
        first, rest = first + rest[0], rest[1:]  # (one unit: "5元 RMB" keeps its memo)
    return first, rest


def _written_out(body: str) -> str | None:
    """An exponent's number in plain digits (``1e5`` → ``100000``, ``2.5e-1`` → ``0.25``),
    when that is a sensible amount (positive, at most two decimals and twelve digits
    before the point); None otherwise."""
    mantissa, _, exponent = body.lower().partition("e")
    if mantissa.startswith("-") or not -20 <= int(exponent) <= 20:
        return None
    whole, _, fraction = mantissa.lstrip("+").partition(".")
    digits, point = whole + fraction, len(whole) + int(exponent)
    if point >= len(digits):
        before, after = digits + "0" * (point - len(digits)), ""
    elif point <= 0:
        before, after = "0", "0" * -point + digits
    else:
        before, after = digits[:point], digits[point:]
    before, after = before.lstrip("0") or "0", after.rstrip("0")
    if len(after) > 2 or len(before) > 12 or (before == "0" and not after):
        return None
    return before + ("." + after if after else "")


def parse_amount(text: str, *, maximum: int = DEFAULT_MAX_AMOUNT_FEN) -> int:
    """Return the amount in fen that ``text`` names, or raise :class:`AmountError`.

    Accepted: ``12``, ``12.5``, ``12.50``, ``¥12.5``, ``12元``, ``1,234.5``, full-width
    digits (``１２．５``). Refused, each with its own code: empty text, ``NaN``/``inf``,
    exponent notation, digits grouped by spaces (``1 000``: unclear), negative amounts,
    more than two decimals, zero, more than ``maximum`` fen, and anything else that is
    not a number.
    """
    if not isinstance(text, str):
        raise TypeError("parse_amount takes the text the user typed")
    normalized = unicodedata.normalize("NFKC", text).strip()
    if not normalized:
        raise AmountError("amount_empty")
    if _NOT_FINITE.fullmatch(normalized):
        raise AmountError("amount_not_finite", text=text)

    body = _strip_currency(normalized)
    negative = body.startswith(_MINUS_SIGNS)
    if negative:
        body = _strip_currency(body[1:].strip())
    if not body:
        raise AmountError("amount_empty" if not negative else "amount_not_a_number", text=text)
    if _NOT_FINITE.fullmatch(body):
        raise AmountError("amount_not_finite", text=text)
    if _EXPONENT.fullmatch(body):
        raise AmountError(
            "amount_exponent_not_allowed", text=text, plain=_written_out(body) or "12.50"
        )

    if _SPACED.fullmatch(body):  # both readings, so neither is pressed on the person
        first, _, rest = body.partition(" ")
        raise AmountError(
            "amount_spaced", text=text, plain=body.replace(" ", ""), first=first, rest=rest
        )
    match = _NUMBER.fullmatch(body)
    if match is None or (match["int"] is None and not match["frac"]):
        raise AmountError("amount_not_a_number", text=text)
    if negative:
        raise AmountError("amount_negative", text=text)

    integer_digits = (match["int"] or "0").replace(",", "")
    fraction_digits = match["frac"] or ""
    if len(fraction_digits) > 2:
        raise AmountError("amount_too_many_decimals", text=text)
    if len(integer_digits.lstrip("0")) > _MAX_INTEGER_DIGITS:
        raise AmountError("amount_too_large", text=text, maximum=maximum)

    fen = int(integer_digits) * FEN_PER_YUAN + int(fraction_digits.ljust(2, "0"))
    if fen == 0:
        raise AmountError("amount_zero", text=text)
    if fen > maximum:
        raise AmountError("amount_too_large", text=text, maximum=maximum)
    return fen


def format_fen(fen: int) -> str:
    """Format fen as ``¥1,234.56`` (``-¥0.05`` for negative amounts), in every language."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"amounts are integers of fen, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{yuan:,}.{cents:02d}"
