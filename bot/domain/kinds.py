"""Why money moved: the one list of transfer kinds.

Every flow writes its transfers with one of these kinds; the risk engine, storage,
statements and the history's labels all read them from here. The values are stored in
the journal and covered by its hash chain, so they never change: the red packet's own
transfer kept the spelling ``red_packet`` and its grabs and refunds ``redpacket_*``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PAYMENT_KINDS", "TransferKind"]


class TransferKind(StrEnum):
    TRANSFER = "transfer"  # /send, and a paid payment request
    TIP = "tip"  # a reply in a group
    TOPUP = "topup"  # money in by Telegram Payments
    WITHDRAW = "withdraw"  # out to a bound bank card (reserved, then posted or voided)
    WITHDRAW_REFUND = "refund"  # gives back an approved hold the payout gateway refused
    RED_PACKET = "red_packet"  # the sender's money into escrow
    RED_PACKET_GRAB = "redpacket_grab"  # one share out of escrow to a grabber
    RED_PACKET_REFUND = "redpacket_refund"  # what nobody grabbed, back to the sender
    MERCHANT_PAYMENT = "merchant_payment"  # a customer pays a merchant
    PAYMENT_REFUND = "payment_refund"  # an admin gives back (part of) a payment
    MERCHANT_SETTLEMENT = "merchant_settlement"  # a merchant's takings to its owner's wallet
    VOUCHER_ISSUE = "voucher_issue"  # the issuer funds consumption vouchers (into escrow)
    VOUCHER_EXPIRY = "voucher_expiry"  # vouchers' unspent value back to the issuer

    @property
    def is_payment(self) -> bool:
        """A payment someone makes from their own wallet: the risk engine assesses it."""
        return self in PAYMENT_KINDS


# The kinds a person pays with: each passes the risk engine first (a grab only meets
# its grab-burst rule; money in, refunds and top-ups none).
PAYMENT_KINDS = frozenset(
    {
        TransferKind.TRANSFER,
        TransferKind.TIP,
        TransferKind.RED_PACKET,
        TransferKind.WITHDRAW,
        TransferKind.MERCHANT_PAYMENT,
    }
)
