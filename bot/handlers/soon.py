"""What a handler hands on so that the person it answers does not wait for it.

Telling someone else (the recipient of a transfer, a shop of a payment, the admins of a
held payment) is a message that waits its turn in the send queue; awaited by the
handler, it would hold up the answer of the person who paid by as much, seconds in a
crowd. :func:`soon` runs it in a task of its own while the application runs, and
:func:`finish` (at a stop, before the wallet closes) waits for those still going (for
a while: a stop does not hang), so nothing handed on is lost. An error there is logged;
the money moved all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from telegram.ext import Application

__all__ = ["finish", "soon"]

log = logging.getLogger(__name__)

_KEY = "handlers.soon"  # bot_data: the tasks still going
FINISH_TIMEOUT_S = 10.0  # at a stop: then the rest is given up (a 429 storm, say)


async def soon(application: Application, work: Coroutine[Any, Any, Any], *, what: str) -> None:
    """Run ``work`` (``what`` names it in the log) in a task of its own; inline when the
    application is not running (stopping: nothing would wait for the task)."""
    if not application.running:
        await _logged(work, what)
        return
    going: set[asyncio.Task] = application.bot_data.setdefault(_KEY, set())
    task = asyncio.get_running_loop().create_task(_logged(work, what), name=what)
    going.add(task)
    task.add_done_callback(going.discard)


async def finish(application: Application, grace: float = FINISH_TIMEOUT_S) -> None:
    """Wait for what :func:`soon` still runs, ``grace`` seconds at most (a stop must not
    hang on a send queue Telegram holds back)."""
    going = application.bot_data.get(_KEY)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while going:
        left = deadline - loop.time()
        if left <= 0:
            log.warning("stopping with notices still being sent: %d", len(going))
            return
        await asyncio.wait(list(going), timeout=left)


async def _logged(work: Coroutine[Any, Any, Any], what: str) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed", what)
