"""Consumption vouchers: what they pay, in which order, and the admin's issue command.

The district issues vouchers to residents: money that only local merchants of the
eligible categories accept, until the voucher expires. A voucher is not in its
holder's account at all: its unspent value sits in ``escrow:vouchers`` (funded from
``vouchers:issuer`` when the vouchers are issued), so it cannot be transferred or
withdrawn. At expiry what is left goes back to the issuer.

A payment spends vouchers first, then the payer's balance (:func:`voucher_parts`):
only live, unexpired vouchers that take the merchant's category, the soonest to
expire first (then the oldest), each as far as it goes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.errors import OfferArgumentsInvalid
from bot.domain.money import parse_amount
from bot.domain.offers import VoucherPart
from bot.domain.promotions import DAY_MS, normalize_category
from bot.domain.users import person_ref

__all__ = [
    "VOUCHER_DAYS_MAX",
    "VOUCHER_MAX_FEN",
    "Voucher",
    "VoucherIssueOrder",
    "VoucherState",
    "format_categories",
    "parse_categories",
    "parse_voucher_issue",
    "voucher_parts",
]

VOUCHER_MAX_FEN = 10_000_00  # the most one voucher may hold: ¥10,000
VOUCHER_DAYS_MAX = 366
ALL = "all"


class VoucherState(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"  # past its deadline; its value went back to the issuer


def parse_categories(text: str) -> frozenset[str]:
    """``all`` (the empty set: every category) or ``food,grocery``."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    if folded in (ALL, "全部"):
        return frozenset()
    names = [normalize_category(part) for part in folded.split(",")]
    if not names or any(name is None for name in names):
        raise OfferArgumentsInvalid("voucher_categories_invalid", text=text[:40])
    return frozenset(name for name in names if name is not None)


def format_categories(categories: Iterable[str]) -> str:
    """How a set of categories is stored and shown: ``food,grocery`` or ``all``."""
    return ",".join(sorted(categories)) or ALL


@dataclass(frozen=True, slots=True)
class Voucher:
    id: int
    issue_id: int
    holder_id: int
    amount_fen: int
    remaining_fen: int
    categories: frozenset[str]  # empty: every category
    issued_at: int
    expires_at: int
    state: VoucherState = VoucherState.LIVE

    def accepts(self, category: str) -> bool:
        return not self.categories or category in self.categories

    def usable(self, category: str, now_ms: int) -> bool:
        """Whether it can pay a merchant of ``category`` now."""
        return (
            self.state is VoucherState.LIVE
            and now_ms < self.expires_at
            and self.remaining_fen > 0
            and self.accepts(category)
        )


def voucher_parts(
    vouchers: Iterable[Voucher], category: str, now_ms: int, amount_fen: int
) -> tuple[VoucherPart, ...]:
    """Which vouchers pay (up to) ``amount_fen`` to a merchant of ``category`` now: the
    usable ones, soonest expiring first, then the oldest, each as far as it goes."""
    parts: list[VoucherPart] = []
    left = amount_fen
    usable = sorted(
        (v for v in vouchers if v.usable(category, now_ms)), key=lambda v: (v.expires_at, v.id)
    )
    for voucher in usable:
        if left <= 0:
            break
        take = min(voucher.remaining_fen, left)
        parts.append(VoucherPart(voucher.id, take))
        left -= take
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class VoucherIssueOrder:
    """What ``/voucher_issue`` asks: ``recipients`` None is every verified resident."""

    amount_fen: int
    days: int
    categories: frozenset[str]
    recipients: tuple[str, ...] | None

    def expires_at(self, now_ms: int) -> int:
        return now_ms + self.days * DAY_MS


def parse_voucher_issue(args: Sequence[str]) -> VoucherIssueOrder:
    """``<amount> <days> <categories|all> [all|@user,@user,…]``; the recipients may be
    written with commas, spaces or both. Raises ``OfferArgumentsInvalid`` or
    ``AmountError`` saying what is wrong."""
    if len(args) < 3:
        raise OfferArgumentsInvalid("voucher_issue_usage")
    amount = parse_amount(args[0], maximum=VOUCHER_MAX_FEN)
    days_text = unicodedata.normalize("NFKC", args[1]).strip()
    if not (days_text.isascii() and days_text.isdigit()) or not (
        1 <= int(days_text) <= VOUCHER_DAYS_MAX
    ):
        raise OfferArgumentsInvalid(
            "voucher_days_invalid", text=days_text[:16], maximum_days=VOUCHER_DAYS_MAX
        )
    categories = parse_categories(args[2])
    names = [
        name
        for word in args[3:]
        for name in unicodedata.normalize("NFKC", word).replace("，", ",").split(",")
        if name.strip()
    ]
    names = [person_ref(name) for name in names]
    if not names or [name.lower() for name in names] == [ALL]:
        return VoucherIssueOrder(amount, int(days_text), categories, None)
    if any(name.lower() == ALL for name in names):
        raise OfferArgumentsInvalid("voucher_recipients_invalid", text=ALL)
    for name in names:
        bare = name.removeprefix("@")
        if not bare or not (bare.isdigit() or bare.replace("_", "").isalnum()) or len(bare) > 32:
            raise OfferArgumentsInvalid("voucher_recipients_invalid", text=name[:32])
    unique = tuple(dict.fromkeys(names))
    return VoucherIssueOrder(amount, int(days_text), categories, unique)
