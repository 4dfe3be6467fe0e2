"""The garbage collector's thresholds: raised for bursts, never lowered, off stays off."""

from __future__ import annotations

import gc

import pytest

from bot.ops.collector import MIDDLE, OLD, YOUNG, as_the_bot_runs, tune_collector


@pytest.fixture(autouse=True)
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_defaults_are_raised():
    gc.set_threshold(700, 10, 10)
    assert tune_collector() == (YOUNG, MIDDLE, OLD)
    assert gc.get_threshold() == (YOUNG, MIDDLE, OLD)
    assert YOUNG > 700 and MIDDLE >= 10 and OLD >= 10


def test_higher_thresholds_set_by_a_deployment_are_kept():
    gc.set_threshold(YOUNG * 5, 5, OLD * 3)
    assert tune_collector() == (YOUNG * 5, MIDDLE, OLD * 3)


def test_a_collector_turned_off_stays_off():
    gc.set_threshold(0)
    assert tune_collector()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_a_bench_runs_with_the_bots_thresholds_then_puts_back_its_own():
    gc.set_threshold(700, 10, 10)
    with as_the_bot_runs() as inside:
        assert inside == gc.get_threshold() == (YOUNG, MIDDLE, OLD)
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), as_the_bot_runs():
        raise RuntimeError("a bench that fails")
    assert gc.get_threshold() == (700, 10, 10)


def test_building_the_application_tunes_the_collector(tmp_path):
    from bot.app import build_application
    from bot.config import Settings

    gc.set_threshold(700, 10, 10)
    settings = Settings(telegram_bot_token="1:x", data_dir=tmp_path, key_dir=tmp_path / "keys")
    build_application(settings)
    assert gc.get_threshold() == (YOUNG, MIDDLE, OLD)
