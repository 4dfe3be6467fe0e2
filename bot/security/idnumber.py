"""Resident ID numbers (GB 11643-1999) and real names, checked before they are stored.

An ID number is 18 characters: a six-digit region code, the date of birth as
``YYYYMMDD``, a three-digit sequence number (odd for men, even for women) and a check
character computed with ISO 7064 MOD 11-2, which is ``X`` when it is ten. These checks
catch typing mistakes; they do not prove that the number exists or belongs to the user.

Every refusal is an :class:`IdNumberInvalid` or :class:`RealNameInvalid` whose ``code``
names the failed check, so the user can be told exactly what to correct.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.domain.security_errors import IdNumberInvalid, RealNameInvalid

__all__ = [
    "IdNumber",
    "id_check_character",
    "mask_id_number",
    "validate_id_number",
    "validate_real_name",
]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"  # indexed by the weighted sum mod 11
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_EARLIEST_BIRTH = date(1900, 1, 1)

MAX_NAME_LENGTH = 30
MIDDLE_DOT = "·"  # U+00B7, as in 阿沛·阿旺晋美
# Dots people type for it: katakana middle dot, bullet, hyphenation point, dot operators.
_DOT_LOOKALIKES = str.maketrans(dict.fromkeys("・•‧∙⋅", MIDDLE_DOT))


@dataclass(frozen=True)
class IdNumber:
    """A checked ID number in its canonical form: ASCII digits and an upper-case ``X``."""

    value: str

    @property
    def region_code(self) -> str:
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        return date(int(self.value[6:10]), int(self.value[10:12]), int(self.value[12:14]))

    def __str__(self) -> str:
        return self.value


def id_check_character(first_17: str) -> str:
    """The 18th character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if not re.fullmatch(r"[0-9]{17}", first_17, re.ASCII):
        raise ValueError("the check character is computed from 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first_17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def _fold(text: str) -> str:
    """Full-width digits and letters to ASCII, spaces removed, ``x`` upper-cased."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def validate_id_number(text: str, today: date) -> IdNumber:
    """Return the canonical :class:`IdNumber` for ``text``, or raise :class:`IdNumberInvalid`.

    Checked in order: 17 digits and a digit or ``X`` (``id_number_format``); a real date
    of birth from 1900-01-01 to ``today`` (``id_number_birth_date``); the check
    character (``id_number_check_digit``).
    """
    number = _fold(text) if isinstance(text, str) else ""
    if not _ID_FORMAT.fullmatch(number):
        raise IdNumberInvalid("id_number_format")
    try:
        born = IdNumber(number).birth_date
    except ValueError:  # 19990230, month 13, ...
        raise IdNumberInvalid("id_number_birth_date") from None
    if not _EARLIEST_BIRTH <= born <= today:
        raise IdNumberInvalid("id_number_birth_date")
    if id_check_character(number[:17]) != number[17]:
        raise IdNumberInvalid("id_number_check_digit")
    return IdNumber(number)


def mask_id_number(number: IdNumber | str) -> str:
    """The first four and last four characters, the rest hidden: ``1101**********123X``."""
    value = str(number)
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def validate_real_name(text: str) -> str:
    """Return the name in canonical form, or raise :class:`RealNameInvalid`.

    A name is 1-30 characters of letters in any script (CJK included), joined by single
    spaces or middle dots (``·``, with look-alike dots folded into it); no digits, no
    punctuation, no dot at either end (``real_name_characters``). Full-width letters
    are folded and outer spaces trimmed before counting (``real_name_length``).
    """
    if not isinstance(text, str):
        raise RealNameInvalid("real_name_characters")
    name = " ".join(unicodedata.normalize("NFKC", text).translate(_DOT_LOOKALIKES).split())
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise RealNameInvalid("real_name_length", maximum=MAX_NAME_LENGTH)
    for word in re.split(f"[ {MIDDLE_DOT}]", name):
        if not word or not word[0].isalpha() or not all(_is_name_character(c) for c in word):
            raise RealNameInvalid("real_name_characters")
    return name


def _is_name_character(character: str) -> bool:
    # Letters, and combining marks for the accents NFKC cannot compose.
    return unicodedata.category(character)[0] in ("L", "M")
