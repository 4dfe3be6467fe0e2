"""WALLET_DATABASE_POOL_SIZE: how many PostgreSQL connections one bot process keeps."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_the_pool_size_defaults_to_ten_and_can_be_set():
    assert load_settings({}).database_pool_size == 10
    assert load_settings({"WALLET_DATABASE_POOL_SIZE": "25"}).database_pool_size == 25


@pytest.mark.parametrize("text", ["0", "-1", "501", "ten", "2.5", "1e3"])
def test_a_pool_size_that_is_not_a_whole_number_from_1_to_500_is_refused(text):
    with pytest.raises(ConfigError) as refused:
        load_settings({"WALLET_DATABASE_POOL_SIZE": text})

    assert any("WALLET_DATABASE_POOL_SIZE" in problem for problem in refused.value.problems)
