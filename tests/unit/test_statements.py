"""Monthly statements: month parsing, the running balance, category sums and the CSV file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from bot.domain.errors import MonthInvalid
from bot.domain.history import Party
from bot.domain.model import AccountKind, Transfer, TransferFlag
from bot.render.statement_csv import BOM, statement_csv, yuan
from bot.wallet.statements import CHINA, Month, Statement, build_statement, parse_month

ME, BOB, GATEWAY, ESCROW, MALLORY = 10, 11, 1, 2, 12
PARTIES = {
    BOB: Party(BOB, AccountKind.USER, "user:2", "王芳"),
    GATEWAY: Party(GATEWAY, AccountKind.SYSTEM, "external"),
    ESCROW: Party(ESCROW, AccountKind.SYSTEM, "escrow:redpackets"),
    MALLORY: Party(MALLORY, AccountKind.USER, "user:3", "=cmd|' /C calc'!A0"),
}


def beijing_ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=CHINA).timestamp()) * 1000


def transfer(
    id: int,
    debit: int,
    credit: int,
    amount: int,
    kind: str,
    at: int,
    *,
    memo: str = "",
    flag: TransferFlag = TransferFlag.POSTED,
) -> Transfer:
    return Transfer(
        id=id,
        key=f"k{id}",
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency="CNY",
        kind=kind,
        flag=flag,
        pending_id=None if flag is TransferFlag.POSTED else id - 1,
        ref="",
        memo=memo,
        timeout_ms=0,
        created_at=at,
        prev_hash="",
        hash="",
    )


JANUARY = Month(2026, 1)
SMALL_LEDGER = [
    transfer(7, GATEWAY, ME, 100_00, "topup", beijing_ms(2026, 1, 1, 0, 0, 5)),
    transfer(9, ME, BOB, 12_34, "transfer", beijing_ms(2026, 1, 5, 9, 30), memo="午饭 lunch"),
    transfer(12, ME, ESCROW, 20_00, "red_packet", beijing_ms(2026, 1, 18, 20, 0)),
    transfer(13, ME, BOB, 1, "tip", beijing_ms(2026, 1, 18, 20, 1), memo='+1, "thanks"'),
    transfer(15, MALLORY, ME, 5_00, "transfer", beijing_ms(2026, 1, 31, 23, 59, 59), memo="=1+2"),
    transfer(
        16,
        ME,
        GATEWAY,
        30_00,
        "withdraw",
        beijing_ms(2026, 1, 31, 23, 59, 59),
        flag=(TransferFlag.POST_PENDING),
    ),
]


def small_statement() -> Statement:
    return build_statement(JANUARY, ME, 2_50, SMALL_LEDGER, PARTIES)


# --- months --------------------------------------------------------------------------------

NOW = beijing_ms(2026, 3, 15, 12, 0)


@pytest.mark.parametrize(
    ("text", "month"),
    [
        (None, Month(2026, 3)),
        ("", Month(2026, 3)),
        ("  ", Month(2026, 3)),
        ("2026-01", Month(2026, 1)),
        ("2026-1", Month(2026, 1)),
        ("2025/12", Month(2025, 12)),
        ("２０２６－０２", Month(2026, 2)),  # full-width digits and hyphen
        ("2026-03", Month(2026, 3)),
        ("2000-01", Month(2000, 1)),
    ],
)
def test_a_month_is_read_from_what_people_write(text, month):
    assert parse_month(text, NOW) == month


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-13", "month_out_of_range"),
        ("2026-00", "month_out_of_range"),
        ("1999-12", "month_out_of_range"),
        ("26-01", "month_format"),
        ("2026-01-05", "month_format"),
        ("202601", "month_format"),
        ("January", "month_format"),
        ("2026-1a", "month_format"),
        ("💸", "month_format"),
        ("2026-04", "month_in_future"),
        ("2027-01", "month_in_future"),
    ],
)
def test_a_bad_month_is_refused_with_the_reason(text, code):
    with pytest.raises(MonthInvalid) as refused:
        parse_month(text, NOW)
    assert refused.value.code == code
    assert refused.value.params == {"text": text, "latest": "2026-03"}


def test_months_begin_at_midnight_in_beijing():
    assert JANUARY.start_ms == int(datetime(2025, 12, 31, 16, tzinfo=UTC).timestamp()) * 1000
    assert JANUARY.end_ms == Month(2026, 2).start_ms
    assert Month(2025, 12).next() == JANUARY
    assert (Month(2024, 2).days, Month(2026, 2).days, JANUARY.days) == (29, 28, 31)
    assert Month.containing(JANUARY.start_ms) == JANUARY
    assert Month.containing(JANUARY.start_ms - 1) == Month(2025, 12)
    assert Month.containing(JANUARY.end_ms - 1) == JANUARY
    # 2026-03-01 00:00 in Beijing is still February in UTC: the statement follows Beijing
    assert parse_month("", Month(2026, 3).start_ms) == Month(2026, 3)


# --- the statement ---------------------------------------------------------------------------


def test_the_running_balance_starts_from_the_opening_balance():
    statement = small_statement()

    assert [row.amount for row in statement.rows] == [100_00, -12_34, -20_00, -1, 5_00, -30_00]
    assert [row.balance_after for row in statement.rows] == [
        102_50,
        90_16,
        70_16,
        70_15,
        75_15,
        45_15,
    ]
    assert statement.closing_balance == 2_50 + sum(row.amount for row in statement.rows)
    assert (statement.money_in, statement.money_out) == (105_00, 62_35)
    assert statement.balance_points()[0] == (JANUARY.start_ms, 2_50)
    assert statement.balance_points()[-1] == (SMALL_LEDGER[-1].created_at, 45_15)


def test_spending_is_summed_per_kind_largest_first_and_income_is_not_spending():
    statement = small_statement()

    assert statement.spending_by_kind() == (
        ("withdraw", 30_00),
        ("red_packet", 20_00),
        ("transfer", 12_34),
        ("tip", 1),
    )
    assert sum(fen for _, fen in statement.spending_by_kind()) == statement.money_out


def test_an_empty_month_keeps_its_opening_balance():
    statement = build_statement(JANUARY, ME, 7_00, [], PARTIES)
    assert statement.rows == () and statement.closing_balance == 7_00
    assert statement.spending_by_kind() == ()
    assert statement.until_ms == JANUARY.end_ms


def test_a_statement_of_this_month_ends_now():
    now = beijing_ms(2026, 1, 10, 8, 0)
    statement = build_statement(JANUARY, ME, 0, SMALL_LEDGER[:2], PARTIES, as_of_ms=now)
    assert statement.until_ms == now


def test_a_reservation_that_moved_nothing_or_another_account_cannot_be_in_a_statement():
    held = transfer(20, ME, GATEWAY, 1_00, "withdraw", NOW, flag=TransferFlag.PENDING)
    with pytest.raises(ValueError):
        build_statement(JANUARY, ME, 0, [held], PARTIES)
    with pytest.raises(ValueError):
        build_statement(JANUARY, BOB, 0, [SMALL_LEDGER[0]], PARTIES)


# --- the CSV file ----------------------------------------------------------------------------


def test_the_csv_has_a_bom_a_header_and_one_exact_row_per_transfer():
    data = statement_csv(small_statement(), "en")

    assert data.startswith(BOM.encode("utf-8"))
    assert data.decode("utf-8") == BOM + (
        "Time (Beijing),Transaction,Kind,Counterparty,Amount (CNY),Memo,Balance after (CNY)\r\n"
        "2026-01-01 00:00:05,7,Top-up,Bank / payment gateway,100.00,,102.50\r\n"
        "2026-01-05 09:30:00,9,Transfer,王芳,-12.34,午饭 lunch,90.16\r\n"
        "2026-01-18 20:00:00,12,Red packet,Red packet pool,-20.00,,70.16\r\n"
        '2026-01-18 20:01:00,13,Tip,王芳,-0.01,"\'+1, ""thanks""",70.15\r\n'
        "2026-01-31 23:59:59,15,Transfer,'=cmd|' /C calc'!A0,5.00,'=1+2,75.15\r\n"
        "2026-01-31 23:59:59,16,Withdrawal,Bank / payment gateway,-30.00,,45.15\r\n"
    )


def test_the_csv_reads_back_in_chinese_with_a_consistent_balance_column():
    statement = small_statement()
    text = statement_csv(statement, "zh").decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))

    assert header == [
        "时间（北京时间）",
        "交易编号",
        "类型",
        "对方",
        "金额（元）",
        "备注",
        "交易后余额（元）",
    ]
    assert [row[2] for row in rows] == ["充值", "转账", "发红包", "打赏", "转账", "提现"]
    assert [int(row[1]) for row in rows] == [t.id for t in SMALL_LEDGER]
    balance = statement.opening_balance
    for row, expected in zip(rows, statement.rows, strict=True):
        amount, after = fen_of(row[4]), fen_of(row[6])
        assert amount == expected.amount
        assert after == balance + amount == expected.balance_after
        balance = after


def fen_of(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")
    assert len(cents) == 2
    return sign * (int(whole) * 100 + int(cents))


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (1, "0.01"), (-5, "-0.05"), (12_34, "12.34"), (-1_234_567_89, "-1234567.89")],
)
def test_yuan_has_two_decimals_and_no_grouping(fen, text):
    assert yuan(fen) == text
    assert fen_of(text) == fen
