"""Bank card numbers: what people type, checked with the Luhn digit, and masked for display.

People copy card numbers in groups (``6222 0212 3456 7890``), with dashes, or from a
phone keyboard in full-width digits; all of that is folded away. What remains must be
12-19 digits (ISO/IEC 7812) whose last digit is the Luhn check digit, which catches every
single mistyped digit and most swapped neighbours.
"""

from __future__ import annotations

import re
import unicodedata

from bot.domain.security_errors import CardNumberInvalid

__all__ = [
    "MAX_DIGITS",
    "MIN_DIGITS",
    "is_luhn_valid",
    "luhn_check_digit",
    "mask_card",
    "validate_card_number",
]

MIN_DIGITS = 12
MAX_DIGITS = 19
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—]+")  # spaces, hyphen and the dashes that look like it
_CARD = re.compile(rf"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}", re.ASCII)


def _luhn_sum(digits: str) -> int:
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 1:  # every second digit from the right is doubled
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total


def luhn_check_digit(partial: str) -> str:
    """The digit to append to ``partial`` (ASCII digits) to make it pass the Luhn check."""
    if not re.fullmatch(r"[0-9]+", partial, re.ASCII):
        raise ValueError("the Luhn digit is computed from ASCII digits")
    return str(-_luhn_sum(partial + "0") % 10)


def is_luhn_valid(digits: str) -> bool:
    """Whether the ASCII digits ``digits`` end in their Luhn check digit."""
    return bool(re.fullmatch(r"[0-9]{2,}", digits, re.ASCII)) and _luhn_sum(digits) % 10 == 0


def validate_card_number(text: str) -> str:
    """Return the card number as bare ASCII digits, or raise :class:`CardNumberInvalid`.

    ``card_number_format``: not 12-19 digits once spaces and dashes are removed;
    ``card_number_checksum``: the digits are mistyped (the Luhn check fails).
    """
    folded = unicodedata.normalize("NFKC", text) if isinstance(text, str) else ""
    digits = _SEPARATORS.sub("", folded)
    if not _CARD.fullmatch(digits):
        raise CardNumberInvalid("card_number_format", minimum=MIN_DIGITS, maximum=MAX_DIGITS)
    if not is_luhn_valid(digits):
        raise CardNumberInvalid("card_number_checksum")
    return digits


def mask_card(number: str) -> str:
    """The last four digits only, as card statements show them: ``**** 1234``."""
    digits = "".join(c for c in unicodedata.normalize("NFKC", number) if c in "0123456789")
    return f"**** {digits[-4:]}"
