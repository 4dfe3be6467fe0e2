"""What a merchant payment is made of: the payer's own money, vouchers and a coupon.

A customer pays a merchant a price. Before the payment, the offers planner
(:class:`Offers`) says how that price is covered, as a :class:`PaymentPlan`:

- a coupon's discount, paid to the merchant by the ``promotions`` system account;
- consumption vouchers, spent first, each paid to the merchant out of the vouchers'
  escrow (``escrow:vouchers``, a system account holding every voucher's unspent value,
  as ``escrow:redpackets`` holds unclaimed shares);
- the payer's own balance for the rest (:attr:`PaymentPlan.own_fen`).

The payment is one ledger operation: one transfer per leg, all of kind
``merchant_payment``, all or nothing. The plan is only a proposal read before the write:
the write checks it again (a voucher spent meanwhile, a coupon's budget gone) and refuses
the whole payment if it no longer holds, moving no money.

A refund gives back the payer's own money first and the voucher part last
(:func:`split_refund`); voucher value given back returns to its voucher (or, if the
voucher has expired meanwhile, to the issuer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "NO_OFFERS",
    "VOUCHER_ESCROW",
    "VOUCHER_ISSUER",
    "NoOffers",
    "Offers",
    "PaymentPlan",
    "RefundSplit",
    "VoucherPart",
    "split_refund",
]

# System accounts of the vouchers, opened on first use (kind ``system``), so that a ledger
# that never issues a voucher has neither and every other account keeps its id.
VOUCHER_ESCROW = "escrow:vouchers"  # every voucher's unspent value
VOUCHER_ISSUER = "vouchers:issuer"  # the district that funds the vouchers


@dataclass(frozen=True, slots=True)
class VoucherPart:
    """Part of a payment covered by one voucher."""

    voucher_id: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """How a price is covered. ``own_fen`` is what leaves the payer's balance."""

    price_fen: int
    coupon_id: int | None = None
    discount_fen: int = 0
    vouchers: tuple[VoucherPart, ...] = ()

    def __post_init__(self) -> None:
        if self.price_fen <= 0:
            raise ValueError("a price is positive")
        if self.discount_fen < 0 or (self.discount_fen > 0) != (self.coupon_id is not None):
            raise ValueError("a discount comes with its coupon")
        if any(part.amount_fen <= 0 for part in self.vouchers):
            raise ValueError("a voucher part is positive")
        if self.own_fen < 0:
            raise ValueError("discount and vouchers exceed the price")

    @property
    def voucher_fen(self) -> int:
        return sum(part.amount_fen for part in self.vouchers)

    @property
    def own_fen(self) -> int:
        return self.price_fen - self.discount_fen - self.voucher_fen

    @property
    def paid_by_payer_fen(self) -> int:
        """What the payer gave (own money and vouchers): the most a refund gives back."""
        return self.price_fen - self.discount_fen

    def to_payload(self) -> dict:
        """The plan as a pending action keeps it (JSON): what a pay card showed."""
        return {
            "price": self.price_fen,
            "coupon_id": self.coupon_id,
            "discount": self.discount_fen,
            "vouchers": [[part.voucher_id, part.amount_fen] for part in self.vouchers],
        }

    @classmethod
    def from_payload(cls, payload: dict) -> PaymentPlan:
        coupon_id = payload["coupon_id"]
        return cls(
            int(payload["price"]),
            None if coupon_id is None else int(coupon_id),
            int(payload["discount"]),
            tuple(VoucherPart(int(v), int(fen)) for v, fen in payload["vouchers"]),
        )


class Offers(Protocol):
    """Plans how a payment is covered (the best coupon, then vouchers, then balance)."""

    async def plan(
        self, payer_telegram_id: int, merchant_id: int, category: str, price_fen: int
    ) -> PaymentPlan: ...


class NoOffers:
    """No coupons and no vouchers: the payer's own money pays it all."""

    async def plan(
        self, payer_telegram_id: int, merchant_id: int, category: str, price_fen: int
    ) -> PaymentPlan:
        return PaymentPlan(price_fen)


NO_OFFERS = NoOffers()


@dataclass(frozen=True, slots=True)
class RefundSplit:
    own_fen: int
    vouchers: tuple[VoucherPart, ...]


def split_refund(
    own_left_fen: int, vouchers_left: tuple[VoucherPart, ...], amount_fen: int
) -> RefundSplit:
    """Which parts a refund of ``amount_fen`` gives back, out of what is still refundable
    (``own_left_fen`` of the payer's own money, ``vouchers_left`` per voucher): own money
    first, then the vouchers in the order given. Raises ``ValueError`` past what is left."""
    if amount_fen <= 0:
        raise ValueError("a refund is positive")
    if amount_fen > own_left_fen + sum(part.amount_fen for part in vouchers_left):
        raise ValueError("more than what is left to refund")
    own = min(own_left_fen, amount_fen)
    rest = amount_fen - own
    parts: list[VoucherPart] = []
    for part in vouchers_left:
        if rest == 0:
            break
        take = min(part.amount_fen, rest)
        if take > 0:
            parts.append(VoucherPart(part.voucher_id, take))
            rest -= take
    return RefundSplit(own, tuple(parts))
