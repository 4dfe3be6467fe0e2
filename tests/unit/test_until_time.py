"""When something ends, as a person is told it: Beijing time, rounded up to the minute, so
"try again after 18:31" is never before the lock ends; the date only when not today."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.security_errors import PinLocked
from bot.handlers.context import error_text
from bot.render.labels import until_time

BEIJING = ZoneInfo("Asia/Shanghai")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=BEIJING).timestamp() * 1000)


def test_a_moment_within_a_minute_shows_the_next_minute():
    now = ms("2026-12-05 18:20:00")
    assert until_time(ms("2026-12-05 18:30:00.001"), now) == "18:31"
    assert until_time(ms("2026-12-05 18:30:59"), now) == "18:31"


def test_a_whole_minute_is_shown_as_it_is():
    assert until_time(ms("2026-12-05 18:31:00"), ms("2026-12-05 18:20:00")) == "18:31"


def test_another_day_is_shown_with_its_date():
    assert until_time(ms("2026-12-06 09:00:01"), ms("2026-12-05 18:20:00")) == "2026-12-06 09:01"
    # rounding up past midnight makes it tomorrow's
    assert until_time(ms("2026-12-05 23:59:30"), ms("2026-12-05 23:55:00")) == "2026-12-06 00:00"


def test_the_locked_pin_message_says_when_in_both_languages():
    until = int(time.time() * 1000) + 60_500  # a lock of a minute from now
    locked = PinLocked(locked_until_ms=until, retry_after_s=61)
    shown = until_time(until, until - 60_500)
    assert f"try again after {shown} (Beijing time). Forgot it?" in error_text("en", locked)
    assert f"请在 {shown}（北京时间）后再试。忘记了？" in error_text("zh", locked)
