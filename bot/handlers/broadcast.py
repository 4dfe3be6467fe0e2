"""/broadcast <text>: an admin's message to everyone who opened the bot's private chat.

The admin is asked first how many people it would reach (Confirm / Cancel); an admin
with 2FA then enters a code. The broadcast is written down with its recipients before
anything is sent (:mod:`bot.wallet.broadcasts`), sent as plain text exactly as written
through :func:`~bot.handlers.outbox.tell` (so within the bot's send limits: about 30
messages a second overall), and one progress message to the admin is edited every few
seconds: sent / blocked / failed / total. A broadcast the last process did not finish
is continued at start-up (and by a job every minute), never repeating a send. Whoever
blocks the bot (a 403, or Telegram's ``my_chat_member``) is left out of later broadcasts
until they unblock it.
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import ChatMember, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ChatMemberHandler

from bot.domain.broadcasts import Broadcast, RecipientState
from bot.domain.errors import WalletError
from bot.handlers.cards import AdminCard, card_buttons, card_pattern, press_admin_card
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    admin_only,
    command,
    error_text,
    is_private,
    private_link,
)
from bot.handlers.leases import lease
from bot.handlers.outbox import Told, reply, tell
from bot.i18n import translate, translate_plural
from bot.wallet.broadcasts import CONFIRMATION, check_text

__all__ = ["BROADCAST_TAP", "begun_text", "handlers", "resume", "schedule", "stop"]

log = logging.getLogger(__name__)

BROADCAST = "bc:"  # bc:<action id>:y|n
BROADCAST_TAP = card_pattern(BROADCAST)
PURPOSE = "broadcast_draft"  # the pending action behind Confirm / Cancel
RESUME_EVERY_S = 60
LEASE_S = 60  # a run's lease, renewed while it sends; a process that dies frees it then
STOP_TIMEOUT_S = 10.0
_RUNNING = "broadcasts.running"  # bot_data: broadcast id -> (its task, its stop signal)
_SEPARATOR = re.compile(r"[^\S\n]*\n?")  # what parts the command from its text
_TOLD = {Told.SENT: RecipientState.SENT, Told.BLOCKED: RecipientState.BLOCKED}


def text_of(message_text: str) -> str:
    """What follows the command, exactly as written (newlines and spacing kept)."""
    rest = message_text.split(maxsplit=1)
    if len(rest) < 2:
        return ""
    after = message_text[message_text.index(rest[0]) + len(rest[0]) :]
    return after[_SEPARATOR.match(after).end() :]


def progress_text(language: str, broadcast: Broadcast) -> str:
    return translate(
        language,
        "broadcast.finished" if broadcast.finished else "broadcast.progress",
        id=broadcast.id,
        sent=broadcast.sent,
        blocked=broadcast.blocked,
        failed=broadcast.failed,
        done=broadcast.done,
        total=broadcast.total,
    )


@admin_only
async def broadcast(update: Update, context: WalletContext, user, language) -> None:
    """Ask an admin to confirm how many people a broadcast would reach."""
    wallet = context.wallet
    if not is_private(update):
        link = private_link(context)
        await reply(update, context, translate(language, "broadcast.private_only", link=link))
        return
    try:
        text = check_text(text_of(update.effective_message.text or ""))
        count = await wallet.broadcasts.audience()
        if count == 0:
            await reply(update, context, translate(language, "broadcast_nobody"))
            return
        action = await wallet.actions.create(user.telegram_id, PURPOSE, {"text": text})
    except WalletError as refused:
        usage = translate(language, "broadcast.usage")
        await reply(update, context, error_text(language, refused) + "\n" + usage)
        return
    markup = card_buttons(
        BROADCAST,
        action.id,
        translate(language, "broadcast.confirm_button"),
        translate(language, "broadcast.cancel_button"),
    )
    await reply(
        update,
        context,
        translate(
            language,
            "broadcast.ask",
            count=count,
            length=translate_plural(language, "broadcast.length", len(text)),
        )
        + "\n\n"
        + preview(text),
        reply_markup=markup,
    )


PREVIEW_CHARS = 600  # of the message, on the card that asks to send it


def preview(text: str) -> str:
    """The message to be sent, as the card shows it: whole, or its start when long."""
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rstrip() + "…"


async def _begin(context: WalletContext, language: str, user, action) -> str:
    begun = await context.wallet.broadcasts.begin(
        action.id, user.telegram_id, action.payload["text"]
    )
    return await begun_text(context, language, begun)


_CARD = AdminCard(PURPOSE, "broadcast.cancelled", lambda action: CONFIRMATION, _begin)


@admin_only
async def broadcast_press(update: Update, context: WalletContext, user, language) -> None:
    """Begin the broadcast (after a 2FA code, for an admin who has it) or drop it."""
    await press_admin_card(update, context, user, language, _CARD)


async def begun_text(context: WalletContext, language: str, begun: Broadcast) -> str:
    """The admin's answer once a broadcast is begun; its sending starts now (also the
    keypad's outcome for an admin who entered a 2FA code first)."""
    launch(context.application, begun.id)
    return translate_plural(
        language, "broadcast.begun", begun.total, id=begun.id, total=begun.total
    )


def _running(application: Application) -> dict[int, tuple[asyncio.Task, asyncio.Event]]:
    return application.bot_data.setdefault(_RUNNING, {})


def launch(application: Application, broadcast_id: int, resumed: bool = False) -> None:
    """Send the broadcast in the background, unless it is being sent already (``resumed``:
    a run that stopped before, whose unanswered claims are sent once more)."""
    running = _running(application)
    if broadcast_id in running:
        return
    stopping = asyncio.Event()
    sending = _send(application, broadcast_id, stopping, resumed)
    task = asyncio.get_running_loop().create_task(sending)
    running[broadcast_id] = (task, stopping)
    task.add_done_callback(lambda _: running.pop(broadcast_id, None))


async def _send(
    application: Application, broadcast_id: int, stopping: asyncio.Event, resumed: bool
) -> None:
    """One run of the broadcast, in one process at a time (its lease, ``leases.py``: a
    run in another process goes on there, and this one ends at once)."""
    wallet = application.bot_data[WALLET_KEY]
    try:
        async with lease(wallet, f"broadcast.{broadcast_id}", LEASE_S, keep=True) as held:
            if held:
                await _run(application, wallet, broadcast_id, stopping, resumed)
    except Exception:
        log.error("broadcast %s stopped by an error", broadcast_id, exc_info=True)


async def _run(
    application: Application, wallet, broadcast_id: int, stopping: asyncio.Event, resumed: bool
) -> None:
    bot = application.bot

    async def deliver(telegram_id: int, text: str) -> RecipientState:
        # a broadcast keeps its own recipients' states: not sent again when a chat opens
        told = await tell(bot, telegram_id, text, about=f"broadcast {broadcast_id}", keep=False)
        return _TOLD.get(told, RecipientState.FAILED)

    async def report(broadcast: Broadcast) -> None:
        try:
            await _report(application, broadcast)
        except Exception:  # the progress is a courtesy: the broadcast goes on
            log.warning("broadcast %s: progress not shown", broadcast_id, exc_info=True)

    if resumed:  # no other run is under way: this process holds the lease
        await wallet.broadcasts.reopen_stale_claims(broadcast_id)
    await wallet.broadcasts.run(broadcast_id, deliver, report, stopping)


async def _report(application: Application, broadcast: Broadcast) -> None:
    """Show the admin how far the broadcast got: one message, edited."""
    wallet = application.bot_data[WALLET_KEY]
    admin = await wallet.users.get(broadcast.admin_id)
    language = admin.effective_language if admin is not None else "en"
    text = progress_text(language, broadcast)
    if broadcast.progress_message_id is None:
        sent = await application.bot.send_message(broadcast.admin_id, text)
        await wallet.broadcasts.set_progress_message(broadcast.id, sent.chat_id, sent.message_id)
        return
    try:
        await application.bot.edit_message_text(
            text, chat_id=broadcast.progress_chat_id, message_id=broadcast.progress_message_id
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def resume(application: Application) -> None:
    """Continue every broadcast not finished and not being sent by this process."""
    wallet = application.bot_data.get(WALLET_KEY)
    if wallet is None or wallet.broadcasts is None:
        return
    running = _running(application)
    for unfinished in await wallet.broadcasts.unfinished():
        if unfinished.id in running:
            continue
        launch(application, unfinished.id, resumed=True)


async def _resume_job(context: WalletContext) -> None:
    """At start-up and every minute: continue the broadcasts a stopped process left."""
    try:
        await resume(context.application)
    except (WalletError, TelegramError):
        log.warning("unfinished broadcasts not resumed now", exc_info=True)


def schedule(application: Application) -> None:
    application.job_queue.run_repeating(
        _resume_job, interval=RESUME_EVERY_S, first=0.5, name="broadcasts.resume"
    )


async def stop(application: Application, timeout: float = STOP_TIMEOUT_S) -> None:  # noqa: ASYNC109
    """Stop sending between batches: what was claimed is sent and recorded, the rest is
    left pending for the next start."""
    running = list(_running(application).values())
    for _, stopping in running:
        stopping.set()
    tasks = [task for task, _ in running]
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=1.0)


async def chat_member(update: Update, context: WalletContext) -> None:
    """Note that a person blocked the bot (no more broadcasts) or unblocked it."""
    change = update.my_chat_member
    if change is None or not is_private(update) or context.wallet.broadcasts is None:
        return
    status = change.new_chat_member.status
    if status not in (ChatMember.BANNED, ChatMember.MEMBER):
        return
    try:
        await context.wallet.broadcasts.set_reachable(change.chat.id, status == ChatMember.MEMBER)
    except WalletError:
        log.warning("could not note that %s (un)blocked the bot", change.chat.id, exc_info=True)


def handlers() -> list:
    return [
        command("broadcast", broadcast),
        CallbackQueryHandler(broadcast_press, pattern=BROADCAST_TAP),
        ChatMemberHandler(chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
