"""Messages that show a secret leave the chat at their time, also after a restart.

A message to delete later (the 2FA setup QR code, a full card number shown to an admin)
is written down (``FollowUpStore`` of ``bot.domain.followups``) and given a job; at
start-up the ones written down are given their jobs again, the overdue ones run at once.
Deleting a message that is gone already (its owner deleted it) is no error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.domain.followups import PendingDeletion
from bot.handlers.context import WALLET_KEY

__all__ = ["delete_later", "delete_now", "on_restore", "schedule"]

_RESTORED = "deletions.restored"  # bot_data: purpose -> what to do with each one taken back
Restored = Callable[[Application, PendingDeletion], Awaitable[None]]


def _job_name(chat_id: int, message_id: int) -> str:
    return f"delete.{chat_id}.{message_id}"


def _store(application: Application):
    return application.bot_data[WALLET_KEY].store.followups


async def delete_later(
    application: Application,
    chat_id: int,
    message_id: int,
    after_s: float,
    purpose: str,
    owner_id: int | None = None,
) -> PendingDeletion:
    """Delete the message ``after_s`` seconds from now (written down first)."""
    now_ms = application.bot_data[WALLET_KEY].store.now_ms()
    due = PendingDeletion(chat_id, message_id, now_ms + int(after_s * 1000), purpose, owner_id)
    await _store(application).delete_later(due)
    _schedule_one(application, due, after_s)
    return due


def _schedule_one(application: Application, due: PendingDeletion, after_s: float) -> None:
    name = _job_name(due.chat_id, due.message_id)
    for job in application.job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    application.job_queue.run_once(
        _due, when=max(after_s, 0.0), data=(due.chat_id, due.message_id), name=name
    )


async def delete_now(application: Application, chat_id: int, message_id: int) -> None:
    """Delete the message at once, unless its time came already (its job is dropped)."""
    jobs = application.job_queue.get_jobs_by_name(_job_name(chat_id, message_id))
    for job in jobs:
        job.schedule_removal()
    if jobs:
        await _delete(application, chat_id, message_id)


async def _delete(application: Application, chat_id: int, message_id: int) -> None:
    try:
        await application.bot.delete_message(chat_id, message_id)
    except TelegramError:  # already deleted by its owner, or too old to delete
        pass
    await _store(application).deleted(chat_id, message_id)


async def _due(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message's time is up: delete it."""
    await _delete(context.application, *context.job.data)


def on_restore(application: Application, purpose: str, restored: Restored) -> None:
    """At start-up, call ``restored`` with each pending deletion of ``purpose`` taken
    back (before its job is given again): a feature rebuilds what it kept in memory."""
    application.bot_data.setdefault(_RESTORED, {})[purpose] = restored


async def _restore(context: ContextTypes.DEFAULT_TYPE) -> None:
    """At start-up: give every message still to delete its job again. (With several
    processes a message may be deleted by two: the second delete finds it gone and
    says nothing, and ``deleted`` is an idempotent delete of its row; no lease.)"""
    application = context.application
    wallet = application.bot_data[WALLET_KEY]
    hooks = application.bot_data.get(_RESTORED, {})
    now_ms = wallet.store.now_ms()
    for due in await wallet.store.followups.pending_deletions():
        hook = hooks.get(due.purpose)
        if hook is not None and due.delete_at > now_ms:
            await hook(application, due)
        _schedule_one(application, due, (due.delete_at - now_ms) / 1000)


def schedule(application: Application) -> None:
    """Take back the pending deletions once the application starts."""
    application.job_queue.run_once(_restore, when=0, name="deletions.restore")
