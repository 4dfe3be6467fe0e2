"""Parsing what people type into fen, and formatting fen for them to read."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import AmountError
from bot.domain.money import DEFAULT_MAX_AMOUNT_FEN, amount_words, format_fen, parse_amount


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.01", 1),
        (".5", 50),
        ("12.", 1200),
        ("¥12.5", 1250),
        ("￥12.5", 1250),
        ("¥ 12.5", 1250),
        ("12元", 1200),
        ("12.34 元", 1234),
        ("CNY 3", 300),
        ("1,234.56", 123456),
        ("１２．５", 1250),  # full-width digits and point
        ("  7  ", 700),
        ("007", 700),
    ],
)
def test_accepted_forms_give_exact_fen(text, fen):
    assert parse_amount(text) == fen


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "amount_empty"),
        ("   ", "amount_empty"),
        ("¥", "amount_empty"),
        ("12.345", "amount_too_many_decimals"),
        ("0.001", "amount_too_many_decimals"),
        ("12.500", "amount_too_many_decimals"),
        ("0", "amount_zero"),
        ("0.00", "amount_zero"),
        ("¥0", "amount_zero"),
        ("-5", "amount_negative"),
        ("−5", "amount_negative"),  # U+2212 minus sign
        ("－5", "amount_negative"),  # full-width hyphen-minus
        ("¥-5", "amount_negative"),
        ("-¥5", "amount_negative"),
        ("1e5", "amount_exponent_not_allowed"),
        ("1E5", "amount_exponent_not_allowed"),
        ("2.5e-1", "amount_exponent_not_allowed"),
        ("NaN", "amount_not_finite"),
        ("nan", "amount_not_finite"),
        ("inf", "amount_not_finite"),
        ("-Infinity", "amount_not_finite"),
        ("¥inf", "amount_not_finite"),
        ("10000001", "amount_too_large"),
        ("9" * 40, "amount_too_large"),
        ("abc", "amount_not_a_number"),
        ("12abc", "amount_not_a_number"),
        ("1.2.3", "amount_not_a_number"),
        ("12,34", "amount_not_a_number"),  # a comma is only a thousands separator
        ("0x10", "amount_not_a_number"),
        ("+5", "amount_not_a_number"),
        ("5 5", "amount_not_a_number"),
        ("-", "amount_not_a_number"),
        ("¥¥5", "amount_not_a_number"),
    ],
)
def test_each_bad_input_is_refused_with_its_own_code(text, code):
    with pytest.raises(AmountError) as caught:
        parse_amount(text)
    assert caught.value.code == code


def test_the_maximum_is_configurable_and_inclusive():
    assert parse_amount("200", maximum=20_000) == 20_000
    with pytest.raises(AmountError) as caught:
        parse_amount("200.01", maximum=20_000)
    assert caught.value.code == "amount_too_large"
    assert caught.value.params["maximum"] == 20_000


def test_default_maximum_is_a_million_yuan():
    assert parse_amount("1000000") == DEFAULT_MAX_AMOUNT_FEN
    with pytest.raises(AmountError):
        parse_amount("1000000.01")


def test_non_text_is_a_programming_error_not_a_user_error():
    with pytest.raises(TypeError):
        parse_amount(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (1, "¥0.01"), (1234, "¥12.34"), (123456789, "¥1,234,567.89"), (-5, "-¥0.05")],
)
def test_format_shows_yuan_with_two_decimals(fen, text):
    assert format_fen(fen) == text


@pytest.mark.parametrize("bad", [1.5, "12", True, None])
def test_format_refuses_anything_but_integers(bad):
    with pytest.raises(TypeError):
        format_fen(bad)


@given(st.integers(min_value=1, max_value=DEFAULT_MAX_AMOUNT_FEN))
def test_formatted_amounts_parse_back_to_the_same_fen(fen):
    assert parse_amount(format_fen(fen)) == fen


@given(st.text(max_size=30))
def test_any_text_either_parses_to_a_positive_amount_or_raises_amount_error(text):
    try:
        fen = parse_amount(text)
    except AmountError as error:
        assert error.code.startswith("amount_")
    else:
        assert isinstance(fen, int)
        assert 0 < fen <= DEFAULT_MAX_AMOUNT_FEN


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("1e5", "100000"),
        ("1E3", "1000"),
        ("2.5e-1", "0.25"),
        ("1.2345e2", "123.45"),
        ("+3e0", "3"),
        ("12e-2", "0.12"),
        ("1e-3", "12.50"),  # three decimals: no amount, so the usual example
        ("1e15", "12.50"),  # sixteen digits: no amount either
        ("0e5", "12.50"),
        ("9e999", "12.50"),
    ],
)
def test_an_exponent_is_answered_with_its_number_in_plain_digits(text, plain):
    with pytest.raises(AmountError) as refused:
        parse_amount(text)
    assert refused.value.code == "amount_exponent_not_allowed"
    assert refused.value.params["plain"] == plain


@pytest.mark.parametrize(
    ("words", "amount", "rest"),
    [
        (["5", "元", "lunch"], "5元", ["lunch"]),
        (["5", "块钱", "饭钱"], "5块钱", ["饭钱"]),
        (["¥", "5", "taxi"], "¥5", ["taxi"]),
        (["￥", "5"], "￥5", []),
        (["5", "RMB"], "5RMB", []),
        (["5", "元旦快乐"], "5", ["元旦快乐"]),  # a memo's word, not a unit
        (["5", "lunch", "元"], "5", ["lunch", "元"]),
        (["12.50"], "12.50", []),
        (["5元", "RMB"], "5元", ["RMB"]),  # one unit already: the next word is the memo's
    ],
)
def test_a_currency_written_apart_belongs_to_the_amount_not_the_memo(words, amount, rest):
    assert amount_words(words) == (amount, rest)
    assert parse_amount(amount_words(words)[0]) > 0


@pytest.mark.parametrize(
    ("words", "amount", "rest", "plain"),
    [
        (["1", "000"], "1 000", [], "1000"),
        (["1", "000", "rent"], "1 000", ["rent"], "1000"),
        (["12", "500.50", "元", "deposit"], "12 500.50元", ["deposit"], "12500.50"),
        (["1", "000", "000"], "1 000 000", [], "1000000"),
        (["¥", "2", "000"], "¥2 000", [], "2000"),
        (["５０", "１２３"], "５０ １２３", [], "50123"),  # typed on a Chinese keyboard
        (["1", "000元", "rent"], "1 000元", ["rent"], "1000"),  # a unit ends the amount
        (["1", "000.00块钱"], "1 000.00块钱", [], "1000.00"),
        (["1", "000RMB", "000"], "1 000RMB", ["000"], "1000"),
    ],
)
def test_digits_grouped_by_spaces_are_refused_as_unclear_not_read_as_an_amount_and_a_memo(
    words, amount, rest, plain
):
    """"1 000" is not ¥1 with the memo "000": the amount takes the groups, and is refused
    with the digits to write instead."""
    assert amount_words(words) == (amount, rest)
    with pytest.raises(AmountError) as refused:
        parse_amount(amount)
    assert refused.value.code == "amount_spaced"
    assert refused.value.params["plain"] == plain
    said = refused.value.params  # the other reading too: "first" with the memo "rest"
    assert (said["first"] + said["rest"]).replace(" ", "") == plain


@pytest.mark.parametrize(
    ("words", "amount", "rest"),
    [
        (["5", "2"], "5", ["2"]),  # a short number is a memo's
        (["1000", "123"], "1000", ["123"]),  # four digits are no group of thousands
        (["5", "0001"], "5", ["0001"]),
        (["5", "lunch", "123"], "5", ["lunch", "123"]),  # a number after a word: the memo's
        (["1.5", "000"], "1.5", ["000"]),
    ],
)
def test_other_numbers_after_an_amount_stay_the_memos(words, amount, rest):
    assert amount_words(words) == (amount, rest)
    assert parse_amount(amount) > 0
