"""What both back ends read the same way: the ledger's columns, merchants' and refunds'
rows as domain values (one place, so SQLite and PostgreSQL can never read them
differently)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.domain.errors import RefundTransferNotFound
from bot.domain.history import EntryState
from bot.domain.kinds import TransferKind
from bot.domain.merchants import Charge, Merchant, MerchantPayment, PaidVia
from bot.domain.model import (
    MAY_GO_NEGATIVE,
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
)
from bot.domain.offers import VoucherPart
from bot.domain.refunds import RefundPreview, refund_refusal
from bot.domain.support import AttachedTransfer, Ticket, TicketState
from bot.domain.topups import TopUp, TopUpState

__all__ = [
    "ACCOUNT_COLUMNS",
    "TICKET_COLUMNS",
    "TOPUP_COLUMNS",
    "TRANSFER_COLUMNS",
    "RefundQueries",
    "account_holder",
    "assess_refund",
    "attached_json",
    "refund_original",
    "row_to_account",
    "row_to_charge",
    "row_to_merchant",
    "row_to_payment",
    "row_to_ticket",
    "row_to_topup",
    "row_to_transfer",
]

ACCOUNT_COLUMNS = (
    "id, name, kind, currency, status, debits_posted, credits_posted, debits_pending, created_at"
)
TRANSFER_COLUMNS = (
    "id, key, debit_account_id, credit_account_id, amount, currency, kind, flag, pending_id,"
    " ref, memo, timeout_ms, created_at, prev_hash, hash"
)


def row_to_account(row: Sequence) -> Account:
    return Account(
        id=row[0],
        name=row[1],
        kind=AccountKind(row[2]),
        currency=row[3],
        status=AccountStatus(row[4]),
        debits_posted=row[5],
        credits_posted=row[6],
        debits_pending=row[7],
        created_at=row[8],
    )


def row_to_transfer(row: Sequence) -> Transfer:
    return Transfer(
        id=row[0],
        key=row[1],
        debit_account_id=row[2],
        credit_account_id=row[3],
        amount=row[4],
        currency=row[5],
        kind=row[6],
        flag=TransferFlag(row[7]),
        pending_id=row[8],
        ref=row[9],
        memo=row[10],
        timeout_ms=row[11],
        created_at=row[12],
        prev_hash=row[13],
        hash=row[14],
    )


def account_holder(name: str, telegram_id: int | None) -> int | None:
    """The Telegram id of whoever holds the account (a person, else a merchant's owner)."""
    if telegram_id is not None:
        return telegram_id
    kind, _, owner = name.partition(":")
    return int(owner) if kind == "merchant" and owner.isdigit() else None


def refund_original(row: Sequence) -> tuple[Transfer, bool, bool, int | None, int | None]:
    """A transfer to refund as its query reads it: the transfer, whether each side may go
    negative, and who holds each side."""
    original = row_to_transfer(row[:15])
    payer_negative, payee_negative, payer_name, payee_name, payer, payee = row[15:]
    return (
        original,
        bool(payer_negative),
        bool(payee_negative),
        account_holder(payer_name, payer),
        account_holder(payee_name, payee),
    )


def row_to_merchant(row: Sequence) -> Merchant:
    return Merchant(*tuple(row)[:7])


def row_to_charge(row: Sequence) -> Charge:
    return Charge(*tuple(row)[:6])


def row_to_payment(row: Sequence, vouchers: Sequence[Sequence]) -> MerchantPayment:
    return MerchantPayment(
        id=row[0],
        key=row[1],
        merchant_id=row[2],
        payer_id=row[3],
        price=row[4],
        own=row[5],
        discount=row[6],
        coupon_id=row[7],
        via=PaidVia(row[8]),
        ref=row[9],
        created_at=row[10],
        own_transfer_id=row[11],
        discount_transfer_id=row[12],
        vouchers=tuple((VoucherPart(v[0], v[1]), v[2]) for v in vouchers),
    )


class RefundQueries:
    """A refund's reads, in the back end's parameter style (``?`` or ``$1``): the original
    transfer as :func:`refund_original` reads it, what was refunded of it, a refund by key."""

    def __init__(self, placeholder: str) -> None:
        columns = ", ".join(f"t.{name.strip()}" for name in TRANSFER_COLUMNS.split(","))
        negative = ", ".join(f"'{kind}'" for kind in sorted(MAY_GO_NEGATIVE))
        # the original, whether each side may go negative (a system account), who holds each
        self.original = (
            f"SELECT {columns}, d.kind IN ({negative}), c.kind IN ({negative}), d.name, c.name,"
            " (SELECT telegram_id FROM users WHERE account_id = t.debit_account_id),"
            " (SELECT telegram_id FROM users WHERE account_id = t.credit_account_id)"
            " FROM transfers AS t JOIN accounts AS d ON d.id = t.debit_account_id"
            f" JOIN accounts AS c ON c.id = t.credit_account_id WHERE t.id = {placeholder}"
        )
        self.refunded = (
            "SELECT CAST(coalesce(sum(amount), 0) AS BIGINT) FROM transfers"
            f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = {placeholder}"
        )
        self.by_key = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = {placeholder}"


def assess_refund(
    row: Sequence | None, transfer_id: int, refunded: int, amount: int | None
) -> RefundPreview:
    """What a refund of ``transfer_id`` (its :attr:`RefundQueries.original` row) would
    move, given what was refunded of it already; raises the refusal if it may not."""
    if row is None:
        raise RefundTransferNotFound(transfer_id=transfer_id)
    original, payer_negative, payee_negative, payer, payee = refund_original(row)
    wanted, refused = refund_refusal(original, payer_negative, payee_negative, refunded, amount)
    if refused is not None:
        raise refused
    return RefundPreview(original, wanted, refunded, payer, payee)


TICKET_COLUMNS = (
    "id, telegram_id, transfer_id, state, text, attached, created_at, closed_by, closed_at"
)


def attached_json(attached: Sequence[AttachedTransfer]) -> str:
    """A ticket's attached transfers as stored: ``[id, amount, kind]``, then the entry's
    state when it is not money moved (a reservation, its release) or the other side is
    named, then the other side's name when there is one."""
    return json.dumps(
        [
            [a.transfer_id, a.amount, a.kind]
            + ([] if a.state is EntryState.MOVED and not a.other else [a.state.value])
            + ([a.other] if a.other else [])
            for a in attached
        ]
    )


def _attached(item: Sequence) -> AttachedTransfer:
    state = EntryState(item[3]) if len(item) > 3 else EntryState.MOVED  # older rows: moved
    other = str(item[4]) if len(item) > 4 else ""  # older rows: no other side named
    return AttachedTransfer(int(item[0]), int(item[1]), str(item[2]), state, other)


def row_to_ticket(row: Sequence) -> Ticket:
    """A support ticket from its :data:`TICKET_COLUMNS` (``attached`` is JSON text)."""
    attached = tuple(_attached(item) for item in json.loads(row[5]))
    return Ticket(
        id=row[0],
        telegram_id=row[1],
        transfer_id=row[2],
        state=TicketState(row[3]),
        text=row[4],
        attached=attached,
        created_at=row[6],
        closed_by=row[7],
        closed_at=row[8],
    )


TOPUP_COLUMNS = (
    "id, telegram_id, amount, currency, state, created_at, expires_at, telegram_charge_id,"
    " provider_charge_id, transfer_id, paid_at"
)


def row_to_topup(row: Sequence) -> TopUp:
    return TopUp(
        id=row[0],
        telegram_id=row[1],
        amount=row[2],
        currency=row[3],
        state=TopUpState(row[4]),
        created_at=row[5],
        expires_at=row[6],
        telegram_charge_id=row[7],
        provider_charge_id=row[8],
        transfer_id=row[9],
        paid_at=row[10],
    )
