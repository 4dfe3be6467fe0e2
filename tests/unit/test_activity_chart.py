"""The /stats picture: a real PNG of the promised size, in both languages, with any font,
empty or full."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.domain.adminview import Activity, DayActivity
from bot.render.activity_chart import HEIGHT, MAX_KINDS, WIDTH, _series, activity_chart

DAY = 86_400_000
START = 1_767_196_800_000 - 8 * 3_600_000  # 2026-01-01 00:00 in Beijing


def days(volumes=None, users=None) -> Activity:
    volumes, users = volumes or {}, users or {}
    return Activity(
        tuple(DayActivity(START + i * DAY, volumes.get(i, {}), users.get(i, 0)) for i in range(30))
    )


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    return image.convert("RGB")


def colours(image: Image.Image) -> set:
    return {colour for _, colour in image.getcolors(maxcolors=1 << 20)}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_empty_wallet_draws_axes_and_no_bars(language):
    image = picture(activity_chart(days(), language))
    assert (229, 57, 53) not in colours(image) and (21, 101, 192) not in colours(image)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_money_and_new_users_are_drawn(language):
    activity = days({0: {"topup": 100_00}, 29: {"transfer": 5, "topup": 1}}, {3: 2, 29: 40})
    image = picture(activity_chart(activity, language))
    assert {(229, 57, 53), (251, 140, 0), (21, 101, 192)} <= colours(image)


def test_any_font_will_do_even_none_installed():
    activity = days({5: {"red_packet": 1_000_000_00}}, {5: 1})
    picture(activity_chart(activity, "zh", fonts=("/nonexistent.ttf",)))


def test_many_kinds_keep_the_largest_and_gather_the_rest_as_other():
    kinds = ["topup", "transfer", "tip", "red_packet", "redpacket_grab", "withdraw", "refund"]
    activity = days({0: {kind: (10 - i) * 100 for i, kind in enumerate(kinds)}})
    series = _series("en", activity)
    assert len(series) == MAX_KINDS
    assert series[-1][0] == "Other" and series[-1][1] == {"withdraw", "refund"}
    assert series[0][1] == {"topup"}


def test_kinds_of_one_label_are_one_series():
    activity = days({0: {"unknown_a": 3, "unknown_b": 4}})  # both read "Other"
    assert _series("en", activity) == [("Other", {"unknown_a", "unknown_b"})]
