"""Both catalogs say the same things, with the same placeholders."""

import pytest

from bot.domain import errors, security_errors
from bot.i18n import LANGUAGES, catalog, placeholders, translate


def test_both_languages_have_the_same_messages():
    assert set(catalog("zh")) == set(catalog("en"))
    assert len(catalog("en")) > 20


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_a_message_has_the_same_placeholders_in_every_language(key):
    assert placeholders(catalog("zh")[key]) == placeholders(catalog("en")[key])


def wallet_error_codes() -> set[str]:
    found = set()
    for value in [*vars(errors).values(), *vars(security_errors).values()]:
        if isinstance(value, type) and issubclass(value, errors.WalletError):
            found.add(value.code)
    return found - {"wallet_error", "ledger_error", "amount_invalid"}


@pytest.mark.parametrize("code", sorted(wallet_error_codes()))
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_error_code_has_a_message(code, language):
    assert code in catalog(language)


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
