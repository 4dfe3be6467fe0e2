"""Resident ID numbers (format, date of birth, MOD 11-2 check character) and real names."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.security_errors import IdNumberInvalid, RealNameInvalid
from bot.security.idnumber import (
    IdNumber,
    id_check_character,
    mask_id_number,
    validate_id_number,
    validate_real_name,
)

TODAY = date(2024, 6, 1)
# The weights and check characters as GB 11643-1999 publishes them, computed independently.
WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
CHECK = "10X98765432"


def with_check(first_17: str) -> str:
    assert WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first_17 + CHECK[sum(int(d) * w for d, w in zip(first_17, WEIGHTS, strict=True)) % 11]


def code_of(text: str, today: date = TODAY) -> str:
    with pytest.raises(IdNumberInvalid) as caught:
        validate_id_number(text, today)
    return caught.value.code


def test_published_sample_is_valid():
    number = validate_id_number("11010519491231002X", TODAY)
    assert number == IdNumber("11010519491231002X")
    assert number.birth_date == date(1949, 12, 31)
    assert number.region_code == "110105"


@pytest.mark.parametrize(
    "first_17", ["44030419900101123", "32010220000229456", "51010720240601001", "11010119000101000"]
)
def test_numbers_with_their_computed_check_character_are_valid(first_17):
    number = with_check(first_17)
    assert validate_id_number(number, TODAY).value == number
    assert id_check_character(first_17) == number[-1]


def test_check_character_ten_is_written_x():
    assert id_check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    "typed",
    ["11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", " 110105 19491231 002X "],
)
def test_lower_case_x_spaces_and_full_width_are_normalised(typed):
    assert validate_id_number(typed, TODAY).value == "11010519491231002X"


@pytest.mark.parametrize(
    "wrong", ["110105194912310020", "110105194912310021", "110105194912310029"]
)
def test_a_wrong_check_character_is_refused(wrong):
    assert code_of(wrong) == "id_number_check_digit"


def test_every_single_digit_typo_is_caught():
    good = "11010519491231002X"
    for position in range(14, 17):  # sequence digits: the date stays valid
        for digit in "0123456789":
            typo = good[:position] + digit + good[position + 1 :]
            if typo != good:
                assert code_of(typo) == "id_number_check_digit", typo


@pytest.mark.parametrize(
    "first_17",
    [
        "11010519990230123",  # 30 February
        "11010520230229123",  # not a leap year
        "11010519991301123",  # month 13
        "11010519990100123",  # day 0
        "11010518991231123",  # before 1900
        "11010520240602123",  # tomorrow
        "11010530000101123",  # far future
    ],
)
def test_an_impossible_date_of_birth_is_refused(first_17):
    assert code_of(with_check(first_17)) == "id_number_birth_date"


def test_born_today_is_accepted():
    assert validate_id_number(with_check("11010520240601123"), TODAY)


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002",  # 17 characters
        "11010519491231002XX",
        "1101051949123100X2",  # X not last
        "11010519491231002Y",
        "A1010519491231002X",
        "",
        "٠١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits
    ],
)
def test_bad_format_is_refused(text):
    assert code_of(text) == "id_number_format"


def test_masking_keeps_four_characters_each_end():
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_id_number(IdNumber("11010519491231002X")) == "1101**********002X"


DIGITS = st.text(alphabet="0123456789", min_size=3, max_size=6)


@given(DIGITS, st.dates(date(1900, 1, 1), TODAY), DIGITS, st.sampled_from("0123456789X"))
def test_only_the_computed_check_character_fits(region, born, sequence, last):
    first_17 = (region + "000000")[:6] + born.strftime("%Y%m%d") + (sequence + "000")[:3]
    number = first_17 + last
    if last == id_check_character(first_17):
        assert validate_id_number(number, TODAY).birth_date == born
    else:
        assert code_of(number) == "id_number_check_digit"


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("张三", "张三"),
        ("  欧阳娜娜 ", "欧阳娜娜"),
        ("阿沛·阿旺晋美", "阿沛·阿旺晋美"),
        ("阿沛・阿旺晋美", "阿沛·阿旺晋美"),  # katakana middle dot
        ("买买提•吐尔逊", "买买提·吐尔逊"),  # bullet
        ("Zoë  Müller", "Zoë Müller"),
        ("Ｊｏｈｎ", "John"),
        ("李", "李"),
        ("长" * 30, "长" * 30),
    ],
)
def test_real_names_are_accepted_in_canonical_form(typed, name):
    assert validate_real_name(typed) == name


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "real_name_length"),
        ("   ", "real_name_length"),
        ("长" * 31, "real_name_length"),
        ("张三3", "real_name_characters"),
        ("张三３", "real_name_characters"),
        ("·张三", "real_name_characters"),
        ("张三·", "real_name_characters"),
        ("张··三", "real_name_characters"),
        ("张三!", "real_name_characters"),
        ("张_三", "real_name_characters"),
        ("😀", "real_name_characters"),
    ],
)
def test_unusable_real_names_are_refused_with_their_code(typed, code):
    with pytest.raises(RealNameInvalid) as caught:
        validate_real_name(typed)
    assert caught.value.code == code
