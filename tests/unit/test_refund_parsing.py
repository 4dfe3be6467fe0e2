"""What /refund's words mean, and the rules of what can be refunded."""

from __future__ import annotations

import pytest

from bot.domain.errors import (
    AmountError,
    RefundArgumentsInvalid,
    RefundExceedsRemaining,
    RefundOfRefund,
    TransferNotRefundable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer, TransferFlag
from bot.domain.refunds import REASON_MAX, RefundCommand, parse_refund, refund_refusal


def test_an_id_alone_refunds_all_that_is_left():
    assert parse_refund(["42"]) == RefundCommand(42, None, "")


def test_an_amount_and_a_reason_are_read():
    assert parse_refund(["42", "12.50", "wrong", " item"]) == RefundCommand(42, 12_50, "wrong item")
    assert parse_refund(["42", "¥5"]) == RefundCommand(42, 5_00, "")
    assert parse_refund(["42", "３元"]) == RefundCommand(42, 3_00, "")


def test_a_hash_before_the_id_is_read_as_history_writes_it():
    assert parse_refund(["#42", "5"]) == RefundCommand(42, 5_00, "")


def test_full_width_digits_name_a_transfer_as_ascii_ones_do():
    assert parse_refund(["４２", "５"]) == RefundCommand(42, 5_00, "")


def test_a_reason_without_an_amount_refunds_all_that_is_left():
    assert parse_refund(["42", "duplicate", "payment"]) == RefundCommand(
        42, None, "duplicate payment"
    )


def test_no_arguments_is_the_usage():
    with pytest.raises(RefundArgumentsInvalid) as refused:
        parse_refund([])
    assert refused.value.code == "refund_usage"


@pytest.mark.parametrize("text", ["abc", "##42", "#", "0", "-3", "4.2", "９" * 30, "1２a"])
def test_a_transfer_id_is_a_whole_number_from_one(text):
    with pytest.raises(RefundArgumentsInvalid) as refused:
        parse_refund([text])
    assert refused.value.code == "refund_id_invalid"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0", "amount_zero"),
        ("-5", "amount_negative"),
        ("1.234", "amount_too_many_decimals"),
        ("1e3", "amount_exponent_not_allowed"),
        ("5..0", "amount_not_a_number"),
    ],
)
def test_a_bad_amount_is_refused_not_taken_for_a_reason(text, code):
    with pytest.raises(AmountError) as refused:
        parse_refund(["42", text, "reason"])
    assert refused.value.code == code


def test_a_reason_has_a_limit():
    with pytest.raises(RefundArgumentsInvalid) as refused:
        parse_refund(["42", "1", "x" * (REASON_MAX + 1)])
    assert refused.value.params == {"limit": REASON_MAX}


def _transfer(kind=TransferKind.TRANSFER, flag=TransferFlag.POSTED, amount=100_00) -> Transfer:
    return Transfer(7, "k", 1, 2, amount, "CNY", kind, flag, None, "", "", 0, 0, "", "")


def test_the_rules_in_order_of_precedence():
    assert refund_refusal(_transfer(), False, False, 0, None) == (100_00, None)
    assert refund_refusal(_transfer(), False, False, 40_00, 60_00) == (60_00, None)
    refund = _transfer(TransferKind.PAYMENT_REFUND)
    assert isinstance(refund_refusal(refund, False, False, 0, 1)[1], RefundOfRefund)
    for kind in (TransferKind.TOPUP, TransferKind.RED_PACKET, TransferKind.WITHDRAW):
        assert isinstance(
            refund_refusal(_transfer(kind), False, False, 0, 1)[1], TransferNotRefundable
        )
    pending = _transfer(flag=TransferFlag.PENDING)
    assert isinstance(refund_refusal(pending, False, False, 0, 1)[1], TransferNotRefundable)
    assert isinstance(refund_refusal(_transfer(), True, False, 0, 1)[1], TransferNotRefundable)
    assert isinstance(
        refund_refusal(_transfer(), False, False, 60_00, 40_01)[1], RefundExceedsRemaining
    )
    assert isinstance(
        refund_refusal(_transfer(), False, False, 100_00, None)[1], RefundExceedsRemaining
    )
