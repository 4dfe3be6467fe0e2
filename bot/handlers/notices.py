"""The sender of notices (``bot.wallet.notices``): one task per process, all processes
sharing the work by claims, each notice sent once.

A feature says how a kind of notice reads (:func:`renders`), in the language given;
the text is made when the notice is sent, in the person's language then, and sent
through :func:`~bot.handlers.outbox.tell` (so within the bot's send limits). A 403
closes the notice ``blocked``: not an error. The sender starts with the application
(and is restarted by a job every ``CHECK_EVERY_S`` if it ever ended), sends what a
stopped process left at once, then what is added in this process as soon as it is
added, and looks for what other processes added every ``POLL_S``. Stopping ends it
between notices: what it claimed is sent and recorded, the rest waits for the next start.

When a person opens the private chat (``/start``, the first time or after blocking the
bot), :func:`catch_up` sends after the welcome what could not reach them then (notices
closed ``blocked`` in the last 30 days, each once): registered in a group after the
feature handlers, so it runs once the welcome (or a link's answer) was sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.domain.errors import StorageError
from bot.domain.notices import UNREACHED, Notice, NoticeState
from bot.handlers.context import WALLET_KEY, Wallet, WalletContext
from bot.handlers.outbox import Told, tell
from bot.i18n import translate
from bot.render.labels import short_time

__all__ = ["catch_up", "deliver", "handlers", "launch", "renders", "schedule", "send_one", "stop"]

log = logging.getLogger(__name__)

POLL_S = 5.0  # how often the sender looks for notices other processes added
CHECK_EVERY_S = 30  # how often the sender is started again if it ended
STOP_TIMEOUT_S = 10.0
_RUNNING = "notices.sender"  # bot_data: (the sender's task, its stop signal)
_ANSWERS = {Told.SENT: NoticeState.SENT, Told.BLOCKED: NoticeState.BLOCKED}

Render = Callable[[Wallet, str, dict], Awaitable[str]]
_RENDERERS: dict[str, Render] = {}


def renders(kind: str) -> Callable[[Render], Render]:
    """Register how notices of ``kind`` read: ``await render(wallet, language, params)``."""

    def register(render: Render) -> Render:
        _RENDERERS[kind] = render
        return render

    return register


def deliver(application: Application) -> Callable[[Notice], Awaitable[NoticeState]]:
    """Send one notice in its person's language now; what became of it."""
    wallet = application.bot_data[WALLET_KEY]

    async def send(notice: Notice) -> NoticeState:
        render = _RENDERERS.get(notice.kind)
        if render is None:
            log.error("notice %s: no text for its kind %r", notice.key, notice.kind)
            return NoticeState.FAILED
        person = await wallet.users.get(notice.telegram_id)
        language = person.effective_language if person else wallet.users.default_language
        text = await render(wallet, language, notice.params)
        told = await tell(application.bot, notice.telegram_id, text, about=notice.key, keep=False)
        return _ANSWERS.get(told, NoticeState.FAILED)

    return send


@renders(UNREACHED)
async def unreached_notice(wallet: Wallet, language: str, params: dict) -> str:
    """A message refused then: its text, as it was made for the person, under the time
    it was meant for them (what it quotes, a balance say, was true then, not now)."""
    if "at" not in params:  # kept before the time was
        return params["text"]
    when = translate(language, "notices.caught_up", at=short_time(params["at"]))
    return f"{when}\n{params['text']}"


async def catch_up(update: Update, context: WalletContext) -> None:
    """Send what could not reach the person before they opened the chat, after the welcome."""
    notices = context.wallet.notices
    if notices is not None and update.effective_user is not None:
        await notices.redeliver(update.effective_user.id, deliver(context.application))


def handlers() -> list:
    """``/start`` in a private chat, for a group after the feature handlers'."""
    only = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    return [CommandHandler("start", catch_up, filters=only)]


async def send_one(application: Application, key: str) -> Told | None:
    """Send the notice of ``key`` now (unless another sender has it, or it was sent):
    what became of it, as :func:`tell` says it."""
    wallet = application.bot_data[WALLET_KEY]
    state = await wallet.notices.send_one(key, deliver(application))
    told = {NoticeState.SENT: Told.SENT, NoticeState.BLOCKED: Told.BLOCKED}
    return None if state is None else told.get(state, Told.FAILED)


def launch(application: Application) -> None:
    """Start this process's sender, unless it runs."""
    running = application.bot_data.get(_RUNNING)
    wallet = application.bot_data.get(WALLET_KEY)
    if (running is not None and not running[0].done()) or wallet is None:
        return
    stopping = asyncio.Event()
    task = asyncio.get_running_loop().create_task(
        _serve(application, wallet, stopping), name="notices.sender"
    )
    application.bot_data[_RUNNING] = (task, stopping)


async def _serve(application: Application, wallet: Wallet, stopping: asyncio.Event) -> None:
    send = deliver(application)
    while not stopping.is_set():
        try:
            await wallet.notices.run(send, stopping)
        except StorageError as refused:  # a full disk, a read-only file: one line a try,
            log.warning("notices not sent now: %s", refused)  # the store logged its cause
        except Exception:
            log.warning("notices not sent now", exc_info=True)
        if not stopping.is_set():
            await wallet.notices.wait(POLL_S)


async def _check(context: WalletContext) -> None:
    launch(context.application)


def schedule(application: Application) -> None:
    application.job_queue.run_repeating(
        _check, interval=CHECK_EVERY_S, first=0.2, name="notices.sender"
    )


async def stop(application: Application, timeout: float = STOP_TIMEOUT_S) -> None:  # noqa: ASYNC109
    """End the sender between notices (what it claimed is sent and recorded first)."""
    running = application.bot_data.pop(_RUNNING, None)
    if running is None:
        return
    task, stopping = running
    stopping.set()
    wallet = application.bot_data.get(WALLET_KEY)
    if wallet is not None:
        wallet.notices.wake()
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
