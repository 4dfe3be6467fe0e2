"""Copies of one notice sent to several admins, as their chats show them.

A held payment's notice (Approve / Reject) and a support ticket's (Reply / Close) go to
every admin. :func:`tell_admin` sends one admin their copy and remembers it
(``bot.wallet.admin_copies``: in the database, so any process, after a restart too,
finds it). Once one admin has acted, :func:`settle_later` edits every copy but the one
acted on (the other admins', the acting admin's others), in its admin's language, to
what it said plus what became of it, with no buttons, and forgets the subject's copies
as it takes them (so a copy is edited once): beside the acting admin's answer, which
does not wait on it. A copy that can no longer be edited (deleted, too old, saying so
already) is passed over: what it was about is settled whatever it shows.

Copies go out one admin after another through the send queue, so under a burst an admin
may act before the last copies are sent: :func:`tell_admin` asks the caller's
``settled`` whether that happened once its copy is sent and kept, and if so takes that
copy and edits it, unless the settling took it first (and edits it). The action is
committed before anyone settles, and the copy kept before ``settled`` reads, so every
copy is taken, and brought up to date, by exactly one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.domain.admin_copies import AdminCopy
from bot.domain.errors import StorageError
from bot.handlers.context import WALLET_KEY
from bot.handlers.outbox import Told, tell_message

__all__ = ["ELSEWHERE", "Outcome", "Settled", "settle", "settle_later", "tell_admin"]

log = logging.getLogger(__name__)

Outcome = Callable[[str], str]  # what became of the subject, as a line in a language
# whether an admin has acted on the subject already: who did, and what became of it
Settled = Callable[[], Awaitable[tuple[int, Outcome] | None]]
# ``acted_on`` when the admin acted on a message that is no copy (a 2FA code's keypad,
# which shows the outcome): their copies are brought up to date too (no message is 0)
ELSEWHERE = 0


async def tell_admin(
    application: Application,
    subject: str,
    admin_id: int,
    text: str,
    *,
    about: str,
    reply_markup: InlineKeyboardMarkup,
    settled: Settled | None = None,
) -> Told:
    """Send ``admin_id`` their copy of a notice about ``subject`` (as
    :func:`~bot.handlers.outbox.tell` does) and remember it; a copy sent after another
    admin acted (``settled`` says who and what became of it) says so at once, without
    buttons."""
    told, sent = await tell_message(
        application.bot, admin_id, text, about=about, reply_markup=reply_markup
    )
    copies = application.bot_data[WALLET_KEY].copies
    if sent is None or copies is None:
        return told
    copy = AdminCopy(subject, admin_id, sent.message_id, text)
    try:
        await copies.keep(subject, admin_id, sent.message_id, text)
        done = await settled() if settled is not None else None
        # acted on while the copies went out: this one is stale already, and is this
        # caller's to edit unless the settling took it meanwhile (then it edits it)
        mine = done is not None and await copies.settle_late(copy)
        language = await _language(application, copy) if mine else ""
    except StorageError:  # the notice went all the same; its buttons answer a tap
        log.warning("could not remember admin %s's copy of %s", admin_id, subject)
        return told
    if mine:
        await _edit(application, copy, f"{text}\n{done[1](language)}")
    return told


def settle_later(
    application: Application,
    subject: str,
    acted_by: int,
    outcome: Outcome,
    *,
    acted_on: int,
) -> None:
    """:func:`settle` in a task of its own, so the caller's answer does not wait on it."""
    application.create_task(
        settle(application, subject, acted_by, outcome, acted_on=acted_on),
        name=f"admin_copies.settle {subject}",
    )


async def settle(
    application: Application,
    subject: str,
    acted_by: int,
    outcome: Outcome,
    *,
    acted_on: int,
) -> None:
    """Take the copies of ``subject`` (forget them) and edit each to its text and the
    ``outcome`` line, in its admin's language, without buttons: all but the message
    ``acted_on`` in the chat of ``acted_by`` (who acted there, and whose answer shows the
    outcome; ``ELSEWHERE``: on no copy). A copy sent late, kept after this took the
    rest, is brought up to date by :func:`tell_admin`."""
    wallet = application.bot_data[WALLET_KEY]
    if wallet.copies is None:
        return
    try:
        for copy in await wallet.copies.settle(subject):
            if (copy.admin_id, copy.message_id) == (acted_by, acted_on):
                continue
            language = await _language(application, copy)
            await _edit(application, copy, f"{copy.text}\n{outcome(language)}")
    except StorageError:  # the decision stands; the other copies' buttons answer a tap
        log.warning("could not bring the other admins' copies of %s up to date", subject)


async def _language(application: Application, copy: AdminCopy) -> str:
    admin = await application.bot_data[WALLET_KEY].users.get(copy.admin_id)
    return admin.effective_language if admin is not None else "en"


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
