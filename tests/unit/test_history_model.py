"""Who sees which transfer, how it reads from their side, and what a transfer id is."""

from __future__ import annotations

import pytest

from bot.domain.errors import TransferIdInvalid
from bot.domain.history import EntryState, Party
from bot.domain.model import AccountKind, Transfer, TransferFlag
from bot.render.labels import amount_text, party_label, short_time, signed_fen
from bot.wallet.history import line_for, parse_transfer_id, visible_to
from bot.wallet.statements import Month

PAYER, PAYEE, STRANGER = 1, 2, 3
BOB = Party(PAYEE, AccountKind.USER, "user:7", "Bob")


def transfer(flag: TransferFlag, amount: int = 12_50) -> Transfer:
    return Transfer(
        1, "k", PAYER, PAYEE, amount, "CNY", "withdraw", flag,
        None if flag in (TransferFlag.POSTED, TransferFlag.PENDING) else 0,
        "", "", 0, Month(2025, 11).start_ms + 20 * 86_400_000 + 6 * 3_600_000 + 5 * 60_000,
        "", "",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "payer", "payee"),
    [
        (TransferFlag.POSTED, True, True),
        (TransferFlag.POST_PENDING, True, True),
        (TransferFlag.PENDING, True, False),  # nothing reached the payee yet
        (TransferFlag.VOID_PENDING, True, False),
        (TransferFlag.EXPIRE_PENDING, True, False),
    ],
)
def test_each_side_sees_what_touched_its_money_and_a_stranger_sees_nothing(flag, payer, payee):
    t = transfer(flag)
    assert (visible_to(t, PAYER), visible_to(t, PAYEE), visible_to(t, STRANGER)) == (
        payer,
        payee,
        False,
    )


@pytest.mark.parametrize(
    ("flag", "state", "payer_amount", "en"),
    [
        (TransferFlag.POSTED, EntryState.MOVED, -12_50, "-¥12.50"),
        (TransferFlag.PENDING, EntryState.RESERVED, 12_50, "reserved ¥12.50"),
        (TransferFlag.POST_PENDING, EntryState.MOVED, -12_50, "-¥12.50"),
        (TransferFlag.VOID_PENDING, EntryState.RELEASED, 12_50, "released ¥12.50"),
        (TransferFlag.EXPIRE_PENDING, EntryState.EXPIRED, 12_50, "released ¥12.50 (expired)"),
    ],
)
def test_a_reservation_reads_as_reserved_and_released_never_as_money_moved(
    flag, state, payer_amount, en
):
    line = line_for(transfer(flag), PAYER, BOB, "")
    assert (line.state, line.amount) == (state, payer_amount)
    assert amount_text("en", line) == en


def test_the_payee_sees_money_coming_in_with_a_plus_sign():
    line = line_for(transfer(TransferFlag.POSTED), PAYEE, BOB, "memo")
    assert (line.amount, amount_text("zh", line)) == (12_50, "+¥12.50")
    assert signed_fen(-3_00) == "-¥3.00" and signed_fen(1_234_00) == "+¥1,234.00"


def test_times_are_shown_in_beijing():
    assert short_time(transfer(TransferFlag.POSTED).created_at) == "11-21 06:05"


def test_system_accounts_and_merchants_get_readable_names():
    assert party_label("en", BOB) == "Bob"
    assert party_label("zh", Party(9, AccountKind.SYSTEM, "external")) == "银行 / 支付渠道"
    assert party_label("en", Party(9, AccountKind.SYSTEM, "escrow:redpackets")) == "Red packet pool"
    assert party_label("en", Party(9, AccountKind.SYSTEM, "fx:usd")) == "Wallet system"
    assert party_label("zh", Party(9, AccountKind.MERCHANT, "merchant:5", "老王")) == "商户 老王"


@pytest.mark.parametrize(("text", "value"), [("42", 42), ("#7", 7), (" ４２ ", 42), ("1", 1)])
def test_a_transfer_id_is_a_whole_number(text, value):
    assert parse_transfer_id(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "0", "-1", "1.5", "1e3", "#", "42 43", "9" * 20, "٤٢", "四十二"]
)
def test_anything_else_is_not_a_transfer_id(text):
    with pytest.raises(TransferIdInvalid):
        parse_transfer_id(text)
