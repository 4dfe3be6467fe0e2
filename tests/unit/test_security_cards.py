"""Bank card numbers: folding what people type, the Luhn check, lengths and masking."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.security_errors import CardNumberInvalid
from bot.i18n import LANGUAGES, translate
from bot.security.cards import is_luhn_valid, luhn_check_digit, mask_card, validate_card_number


def luhn_append(partial: str) -> str:
    """The Luhn digit worked out the long way, independently of the module."""
    for digit in "0123456789":
        candidate = partial + digit
        doubled = [
            int(c) * 2 - 9 if i % 2 and int(c) > 4 else int(c) * (2 if i % 2 else 1)
            for i, c in enumerate(reversed(candidate))
        ]
        if sum(doubled) % 10 == 0:
            return candidate
    raise AssertionError("some digit always fits")


def code_of(text: str) -> str:
    with pytest.raises(CardNumberInvalid) as caught:
        validate_card_number(text)
    return caught.value.code


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("4111 1111 1111 1111", "4111111111111111"),  # the well-known Visa test number
        ("5500-0000-0000-0004", "5500000000000004"),
        ("378282246310005", "378282246310005"),  # 15-digit American Express test number
        ("４１１１ １１１１ １１１１ １１１１", "4111111111111111"),  # full-width, with U+3000
        ("4111–1111–1111–1111", "4111111111111111"),  # en dashes
    ],
)
def test_known_valid_numbers_are_accepted_as_bare_digits(typed, digits):
    assert validate_card_number(typed) == digits


@pytest.mark.parametrize("partial", ["622202123456789012", "62220212345678", "40000000000"])
def test_numbers_with_a_computed_luhn_digit_are_accepted(partial):
    number = luhn_append(partial)
    assert luhn_check_digit(partial) == number[-1]
    assert validate_card_number(number) == number


@pytest.mark.parametrize("typed", ["4111 1111 1111 1112", "6222021234567890120", "378282246310006"])
def test_a_wrong_check_digit_is_refused(typed):
    assert code_of(typed) == "card_number_checksum"


@pytest.mark.parametrize(
    "typed",
    [
        luhn_append("4111111111"),  # 11 digits
        luhn_append("4" * 19),  # 20 digits
        "",
        "4111 1111 1111 111a",
        "4111.1111.1111.1111",
        "٤١١١١١١١١١١١١١١١",  # Arabic-Indic digits
    ],
)
def test_wrong_length_or_characters_are_refused(typed):
    assert code_of(typed) == "card_number_format"


def test_twelve_and_nineteen_digits_are_the_limits():
    assert validate_card_number(luhn_append("4" * 11))
    assert validate_card_number(luhn_append("4" * 18))


@pytest.mark.parametrize(
    ("number", "masked"),
    [("4111111111111111", "**** 1111"), ("6222 0212 3456 7890 128", "**** 0128")],
)
def test_masking_shows_the_last_four_digits(number, masked):
    assert mask_card(number) == masked


@given(
    st.text(alphabet="0123456789", min_size=11, max_size=18),
    st.data(),
)
def test_changing_any_one_digit_of_a_valid_number_breaks_it(partial, data):
    number = luhn_append(partial)
    assert is_luhn_valid(number)
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    typo = number[:position] + digit + number[position + 1 :]
    assert not is_luhn_valid(typo)
    with pytest.raises(CardNumberInvalid):
        validate_card_number(typo)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_example_in_bindcards_usage_is_a_number_it_accepts(language):
    usage = translate(language, "bindcard.usage")
    example = re.search(r"/bindcard ([0-9][0-9 ]{11,})", usage)
    assert example is not None, usage
    assert validate_card_number(example[1].strip()) == example[1].replace(" ", "").strip()
