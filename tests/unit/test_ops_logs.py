"""Log lines are masked, JSON when asked, and the chatty libraries quieted."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from telegram.error import RetryAfter

from bot.config import Settings
from bot.handlers.send_limits import SendLimiter
from bot.ops.logs import JsonFormatter, Redactor, configure_logging
from bot.ops.metrics import Metrics

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


def test_secrets_are_masked_and_ordinary_numbers_are_not():
    redact = Redactor(["pp:TEST:provider-secret"])
    line = redact(
        f"token {TOKEN} card 4111 1111 1111 1111 id 11010519491231002x"
        " totp JBSWY3DPEHPK3PXPJBSWY3DP provider pp:TEST:provider-secret"
        " user 100004 transfer 12345 amount 1250 at 2026-12-03"
    )
    assert "4111" not in line and "1101051949" not in line and "JBSWY3DP" not in line
    assert TOKEN not in line and "provider-secret" not in line
    assert line.count("<card>") == 1 and "<id-number>" in line and "<token>" in line
    assert "user 100004 transfer 12345 amount 1250 at 2026-12-03" in line


def test_a_long_number_that_is_no_card_stays():
    assert Redactor()("order 4111111111111112") == "order 4111111111111112"  # fails Luhn


def test_json_lines_carry_the_fields_and_mask_the_exception():
    formatter = JsonFormatter(Redactor())
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    record.fields = {"update": "message", "ms": 1.5}
    entry = json.loads(formatter.format(record))
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "x", "failed")
    assert (entry["update"], entry["ms"]) == ("message", 1.5)
    assert "<card>" in entry["exception"] and "4111111111111111" not in entry["exception"]


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    names = ("apscheduler", "telegram", "aiosqlite", "httpx")
    kept = root.level, {n: logging.getLogger(n).level for n in names}
    handlers: list[logging.Handler] = []
    yield handlers
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(kept[0])
    for name, level in kept[1].items():
        logging.getLogger(name).setLevel(level)


def test_the_scheduler_is_quiet_and_the_bot_library_never_logs_debug(tmp_path, restored_logging):
    stream = io.StringIO()
    settings = Settings(telegram_bot_token=TOKEN, log_file=tmp_path / "bot.log")
    restored_logging += configure_logging(settings, level="DEBUG", stream=stream)
    logging.getLogger("apscheduler.executors.default").info('Running job "x"')
    logging.getLogger("telegram.ext.Updater").debug("update {'text': '/bindcard'}")
    logging.getLogger("bot.test").debug("calling with %s", TOKEN)
    for handler in restored_logging:
        handler.flush()
    for text in (stream.getvalue(), (tmp_path / "bot.log").read_text()):
        assert "Running job" not in text and "/bindcard" not in text
        assert "calling with <secret>" in text


async def test_each_429_is_counted():
    metrics = Metrics()
    limiter = SendLimiter(max_retries=1)
    limiter.on_retry_after = metrics.count_429
    calls = []

    async def send_message(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RetryAfter(timedelta(0))
        return True

    assert await limiter.process_request(send_message, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert len(calls) == 2
    assert metrics.registry.get_sample_value(
        "wallet_telegram_429_total", {"method": "sendMessage"}
    ) == 1
