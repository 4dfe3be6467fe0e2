"""Copies of one notice sent to several admins, as their chats show them.

A held payment's notice (Approve / Reject) and a support ticket's (Reply / Close) go to
every admin. :func:`tell_admin` sends one admin their copy and remembers it
(``bot.wallet.admin_copies``: in the database, so any process, after a restart too,
finds it). Once one admin has acted, :func:`settle_later` edits every other admin's
copy, in that admin's language, to what it said plus what became of it, with no
buttons, and forgets the subject's copies: beside the acting admin's answer, which does
not wait on it. A copy that can no longer be edited (deleted, too old, saying so
already) is passed over: what it was about is settled whatever it shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.domain.admin_copies import AdminCopy
from bot.domain.errors import StorageError
from bot.handlers.context import WALLET_KEY
from bot.handlers.outbox import Told, tell_message

__all__ = ["Outcome", "settle", "settle_later", "tell_admin"]

log = logging.getLogger(__name__)

Outcome = Callable[[str], str]  # what became of the subject, as a line in a language


async def tell_admin(
    application: Application,
    subject: str,
    admin_id: int,
    text: str,
    *,
    about: str,
    reply_markup: InlineKeyboardMarkup,
) -> Told:
    """Send ``admin_id`` their copy of a notice about ``subject`` (as
    :func:`~bot.handlers.outbox.tell` does) and remember it."""
    told, sent = await tell_message(
        application.bot, admin_id, text, about=about, reply_markup=reply_markup
    )
    copies = application.bot_data[WALLET_KEY].copies
    if sent is not None and copies is not None:
        try:
            await copies.keep(subject, admin_id, sent.message_id, text)
        except StorageError:  # the notice went all the same; its buttons answer a tap
            log.warning("could not remember admin %s's copy of %s", admin_id, subject)
    return told


def settle_later(application: Application, subject: str, acted_by: int, outcome: Outcome) -> None:
    """:func:`settle` in a task of its own, so the caller's answer does not wait on it."""
    application.create_task(
        settle(application, subject, acted_by, outcome), name=f"admin_copies.settle {subject}"
    )


async def settle(application: Application, subject: str, acted_by: int, outcome: Outcome) -> None:
    """Edit every copy of ``subject`` but those of ``acted_by`` (who acted, and has their
    answer) to its text and the ``outcome`` line, in its admin's language, without
    buttons; then forget the subject's copies."""
    wallet = application.bot_data[WALLET_KEY]
    if wallet.copies is None:
        return
    try:
        for copy in await wallet.copies.others(subject, acted_by):
            admin = await wallet.users.get(copy.admin_id)
            language = admin.effective_language if admin is not None else "en"
            await _edit(application, copy, f"{copy.text}\n{outcome(language)}")
        await wallet.copies.forget(subject)
    except StorageError:  # the decision stands; the other copies' buttons answer a tap
        log.warning("could not bring the other admins' copies of %s up to date", subject)


async def _edit(application: Application, copy: AdminCopy, text: str) -> None:
    try:
        await application.bot.edit_message_text(
            text, chat_id=copy.admin_id, message_id=copy.message_id
        )
    except (BadRequest, Forbidden) as gone:  # deleted, too old, not modified; blocked
        log.debug("admin %s's copy of %s is left as it is: %s", copy.admin_id, copy.subject, gone)
    except TelegramError:
        log.warning(
            "could not edit admin %s's copy of %s", copy.admin_id, copy.subject, exc_info=True
        )
