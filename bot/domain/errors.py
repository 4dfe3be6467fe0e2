"""The wallet's error tree (the security layer's branch is in ``security_errors``).

Every error a user can cause has a stable ``code`` (snake case, stating a fact in
TigerBeetle's style) that the chat layer maps to a localized message, and ``params``
with the values that message may show. Lower-level errors (sqlite3, asyncpg) are
translated at the storage boundary with ``raise ... from``.

    WalletError
    ├── AmountError                 the text is not a usable amount of money
    ├── LedgerError
    │   ├── AccountNotFound
    │   ├── AccountFrozen
    │   ├── InsufficientFunds
    │   ├── AccountsMustBeDifferent
    │   ├── CurrencyMismatch
    │   ├── IdempotencyConflict
    │   ├── PendingTransferNotFound
    │   ├── PendingTransferAlreadyResolved
    │   ├── PendingTransferExpired
    │   └── PendingTransferNotExpired
    ├── UserNotFound
    │   └── AdminTargetUnknown      an admin named someone the wallet does not know; params: who
    ├── AdminOwnWallet              an admin tried to freeze or unfreeze their own wallet
    ├── MemoTooLong
    ├── TopUpError                  a top-up cannot be opened, or its invoice cannot be paid
    │   ├── TopUpNotConfigured      no payment provider token is set
    │   ├── TopUpNotFound           the invoice payload names no top-up
    │   ├── TopUpNotYours           another person's invoice
    │   ├── TopUpCurrencyMismatch
    │   ├── TopUpAmountMismatch
    │   ├── TopUpExpired            params: expired_at (unix ms)
    │   └── TopUpAlreadyPaid
    ├── TransferNotFound            no such transfer, or not one the person is a party to
    ├── TransferIdInvalid           the text is not a transfer id
    ├── MonthInvalid                code: month_format | month_out_of_range | month_in_future
    ├── PaymentRequestError         a payment request cannot be paid or cancelled (now)
    │   ├── PaymentRequestNotFound  no request has this token
    │   ├── PaymentRequestAlreadyPaid
    │   ├── PaymentRequestCancelled
    │   ├── PaymentRequestExpired   unpaid in time; params: expired_at (unix ms), amount
    │   ├── PaymentRequestIsYours   the requester cannot pay their own request
    │   ├── PaymentRequestForSomeoneElse  a split bill's share is paid by its person only
    │   └── PaymentRequestNotYours  only the requester may cancel it
    ├── SplitError                  a split bill's total or names cannot be used
    │   ├── SplitNeedsNames
    │   ├── SplitTooManyNames       params: maximum
    │   ├── SplitDuplicateName      params: name
    │   ├── SplitNamesYou           the sender is in every split already
    │   └── SplitAmountTooSmall     less than one fen a person; params: people, minimum
    ├── StorageError                the database failed; nothing was moved
    ├── RedPacketError              a red packet cannot be made or grabbed (now)
    │   ├── RedPacketNotFound
    │   ├── RedPacketExhausted      every share is taken
    │   ├── RedPacketExpired
    │   ├── RedPacketAlreadyGrabbed one share a person; params: amount
    │   ├── RedPacketNotForYou      an exclusive packet for someone else
    │   ├── RedPacketWrongPassword
    │   ├── RedPacketGrabBlocked    the risk guard refused the grab
    │   ├── RedPacketInlineUsed     that inline message shows another packet
    │   └── RedPacketLimit          code: red_packet_total_too_large
    │                               | _equal_total_too_large | _count_out_of_range
    │                               | _share_too_small | _greeting_too_long | _password_invalid
    │                               | _password_command
    ├── PayoutError                 an admin's decision on a queued payout cannot be taken
    │   ├── PayoutNotFound          no payout in the queue has this id
    │   ├── PayoutAlreadyDecided    params: state, admin (the one who decided)
    │   └── PayoutNoteInvalid       code: payout_reference_missing | payout_reason_missing
    │                               | payout_note_too_long (params: limit)
    ├── SupportError                a support ticket cannot be opened or answered
    │   ├── SupportTextInvalid      code: support_text_missing | support_text_too_long
    │   ├── TicketIdInvalid         the text is not a ticket number
    │   ├── TicketNotFound          no such ticket (or not the person's own)
    │   ├── TicketClosed            it was closed; params: ticket_id
    │   └── DisputeAlreadyOpen      params: transfer_id, ticket_id
    ├── RefundError                 an admin's refund cannot be made; nothing moved
    │   ├── RefundArgumentsInvalid  code: refund_usage | refund_id_invalid | refund_reason_too_long
    │   ├── RefundTransferNotFound  no transfer has this id
    │   ├── RefundOfRefund          the transfer is a refund itself
    │   ├── TransferNotRefundable   not a completed payment between people; params: kind
    │   │   ├── RefundVoucherLeg    a shop payment's voucher part; params: payment_id, own_id
    │   │   └── RefundReservationPosted  a held payment's reservation; params: posted_id
    │   ├── RefundExceedsRemaining  params: amount, left
    │   │   └── RefundedInFull      nothing is left (left 0)
    │   ├── RefundPayeeShort        the payee no longer holds it; params: available, amount
    │   └── RefundPayeeFrozen       the payee's wallet is frozen: it sends nothing
    ├── BroadcastError              an admin's broadcast cannot be begun
    │   ├── BroadcastTextInvalid    code: broadcast_text_missing | broadcast_text_too_long
    │   ├── BroadcastNobody         nobody to send it to
    │   └── BroadcastNotFound
    ├── OffersError                 a coupon, voucher or points operation cannot be done
    │   ├── OfferArgumentsInvalid   code: voucher_issue_usage | voucher_days_invalid | …
    │   ├── OfferRecipientsUnknown  params: names
    │   ├── OfferNobody             nobody to give vouchers or coupons to
    │   ├── CampaignNotFound
    │   ├── CouponUnavailable       used, ended, or no longer fits the payment
    │   ├── CouponLimitReached      params: campaign_id, limit
    │   ├── CouponBudgetExhausted   params: campaign_id
    │   ├── VoucherUnavailable      spent meanwhile, expired or not for this category
    │   ├── CampaignNotRedeemable   not offered for points
    │   ├── RedeemLimitReached      params: campaign_id, limit
    │   ├── CouponGrantLimitReached params: campaign_id, limit, holder_id, holders, full, who
    │   ├── CampaignMerchantUnknown params: merchant_id
    │   └── PointsShort             params: balance, cost
    └── SecurityError               the security layer's tree: bot.domain.security_errors
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccountFrozen",
    "AccountNotFound",
    "AccountsMustBeDifferent",
    "AdminOwnWallet",
    "AdminTargetUnknown",
    "AmountError",
    "BroadcastError",
    "BroadcastNobody",
    "BroadcastNotFound",
    "BroadcastTextInvalid",
    "CampaignMerchantUnknown",
    "CampaignNotFound",
    "CampaignNotRedeemable",
    "CouponBudgetExhausted",
    "CouponGrantLimitReached",
    "CouponLimitReached",
    "CouponUnavailable",
    "CurrencyMismatch",
    "DisputeAlreadyOpen",
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerError",
    "MemoTooLong",
    "MonthInvalid",
    "OfferArgumentsInvalid",
    "OfferNobody",
    "OfferRecipientsUnknown",
    "OffersError",
    "PaymentRequestAlreadyPaid",
    "PaymentRequestCancelled",
    "PaymentRequestError",
    "PaymentRequestExpired",
    "PaymentRequestForSomeoneElse",
    "PaymentRequestIsYours",
    "PaymentRequestNotFound",
    "PaymentRequestNotYours",
    "PayoutAlreadyDecided",
    "PayoutCardUnavailable",
    "PayoutError",
    "PayoutNotFound",
    "PayoutNoteInvalid",
    "PendingTransferAlreadyResolved",
    "PendingTransferExpired",
    "PendingTransferNotExpired",
    "PendingTransferNotFound",
    "PointsShort",
    "RedPacketAlreadyGrabbed",
    "RedPacketCountNotANumber",
    "RedPacketError",
    "RedPacketExhausted",
    "RedPacketExpired",
    "RedPacketGrabBlocked",
    "RedPacketInlineUsed",
    "RedPacketLimit",
    "RedPacketNotForYou",
    "RedPacketNotFound",
    "RedPacketWrongPassword",
    "RedeemLimitReached",
    "RefundArgumentsInvalid",
    "RefundError",
    "RefundExceedsRemaining",
    "RefundOfRefund",
    "RefundPayeeFrozen",
    "RefundPayeeShort",
    "RefundReservationPosted",
    "RefundTransferNotFound",
    "RefundVoucherLeg",
    "RefundedInFull",
    "SplitAmountTooSmall",
    "SplitDuplicateName",
    "SplitError",
    "SplitNamesYou",
    "SplitNeedsNames",
    "SplitTooManyNames",
    "SplitUnknownNames",
    "StorageError",
    "SupportError",
    "SupportTextInvalid",
    "TicketClosed",
    "TicketIdInvalid",
    "TicketNotFound",
    "TopUpAlreadyPaid",
    "TopUpAmountMismatch",
    "TopUpCurrencyMismatch",
    "TopUpError",
    "TopUpExpired",
    "TopUpNotConfigured",
    "TopUpNotFound",
    "TopUpNotYours",
    "TransferIdInvalid",
    "TransferNotFound",
    "TransferNotRefundable",
    "UserNotFound",
    "VoucherUnavailable",
    "WalletError",
]


class WalletError(Exception):
    """Base of every error the wallet raises on purpose."""

    code: ClassVar[str] = "wallet_error"
    money_params: ClassVar[tuple[str, ...]] = ()  # params that are amounts of fen
    time_params: ClassVar[tuple[str, ...]] = ()  # params that are moments, unix ms
    # params that are moments something lasts until, unix ms: shown rounded up to the
    # minute (never before that moment), with the date only when it is not today's
    until_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str = "", **params: Any) -> None:
        self.params = params
        super().__init__(message or self.code)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.code == self.code  # type: ignore[attr-defined]
            and other.params == self.params  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self), self.code))

    def __reduce__(self):  # keeps params across pickling (subprocess tests)
        return (_rebuild, (type(self), str(self), self.params))


def _rebuild(cls: type[WalletError], message: str, params: dict[str, Any]) -> WalletError:
    return cls(message, **params)


class AmountError(WalletError):
    """The text is not a usable amount; ``code`` says exactly why."""

    code = "amount_invalid"
    money_params = ("maximum",)

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)


class LedgerError(WalletError):
    code = "ledger_error"


class AccountNotFound(LedgerError):
    code = "account_not_found"


class AccountFrozen(LedgerError):
    code = "account_frozen"


class InsufficientFunds(LedgerError):
    code = "exceeds_balance"
    money_params = ("available", "amount")


class AccountsMustBeDifferent(LedgerError):
    code = "accounts_must_be_different"


class CurrencyMismatch(LedgerError):
    code = "accounts_must_have_the_same_currency"


class IdempotencyConflict(LedgerError):
    """The key was used before for a different request."""

    code = "idempotency_key_reused_with_different_request"


class PendingTransferNotFound(LedgerError):
    code = "pending_transfer_not_found"


class PendingTransferAlreadyResolved(LedgerError):
    """The reservation was already posted, voided or expired."""

    code = "pending_transfer_already_resolved"


class PendingTransferExpired(LedgerError):
    """The reservation ran past its timeout and can no longer be posted."""

    code = "pending_transfer_expired"


class PendingTransferNotExpired(LedgerError):
    code = "pending_transfer_not_expired"


class UserNotFound(WalletError):
    code = "user_not_found"


class AdminTargetUnknown(UserNotFound):
    """An admin's command named a person (@username or id) the wallet does not know: said
    to the admin as such (not a resident's hint to reply with /send)."""

    code = "admin_target_unknown"


class AdminOwnWallet(WalletError):
    """An admin asked to freeze or unfreeze their own wallet: another admin must (a freeze
    an admin could lift themselves would hold nothing)."""

    code = "admin_own_wallet"


class MemoTooLong(WalletError):
    code = "memo_too_long"


class TransferNotFound(WalletError):
    """No transfer has this id, or the person asking is not a party to it (the same answer,
    so that other people's transfers stay unknown); ``params['transfer_id']``."""

    code = "transfer_not_found"


class TransferIdInvalid(WalletError):
    """The text is not a transfer id (a whole number from 1); ``params['text']``."""

    code = "transfer_id_invalid"


class MonthInvalid(WalletError):
    """The text is not a month a statement can be made for; ``code`` says why.

    ``params``: ``text`` (what was written) and ``latest`` (the current month, YYYY-MM).
    """

    code = "month_invalid"
    codes: ClassVar[frozenset[str]] = frozenset(
        {"month_format", "month_out_of_range", "month_in_future"}
    )

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"MonthInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):  # the code is not the message when a message was given
        return (_rebuild_month, (self.code, str(self), self.params))


def _rebuild_month(code: str, message: str, params: dict[str, Any]) -> MonthInvalid:
    return MonthInvalid(code, message, **params)


class StorageError(WalletError):
    code = "storage_failed"


# --- Top-ups by Telegram Payments (bot.wallet.topups) ------------------------------------


class TopUpError(WalletError):
    """A top-up cannot be opened, or its invoice must not be paid; nothing was charged."""

    code = "topup_error"


class TopUpNotConfigured(TopUpError):
    """No payment provider token is set: top-ups are off."""

    code = "topup_not_configured"


class TopUpNotFound(TopUpError):
    """The invoice payload names no top-up (forged, or from another wallet)."""

    code = "topup_not_found"


class TopUpNotYours(TopUpError):
    """Someone other than the person it was made for is paying this invoice."""

    code = "topup_not_yours"


class TopUpCurrencyMismatch(TopUpError):
    """The payment's currency is not the top-up's (or not the wallet's)."""

    code = "topup_currency_mismatch"


class TopUpAmountMismatch(TopUpError):
    """The payment's total is not the top-up's amount; ``params``: expected, actual."""

    code = "topup_amount_mismatch"
    money_params = ("expected", "actual")


class TopUpExpired(TopUpError):
    """The invoice was not paid in time; ``params``: expired_at."""

    code = "topup_expired"
    time_params = ("expired_at",)


class TopUpAlreadyPaid(TopUpError):
    code = "topup_already_paid"


# --- Payment requests and split bills (bot.wallet.requests) -------------------------------


class PaymentRequestError(WalletError):
    """A payment request cannot be paid or cancelled as asked; nothing moved."""

    code = "payment_request_invalid"


class PaymentRequestNotFound(PaymentRequestError):
    """No request has this token (a mistyped or forged link)."""

    code = "payment_request_not_found"


class PaymentRequestAlreadyPaid(PaymentRequestError):
    code = "payment_request_already_paid"


class PaymentRequestCancelled(PaymentRequestError):
    code = "payment_request_cancelled"


class PaymentRequestExpired(PaymentRequestError):
    """Nobody paid the request within its validity; ``params``: expired_at, amount."""

    code = "payment_request_expired"
    money_params = ("amount",)
    time_params = ("expired_at",)


class PaymentRequestIsYours(PaymentRequestError):
    """The requester opened their own link: nobody pays themselves."""

    code = "payment_request_is_yours"


class PaymentRequestForSomeoneElse(PaymentRequestError):
    """A split bill's share opened by someone other than the person it is for."""

    code = "payment_request_for_someone_else"


class PaymentRequestNotYours(PaymentRequestError):
    """Someone other than the requester tried to cancel the request."""

    code = "payment_request_not_yours"


class SplitError(WalletError):
    """A split bill cannot be made from this total and these names; nothing was sent."""

    code = "split_invalid"


class SplitNeedsNames(SplitError):
    code = "split_needs_names"


class SplitTooManyNames(SplitError):
    """More people than a split takes; ``params['maximum']``."""

    code = "split_too_many_names"


class SplitDuplicateName(SplitError):
    """The same person is named twice; ``params['name']`` as written the second time."""

    code = "split_duplicate_name"


class SplitNamesYou(SplitError):
    """The sender named themselves: they share every bill they split already."""

    code = "split_names_yourself"


class SplitUnknownNames(SplitError):
    """Names nobody in the wallet answers to; ``params['names']``, as written, comma
    separated. The split is refused whole: no one is asked for a share of a bill that
    leaves some of its people out."""

    code = "split_unknown_names"


class SplitAmountTooSmall(SplitError):
    """Less than one fen a person; ``params``: ``people``, ``minimum`` (fen)."""

    code = "split_amount_too_small"
    money_params = ("minimum",)


class RedPacketError(WalletError):
    """A red packet cannot be made or grabbed as asked; nothing moved."""

    code = "red_packet_invalid"


class RedPacketNotFound(RedPacketError):
    code = "red_packet_not_found"


class RedPacketExhausted(RedPacketError):
    """Every share has been grabbed."""

    code = "red_packet_exhausted"


class RedPacketExpired(RedPacketError):
    """Past its deadline: the remainder went (or goes) back to the sender."""

    code = "red_packet_expired"


class RedPacketAlreadyGrabbed(RedPacketError):
    """This person has a share of this packet already; ``params['amount']``."""

    code = "red_packet_already_grabbed"
    money_params = ("amount",)


class RedPacketNotForYou(RedPacketError):
    """An exclusive packet, and this is not the person it is for."""

    code = "red_packet_not_for_you"


class RedPacketWrongPassword(RedPacketError):
    code = "red_packet_wrong_password"


class RedPacketGrabBlocked(RedPacketError):
    """The risk guard refused the grab (grabs in a burst across many chats)."""

    code = "red_packet_grab_blocked"


class RedPacketLimit(RedPacketError):
    """Outside the configured limits; ``code`` says which, ``params`` the bound: an amount
    (``maximum``, ``minimum``, in fen) or a count of shares or characters (``limit``); an
    equal packet's total also says how it came about (``each`` × ``count`` = ``total``)."""

    code = "red_packet_limit"
    money_params = ("maximum", "minimum", "each", "total")

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)


class RedPacketCountNotANumber(RedPacketError):
    """The number of shares is not written as a whole number: ``text`` is what was
    written (cut to a few characters), ``limit`` the most shares a packet may have."""

    code = "red_packet_count_not_a_number"


class RedPacketInlineUsed(RedPacketError):
    """This inline message shows another red packet already."""

    code = "red_packet_inline_used"


# --- The admin payout queue (bot.wallet.payouts) ----------------------------------------


class PayoutError(WalletError):
    """An admin's decision on a queued payout cannot be taken; nothing changed."""

    code = "payout_error"


class PayoutNotFound(PayoutError):
    """No payout in the queue has this id; ``params['payout_id']``."""

    code = "payout_not_found"


class PayoutAlreadyDecided(PayoutError):
    """It was paid, rejected or closed before; ``params``: ``payout_id``, ``state`` and
    ``admin`` (the Telegram id of the admin who decided, None for a closed one)."""

    code = "payout_already_decided"


class PayoutCardUnavailable(PayoutError):
    """The full card number of a payout cannot be shown: its owner's bound card is gone
    or is another card now; ``params['payout_id']``."""

    code = "payout_card_unavailable"


class PayoutNoteInvalid(PayoutError):
    """The bank reference or the reason cannot be recorded; ``code`` says why
    (``payout_reference_missing``, ``payout_reason_missing``, ``payout_note_too_long``
    with ``params['limit']``)."""

    code = "payout_note_invalid"
    codes: ClassVar[frozenset[str]] = frozenset(
        {"payout_reference_missing", "payout_reason_missing", "payout_note_too_long"}
    )

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"PayoutNoteInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):
        return (_rebuild_note, (self.code, str(self), self.params))


def _rebuild_note(code: str, message: str, params: dict[str, Any]) -> PayoutNoteInvalid:
    return PayoutNoteInvalid(code, message, **params)


# --- Support tickets and disputes (bot.wallet.support) ----------------------------------


class SupportError(WalletError):
    """A support ticket cannot be opened, continued, answered or closed; nothing changed."""

    code = "support_error"


class SupportTextInvalid(SupportError):
    """The text of a ticket or an answer is unusable; ``code`` says why
    (``support_text_missing``, ``support_text_too_long`` with ``params['limit']``)."""

    code = "support_text_invalid"
    codes: ClassVar[frozenset[str]] = frozenset({"support_text_missing", "support_text_too_long"})

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"SupportTextInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):
        return (_rebuild_support_text, (self.code, str(self), self.params))


def _rebuild_support_text(code: str, message: str, params: dict[str, Any]) -> SupportTextInvalid:
    return SupportTextInvalid(code, message, **params)


class TicketIdInvalid(SupportError):
    """The text is not a ticket number; ``params['text']``."""

    code = "ticket_id_invalid"


class TicketNotFound(SupportError):
    """No ticket has this number (or it is someone else's); ``params['ticket_id']``."""

    code = "ticket_not_found"


class TicketClosed(SupportError):
    """The ticket was closed already; ``params['ticket_id']``."""

    code = "ticket_closed"


class DisputeAlreadyOpen(SupportError):
    """The transfer has an open dispute already; ``params``: ``transfer_id``, ``ticket_id``."""

    code = "dispute_already_open"


# --- Refunds by an admin (bot.wallet.refunds) --------------------------------------------


class RefundError(WalletError):
    """A refund cannot be made; nothing moved."""

    code = "refund_error"


class RefundArgumentsInvalid(RefundError):
    """The command's words are not a refund; ``code`` says why (``refund_usage``,
    ``refund_id_invalid`` with ``params['text']``, or ``refund_reason_too_long`` with
    ``params['limit']``)."""

    code = "refund_usage"
    codes: ClassVar[frozenset[str]] = frozenset(
        {"refund_usage", "refund_id_invalid", "refund_reason_too_long"}
    )

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"RefundArgumentsInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):
        return (_rebuild_refund_arguments, (self.code, str(self), self.params))


def _rebuild_refund_arguments(
    code: str, message: str, params: dict[str, Any]
) -> RefundArgumentsInvalid:
    return RefundArgumentsInvalid(code, message, **params)


class RefundTransferNotFound(RefundError):
    """No transfer has this id; ``params['transfer_id']``."""

    code = "refund_transfer_not_found"


class RefundOfRefund(RefundError):
    """The transfer is itself a refund; ``params['transfer_id']``."""

    code = "refund_of_refund"


class TransferNotRefundable(RefundError):
    """Not a completed payment between people or a merchant (a top-up, a red packet's
    escrow leg, a withdrawal, a reservation); ``params``: ``transfer_id``, ``kind``."""

    code = "transfer_not_refundable"


class RefundVoucherLeg(TransferNotRefundable):
    """The voucher part of a shop payment: vouchers come back only by the shop's refund
    (onto the payer's vouchers); ``params``: ``transfer_id``, ``kind``, ``payment_id``
    (the shop's number), ``own_id`` (the payment's balance part, which an admin may
    refund; 0 when vouchers paid all of it)."""

    code = "refund_voucher_leg"


class RefundReservationPosted(TransferNotRefundable):
    """The reservation of a payment held for review and then approved: the payment is
    its posting, ``params['posted_id']``, which is what a refund gives back."""

    code = "refund_reservation_posted"


class RefundExceedsRemaining(RefundError):
    """More than is left to refund; ``params``: ``transfer_id``, ``amount`` (asked),
    ``left`` (the original less earlier refunds; 0 when it was refunded in full)."""

    code = "refund_exceeds_remaining"
    money_params = ("amount", "left")


class RefundedInFull(RefundExceedsRemaining):
    """Nothing is left to refund: the payment was refunded in full already; ``params``
    as :class:`RefundExceedsRemaining`'s (``left`` 0)."""

    code = "refunded_in_full"


class RefundPayeeShort(RefundError):
    """The payee's available money no longer holds the refund (no wallet goes
    negative); ``params``: ``transfer_id``, ``available``, ``amount``."""

    code = "refund_payee_short"
    money_params = ("available", "amount")


# --- Broadcasts (bot.wallet.broadcasts) --------------------------------------------------


class BroadcastError(WalletError):
    """An admin's broadcast cannot be begun; nothing was sent."""

    code = "broadcast_error"


class BroadcastTextInvalid(BroadcastError):
    """The text cannot be broadcast; ``code`` says why (``broadcast_text_missing``, or
    ``broadcast_text_too_long`` with ``params``: ``limit``, ``length``)."""

    code = "broadcast_text_invalid"
    codes: ClassVar[frozenset[str]] = frozenset(
        {"broadcast_text_missing", "broadcast_text_too_long"}
    )

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"BroadcastTextInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):
        return (_rebuild_broadcast_text, (self.code, str(self), self.params))


def _rebuild_broadcast_text(
    code: str, message: str, params: dict[str, Any]
) -> BroadcastTextInvalid:
    return BroadcastTextInvalid(code, message, **params)


class BroadcastNobody(BroadcastError):
    """Nobody has opened the bot's private chat (or every such person is unreachable)."""

    code = "broadcast_nobody"


class BroadcastNotFound(BroadcastError):
    """No broadcast has this id; ``params['broadcast_id']``."""

    code = "broadcast_not_found"


class RefundPayeeFrozen(RefundError):
    """The payee's wallet is frozen, so no refund can leave it; ``params['transfer_id']``."""

    code = "refund_payee_frozen"


# --- Coupons, consumption vouchers and points (bot.wallet.offers) ------------------------


class OffersError(WalletError):
    """A coupon, voucher or points operation cannot be done (now); nothing moved."""

    code = "offers_error"


class OfferArgumentsInvalid(OffersError):
    """An admin's or a resident's words are not a usable command; ``code`` says why
    (one of :attr:`codes`), with the values its message shows in ``params``."""

    code = "voucher_issue_usage"
    codes: ClassVar[frozenset[str]] = frozenset(
        {
            "voucher_issue_usage",
            "voucher_days_invalid",
            "voucher_categories_invalid",
            "voucher_recipients_invalid",
            "voucher_amount_too_large",
            "campaign_usage",
            "campaign_rule_invalid",
            "campaign_cap_missing",
            "campaign_option_not_for_rule",
            "campaign_option_invalid",
            "campaign_option_unknown",
            "campaign_days_invalid",
            "campaign_budget_too_small",
            "coupon_grant_usage",
            "campaign_number_invalid",
        }
    )
    money_params = ("maximum", "minimum")

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"OfferArgumentsInvalid has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):
        return (_rebuild_offer_arguments, (self.code, str(self), self.params))


def _rebuild_offer_arguments(
    code: str, message: str, params: dict[str, Any]
) -> OfferArgumentsInvalid:
    return OfferArgumentsInvalid(code, message, **params)


class OfferRecipientsUnknown(OffersError):
    """Some names of the list are nobody the bot knows; ``params['names']``."""

    code = "offer_recipients_unknown"


class OfferNobody(OffersError):
    """Nobody to give vouchers or coupons to (no verified resident, an empty list)."""

    code = "offer_nobody"


class CampaignNotFound(OffersError):
    """No campaign has this id; ``params['campaign_id']``."""

    code = "campaign_not_found"


class CouponUnavailable(OffersError):
    """The coupon is used, ended, not the payer's, or no longer takes this payment
    (a payment's write refuses it: nothing moves); ``params['coupon_id']``."""

    code = "coupon_unavailable"


class CouponLimitReached(OffersError):
    """The payer has used this campaign's coupons as often as it allows a person;
    ``params``: ``campaign_id``, ``limit``."""

    code = "coupon_limit_reached"


class CouponBudgetExhausted(OffersError):
    """The campaign's budget no longer covers the discount; ``params['campaign_id']``."""

    code = "coupon_budget_exhausted"


class VoucherUnavailable(OffersError):
    """The voucher was spent meanwhile, has expired, or does not take this merchant's
    category (a payment's write refuses it: nothing moves); ``params['voucher_id']``."""

    code = "voucher_unavailable"


class CampaignNotRedeemable(OffersError):
    """The campaign's coupons are not offered for points (now); ``params['campaign_id']``."""

    code = "campaign_not_redeemable"


class RedeemLimitReached(OffersError):
    """The person already got as many of the campaign's coupons as one person may use:
    points buy no more; ``params``: ``campaign_id``, ``limit``."""

    code = "redeem_limit_reached"


class CouponGrantLimitReached(OffersError):
    """A grant would give someone more of the campaign's coupons than one person may use:
    the write grants nothing; ``params``: ``campaign_id``, ``limit``, ``holder_id`` (the
    first such holder), ``holders`` (how many there are), ``full`` (all of them), ``who``
    (the first one's name, once the service has put it in). The service grants to the
    others and raises it only when everyone asked is at the limit."""

    code = "coupon_grant_limit_reached"


class CampaignMerchantUnknown(OffersError):
    """A campaign names a merchant that does not exist; ``params['merchant_id']``."""

    code = "campaign_merchant_unknown"


class PointsShort(OffersError):
    """Fewer points than the coupon costs; ``params``: ``balance``, ``cost``."""

    code = "points_short"
