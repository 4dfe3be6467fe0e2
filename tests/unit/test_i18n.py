"""Both catalogs say the same things, with the same placeholders."""

import re

import pytest

from bot.domain import errors, security_errors
from bot.i18n import (
    LANGUAGES,
    catalog,
    placeholders,
    plural_form,
    translate,
    translate_plural,
)


def test_both_languages_have_the_same_messages():
    assert set(catalog("zh")) == set(catalog("en"))
    assert len(catalog("en")) > 20


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_a_message_has_the_same_placeholders_in_every_language(key):
    assert placeholders(catalog("zh")[key]) == placeholders(catalog("en")[key])


PLURALS = sorted(key for key, message in catalog("en").items() if isinstance(message, tuple))


def test_counted_messages_are_plural_entries_in_both_languages():
    counted = {
        "redpacket.card.random",
        "statement.csv_caption",
        "voucher.issued",
        "broadcast.length",
    }
    assert counted <= set(PLURALS)
    for key in PLURALS:
        assert len(catalog("en")[key]) == 2  # one, other
        assert isinstance(catalog("zh")[key], tuple) and len(catalog("zh")[key]) == 1


@pytest.mark.parametrize("key", PLURALS)
def test_every_form_of_a_plural_entry_has_the_same_placeholders(key):
    forms = [*catalog("en")[key], *catalog("zh")[key]]
    assert all(placeholders(form) == placeholders(forms[0]) for form in forms)


def test_no_english_message_says_s_in_brackets():
    for key, message in catalog("en").items():
        texts = (message,) if isinstance(message, str) else message
        assert not any("(s)" in text for text in texts), key


def test_chinese_quotes_what_people_wrote_in_corner_brackets():
    """「…」 around a greeting, a memo or a mistyped word, as on the red packet's card."""
    for key, message in catalog("zh").items():
        texts = (message,) if isinstance(message, str) else message
        assert not any(re.search(r"“\{\w+\}”", text) for text in texts), key
    assert translate("zh", "transfer_id_invalid", text="abc").startswith("「abc」不是交易编号")


def test_the_plural_form_follows_the_count():
    assert [plural_form("en", n) for n in (0, 1, 2, 21)] == [1, 0, 1, 1]
    assert {plural_form("zh", n) for n in (0, 1, 2, 21)} == {0}
    params = {"amount": "¥5.00", "each": "¥5.00", "name": "", "password": ""}
    assert translate("en", "redpacket.card.random", count=1, **params) == (
        "🧧 Send a random red packet of ¥5.00 in 1 share?"
    )
    assert translate("en", "redpacket.card.random", count=2, **params) == (
        "🧧 Send a random red packet of ¥5.00 in 2 shares?"
    )
    assert translate("zh", "redpacket.card.random", count=1, **params) == (
        "🧧 发一个 ¥5.00 的拼手气红包，共 1 个？"
    )
    assert translate_plural("en", "coupon.granted", 1, granted=1, asked=1, name="Lunch") == (
        "🎟 Gave 1 new coupon of “Lunch” (1 asked)."
    )
    assert translate_plural("fr", "coupon.granted", 3, granted=3, asked=3, name="L").startswith(
        "🎟 Gave 3 new coupons"
    )
    with pytest.raises(TypeError):
        translate("en", "redpacket.card.random", **params)  # a plural entry needs its count
    with pytest.raises(TypeError):
        translate_plural("en", "balance.available", 1, amount="¥1.00")


def wallet_error_codes() -> set[str]:
    found = set()
    for value in [*vars(errors).values(), *vars(security_errors).values()]:
        if isinstance(value, type) and issubclass(value, errors.WalletError):
            found.add(value.code)
    return found - {"wallet_error", "ledger_error", "amount_invalid"}


@pytest.mark.parametrize("code", sorted(wallet_error_codes()))
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_error_code_has_a_message(code, language):
    assert isinstance(catalog(language)[code], str)  # not plural: errors are said without a count


def test_every_amount_error_code_has_a_message():
    from bot.domain.money import parse_amount

    codes = set()
    for text in ("", "x", "nan", "1e5", "-1", "0", "1.234", "9" * 20):
        try:
            parse_amount(text)
        except errors.AmountError as error:
            codes.add(error.code)
    assert len(codes) == 8
    assert codes <= set(catalog("en")) and codes <= set(catalog("zh"))


def test_translate_fills_placeholders_and_falls_back_to_english_for_unknown_languages():
    assert translate("zh", "balance.available", amount="¥1.00") == "余额 Balance: ¥1.00"
    assert (
        translate("zh", "exceeds_balance", available="¥1", amount="¥2")
        == "余额不足：你有 ¥1，需要 ¥2。"
    )
    assert translate("fr", "lang.set") == translate("en", "lang.set") == "Language set to English."
    with pytest.raises(KeyError):
        translate("en", "no.such.message")
