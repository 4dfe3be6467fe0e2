"""Support tickets and disputes: /support, /dispute, and the admins' /tickets and /reply.

A person opens a ticket with ``/support <text>`` (or the menu's Support button or a bare
``/support``, which ask for the text); the admins are told, each with Reply / Close
buttons. A dispute is a ticket about one transfer, opened from that transfer's detail
view (``/history <id>``, its Dispute button) or with ``/dispute <transfer id> [what went
wrong]``.

**Threads are continued by replying.** Every message the bot sends about a ticket starts
with ``🎫 #<number>``. A person continues their ticket by replying (Telegram's Reply) to
any such message in their private chat — the opening confirmation or an admin's answer;
a plain message that replies to nothing is not taken as part of a ticket, so it can never
land in the wrong thread or swallow another feature's step. An admin answers with
``/reply <ticket> <text>``, by replying to the ticket's message, or by tapping Reply and
sending the answer as their next message (the question stays open 10 minutes in this
process; a command instead ends it). Close closes the ticket and tells the person; the
other admins' copies of the ticket's messages, and the closing admin's other notices of
it (what the person added), lose their buttons and say who closed it.
A photo (a screenshot) is taken wherever a text is: the thread keeps its caption after
📷, and the photo itself goes to the admins (or, an admin's answer, to the person).

Answering and closing are recorded in the security log. They move no money, so they
ask no 2FA code. A dispute of a transfer that can be refunded (a payment between people
or to a merchant, with money left to give back; not a top-up) also has Refund: it shows
the refund feature's own confirmation card for the disputed transfer (``/refund <id>``,
with its 2FA step). A Refund press the transfer no longer allows is answered with why.
"""

from __future__ import annotations

import logging
import re
from contextlib import suppress

from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.domain.admin_copies import ticket_subject
from bot.domain.errors import SupportTextInvalid, TicketClosed, WalletError
from bot.domain.refunds import RefundCommand
from bot.domain.support import Ticket, TicketState
from bot.handlers import refund
from bot.handlers.admin_copies import Outcome, Settled, settle_later, tell_admin
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    admin_only,
    button_pattern,
    command,
    current_user,
    error_text,
    is_admin,
    is_private,
    language_of,
    private_link,
    private_user,
    refusal_text,
)
from bot.handlers.outbox import Told, reply, tell
from bot.handlers.questions import Questions
from bot.handlers.start import MENU_SUPPORT
from bot.i18n import LANGUAGES, translate
from bot.render.labels import entry_amount, kind_label
from bot.wallet.support import parse_ticket_id

__all__ = ["DISPUTE_TAP", "TICKET_TAP", "dispute_markup", "handlers"]

log = logging.getLogger(__name__)

TICKET = "tk:"  # tk:<ticket id>:r|c|f
ANSWER, CLOSE, REFUND = "r", "c", "f"
TICKET_TAP = button_pattern(TICKET, "[0-9]{1,18}", f"[{ANSWER}{CLOSE}{REFUND}]")
DISPUTE = "dsp:"  # dsp:<transfer id>
DISPUTE_TAP = button_pattern(DISPUTE, "[0-9]{1,19}")
MARK = re.compile(r"\A🎫 #([0-9]{1,18})")  # how every message about a ticket starts
PROMPT_TTL_S = 600
SHOWN = 20  # open tickets listed at once, oldest first


# --- texts ---------------------------------------------------------------------------


def _attached_lines(language: str, ticket: Ticket) -> str:
    if not ticket.attached:
        return translate(language, "support.no_transfers")
    lines = [translate(language, "support.recent")]
    for item in ticket.attached:
        line = translate(
            language,
            "support.transfer_line",
            id=item.transfer_id,
            amount=entry_amount(language, item.state, item.amount),
            kind=kind_label(language, item.kind),
        )
        if item.other:
            line += translate(language, "support.transfer_with", name=item.other)
        lines.append(line)
    return "\n".join(lines)


def age_text(language: str, ms: int) -> str:
    minutes = max(ms, 0) // 60_000
    if minutes < 1:
        return translate(language, "support.age_moment")
    if minutes < 60:
        return translate(language, "support.age_minutes", n=minutes)
    if minutes < 48 * 60:
        return translate(language, "support.age_hours", h=minutes // 60, m=minutes % 60)
    return translate(language, "support.age_days", d=minutes // (24 * 60))


# what disputes opened without a reason stored before it was worded for any reader
_EARLIER_NO_REASON = frozenset({"Disputed from the history.", "从账单中提出的争议。"})


def _no_reason() -> frozenset[str]:
    said = (translate(language, "support.dispute_default") for language in LANGUAGES)
    return frozenset(said) | _EARLIER_NO_REASON


def ticket_text(language: str, ticket: Ticket, who: str, age_ms: int | None = None) -> str:
    """A ticket as an admin sees it: who, what about, the text, the attached transfers
    (a dispute opened with no reason says so in the admin's language, not the payer's)."""
    key = "support.admin_dispute" if ticket.is_dispute else "support.admin_ticket"
    said = ticket.text
    if ticket.is_dispute and said in _no_reason():
        said = translate(language, "support.dispute_default")
    text = translate(
        language,
        key,
        id=ticket.id,
        who=who,
        person_id=ticket.telegram_id,
        transfer_id=ticket.transfer_id,
        text=said,
    )
    if age_ms is not None:
        text += "\n" + translate(language, "support.opened_ago", age=age_text(language, age_ms))
    return text + "\n" + _attached_lines(language, ticket)


async def refundable(wallet, ticket: Ticket) -> bool:
    """Whether the ticket is a dispute of a transfer the refunds could give back now."""
    if not ticket.is_dispute or wallet.refunds is None:
        return False
    return await wallet.refunds.refundable(ticket.transfer_id)


def ticket_markup(language: str, ticket: Ticket, refund: bool = False) -> InlineKeyboardMarkup:
    """Reply / Close, and with ``refund`` (a dispute of a refundable transfer) Refund: the
    refunds' own confirmation card."""
    row = [
        InlineKeyboardButton(
            translate(language, "support.reply_button"),
            callback_data=f"{TICKET}{ticket.id}:{ANSWER}",
        ),
        InlineKeyboardButton(
            translate(language, "support.close_button"),
            callback_data=f"{TICKET}{ticket.id}:{CLOSE}",
        ),
    ]
    if refund and ticket.is_dispute:
        row.append(
            InlineKeyboardButton(
                translate(language, "support.refund_button"),
                callback_data=f"{TICKET}{ticket.id}:{REFUND}",
            )
        )
    return InlineKeyboardMarkup([row])


def dispute_markup(language: str, transfer_id: int) -> InlineKeyboardMarkup:
    """The Dispute button under a transfer's detail view (``/history <id>``)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(language, "support.dispute_button"),
                    callback_data=f"{DISPUTE}{transfer_id}",
                )
            ]
        ]
    )


async def _language_of(context: WalletContext, telegram_id: int) -> str:
    person = await context.wallet.users.get(telegram_id)
    return person.effective_language if person else "en"


async def _name_of(context: WalletContext, telegram_id: int) -> str:
    person = await context.wallet.users.get(telegram_id)
    return person.display_name if person else str(telegram_id)


async def _tell_admins(
    application: Application, key: str, ticket: Ticket, photo: str | None = None, **params
) -> None:
    """Tell every admin about ``ticket`` (``key``: a new one, or the person's addition),
    with Reply / Close (each copy remembered: once one admin closes the ticket, the
    others' lose their buttons); the ``photo`` the person sent (a file id) follows it."""
    wallet = application.bot_data[WALLET_KEY]
    person = await wallet.users.get(ticket.telegram_id)
    who = person.display_name if person else str(ticket.telegram_id)
    refund = await refundable(wallet, ticket)
    for admin_id in sorted(wallet.settings.admin_ids):
        admin = await wallet.users.get(admin_id)
        language = admin.effective_language if admin else "en"
        if key == "new":
            text = ticket_text(language, ticket, who)
        else:
            text = translate(language, key, id=ticket.id, who=who, **params)
        told = await tell_admin(
            application,
            ticket_subject(ticket.id),
            admin_id,
            text,
            about=f"ticket {ticket.id}",
            reply_markup=ticket_markup(language, ticket, refund),
            settled=_closed_meanwhile(wallet, ticket.id),
        )
        if photo is not None and told is Told.SENT:
            await _send_photo(application.bot, admin_id, photo, f"🎫 #{ticket.id} 📷 {who}")


def _closed_meanwhile(wallet, ticket_id: int) -> Settled:
    """For a copy sent after an admin closed the ticket: who closed it, and the line
    that says so (None: it is open)."""

    async def closed() -> tuple[int, Outcome] | None:
        ticket = await wallet.support.get(ticket_id)
        if ticket.state is not TicketState.CLOSED or ticket.closed_by is None:
            return None
        admin = await wallet.users.get(ticket.closed_by)
        name = admin.display_name if admin is not None else str(ticket.closed_by)
        return ticket.closed_by, _closed_by(name)

    return closed


async def _send_photo(bot, chat_id: int, photo: str, caption: str) -> Told:
    """Send a photo someone sent the bot (its file id) on to ``chat_id``."""
    try:
        await bot.send_photo(chat_id, photo, caption=caption[:CAPTION_MAX])
    except Forbidden:
        return Told.BLOCKED
    except TelegramError:
        log.warning("could not pass a ticket's photo on to %s", chat_id, exc_info=True)
        return Told.FAILED
    return Told.SENT


CAPTION_MAX = 1024  # Telegram's limit of a photo's caption


def _words(message: Message) -> str:
    """What a message to a ticket says: its text, or a photo's caption after 📷."""
    if message.photo:
        caption = (message.caption or "").strip()
        return f"📷 {caption}" if caption else "📷"
    return message.text or ""


def _photo_of(message: Message) -> str | None:
    """The file id of the message's photo (its largest size), if it is one."""
    return message.photo[-1].file_id if message.photo else None


# --- the person's side ----------------------------------------------------------------


async def _opened(
    update: Update,
    context: WalletContext,
    language: str,
    ticket: Ticket,
    photo: str | None = None,
):
    """Say the ticket is open; a dispute without a reason asks what went wrong, and the
    person's next message answers it (a forced reply: the apps quote the question). The
    admins are told, with the ``photo`` it was opened with."""
    asks = ticket.is_dispute and ticket.text in _no_reason()
    key = "support.opened"
    if ticket.is_dispute:
        key = "support.dispute_opened" if asks else "support.dispute_opened_reason"
    await reply(
        update,
        context,
        translate(language, key, id=ticket.id, transfer_id=ticket.transfer_id),
        reply_markup=ForceReply(selective=True) if asks else None,
    )
    await _tell_admins(context.application, "new", ticket, photo)


async def support(update: Update, context: WalletContext) -> None:
    """Open a support ticket with the text after the command."""
    user, language = await private_user(update, context, "support.private_only")
    if user is None:
        return
    try:
        ticket = await context.wallet.support.open(user, " ".join(context.args or ()))
    except SupportTextInvalid as bad:
        if bad.code == "support_text_missing":  # the answer to it opens the ticket
            await reply(
                update,
                context,
                translate(language, "support.usage"),
                reply_markup=ForceReply(selective=True),
            )
        else:
            await reply(update, context, error_text(language, bad))
        return
    except WalletError as refused:
        await reply(update, context, error_text(language, refused))
        return
    await _opened(update, context, language, ticket)


async def menu_support(update: Update, context: WalletContext) -> None:
    """Ask for the question from the menu's Support button."""
    query = update.callback_query
    await query.answer()
    user = await current_user(update, context)
    language = language_of(update, user)
    await update.effective_message.reply_text(
        translate(language, "support.ask"), reply_markup=ForceReply(selective=True)
    )


async def _dispute(
    update: Update, context: WalletContext, user, language: str, transfer: str, text: str
) -> Ticket | None:
    try:
        return await context.wallet.support.dispute(user, transfer, text)
    except WalletError as refused:
        query = update.callback_query
        if query is not None:
            await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        else:
            await reply(update, context, error_text(language, refused))
        return None


async def dispute(update: Update, context: WalletContext) -> None:
    """Dispute one of the user's transfers: /dispute <transfer id> [what went wrong]."""
    user, language = await private_user(update, context, "support.private_only")
    if user is None:
        return
    if not context.args:
        await reply(update, context, translate(language, "support.dispute_usage"))
        return
    text = " ".join(context.args[1:]) or translate(language, "support.dispute_default")
    ticket = await _dispute(update, context, user, language, context.args[0], text)
    if ticket is not None:
        await _opened(update, context, language, ticket)


async def dispute_press(update: Update, context: WalletContext) -> None:
    """Dispute the transfer whose detail view carries the button."""
    user, language = await private_user(update, context, "support.private_only")
    if user is None:
        await update.callback_query.answer()
        return
    text = translate(language, "support.dispute_default")
    ticket = await _dispute(update, context, user, language, context.match.group(1), text)
    if ticket is not None:
        await update.callback_query.answer()
        await _opened(update, context, language, ticket)


class _RepliesToTicket(filters.MessageFilter):
    """A reply to one of the bot's messages about a ticket, or to its Support question
    (the menu's, or the one a bare ``/support`` asks)."""

    def __init__(self) -> None:
        super().__init__(name="replies_to_ticket")
        self.asks = {
            translate(language, key)
            for language in LANGUAGES
            for key in ("support.ask", "support.usage")
        }

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or not replied.from_user.is_bot:
            return False
        text = replied.text or replied.caption or ""  # (a ticket's photo, its caption)
        return bool(MARK.match(text)) or text in self.asks


def _thread(prompts: Questions[int]):
    async def thread_message(update: Update, context: WalletContext) -> None:
        """Add a reply to a ticket message to its thread (an admin's reply answers it)."""
        user = await current_user(update, context)
        language = language_of(update, user)
        if user is None:
            return
        message = update.effective_message
        replied = message.reply_to_message
        mark = MARK.match(replied.text or replied.caption or "")
        wallet = context.wallet
        words, photo = _words(message), _photo_of(message)
        try:
            if mark is None:  # the answer to "what is your question?" (menu or /support)
                ticket = await wallet.support.open(user, words)
                await _opened(update, context, language, ticket, photo)
                return
            ticket_id = int(mark.group(1))
            ticket = await wallet.support.get(ticket_id)
            if is_admin(context, user) and ticket.telegram_id != user.telegram_id:
                asked = prompts.open_for(user.telegram_id)  # (Reply tapped on another)
                await prompts.drop(user.telegram_id)
                await _answer(update, context, user, language, ticket_id, words, photo)
                if asked is not None and asked != ticket_id:
                    await reply(update, context, _dropped(language, asked))
                return
            ticket = await wallet.support.add(user, ticket_id, words)
        except WalletError as refused:
            await reply(update, context, error_text(language, refused))
            return
        await reply(update, context, translate(language, "support.added", id=ticket.id))
        await _tell_admins(context.application, "support.admin_added", ticket, photo, text=words)

    return thread_message


# --- the admins' side -----------------------------------------------------------------


async def _answer(
    update: Update,
    context: WalletContext,
    user,
    language: str,
    ticket_id: int,
    text: str,
    photo: str | None = None,
):
    """Record an admin's answer and relay it to the person (a photo with it as caption)."""
    try:
        ticket = await context.wallet.support.answer(user.telegram_id, ticket_id, text)
    except TicketClosed:  # the person's words ("write /support") are not the admin's
        await reply(update, context, translate(language, "support.closed_already", id=ticket_id))
        return
    except WalletError as refused:
        await reply(update, context, error_text(language, refused))
        return
    person_language = await _language_of(context, ticket.telegram_id)
    answer = translate(person_language, "support.answer", id=ticket.id, text=text.strip())
    told = None
    if photo is not None:  # the answer as its caption, or after it when longer than one
        caption = answer if len(answer) <= CAPTION_MAX else f"🎫 #{ticket.id} 📷"
        told = await _send_photo(context.bot, ticket.telegram_id, photo, caption)
        if told is Told.SENT and caption == answer:
            answer = ""
    if answer and told in (None, Told.SENT):
        told = await tell(context.bot, ticket.telegram_id, answer, about=f"ticket {ticket.id}")
    key = "support.answered" if told is Told.SENT else "support.answered_unreachable"
    await reply(update, context, translate(language, key, id=ticket.id))


async def _in_private(update: Update, context: WalletContext, language: str) -> bool:
    """Whether this is the private chat; else say tickets are handled there."""
    if is_private(update):
        return True
    link = private_link(context)
    await reply(update, context, translate(language, "support.private_only", link=link))
    return False


def _reply_command(prompts: Questions[int]):
    @admin_only
    async def reply_command(update: Update, context: WalletContext, user, language) -> None:
        """Answer a ticket: /reply <ticket> <text> (the answer a Reply tap asked for,
        when it is that ticket's)."""
        if not await _in_private(update, context, language):
            return
        if len(context.args or ()) < 2:
            await reply(update, context, translate(language, "support.reply_usage"))
            return
        try:
            ticket_id = parse_ticket_id(context.args[0])
        except WalletError as refused:
            await reply(update, context, error_text(language, refused))
            return
        if prompts.open_for(user.telegram_id) == ticket_id:  # answered: no longer awaited
            await prompts.drop(user.telegram_id)
        await _answer(update, context, user, language, ticket_id, " ".join(context.args[1:]))

    return reply_command


@admin_only
async def list_tickets(update: Update, context: WalletContext, user, language) -> None:
    """List the open tickets, oldest first, each with Reply / Close; each card is a copy
    of its ticket's notice, so a close elsewhere brings it up to date."""
    if not await _in_private(update, context, language):
        return
    support = context.wallet.support
    tickets = await support.open_tickets(SHOWN)
    if not tickets:
        await reply(update, context, translate(language, "support.none"))
        return
    now = support.now_ms()
    for ticket in tickets:
        who = await _name_of(context, ticket.telegram_id)
        await tell_admin(
            context.application,
            ticket_subject(ticket.id),
            user.telegram_id,
            ticket_text(language, ticket, who, now - ticket.created_at),
            about=f"ticket {ticket.id}",
            reply_markup=ticket_markup(language, ticket, await refundable(context.wallet, ticket)),
            settled=_closed_meanwhile(context.wallet, ticket.id),
        )


def _press(prompts: Questions[int]):
    @admin_only
    async def ticket_press(update: Update, context: WalletContext, user, language) -> None:
        """Reply: ask for the answer; Close: close the ticket and tell the person;
        Refund (a dispute): the refund's confirmation card for the disputed transfer."""
        query = update.callback_query
        ticket_id, action = int(context.match.group(1)), context.match.group(2)
        support = context.wallet.support
        try:
            if action == CLOSE:
                ticket = await support.close(user.telegram_id, ticket_id)
            else:
                ticket = await support.get_open(ticket_id)
        except TicketClosed:  # by another admin, or a tap on a card from before: said so
            closed = translate(language, "support.closed_already", id=ticket_id)
            await query.answer(closed, show_alert=True)
            await _done_with(query)
            return
        except WalletError as refused:
            await query.answer(refusal_text(language, refused)[:200], show_alert=True)
            return
        if action == REFUND:
            await _refund_card(update, context, user, language, ticket)
            return
        await query.answer()
        if action == CLOSE:
            await _done_with(query)
            closed = _closed_by(user.display_name)
            subject, tapped = ticket_subject(ticket.id), query.message.message_id
            # the other admins' copies, and this admin's others (a person's additions)
            settle_later(context.application, subject, user.telegram_id, closed, acted_on=tapped)
            person_language = await _language_of(context, ticket.telegram_id)
            await tell(
                context.bot,
                ticket.telegram_id,
                translate(person_language, "support.closed_user", id=ticket.id),
                about=f"ticket {ticket.id}",
            )
            await context.bot.send_message(
                user.telegram_id, translate(language, "support.closed_admin", id=ticket.id)
            )
            return
        await context.bot.send_message(
            user.telegram_id,
            translate(language, "support.ask_answer", id=ticket.id),
            reply_markup=ForceReply(selective=True),
        )
        await prompts.ask(user.telegram_id, ticket.id)  # the ticket to answer

    return ticket_press


def _closed_by(admin: str) -> Outcome:
    """The line the other admins' notices of a closed ticket end with."""
    return lambda language: translate(language, "support.closed_by", admin=admin)


async def _done_with(query) -> None:
    """Take a closed ticket's buttons off its card (its text stays)."""
    if not isinstance(query.message, Message):  # too old for the bot to edit
        return
    with suppress(TelegramError):  # an old message, or one already without them
        await query.edit_message_reply_markup(None)


async def _refund_card(
    update: Update, context: WalletContext, user, language: str, ticket: Ticket
) -> None:
    """Show the refund feature's card for the disputed transfer, as ``/refund <id>`` would,
    with the dispute (its number) as the refund's reason.

    Its key is made from the ticket message the button is on, so the cards of repeated
    taps on one message refund once.
    """
    query = update.callback_query
    if ticket.transfer_id is None:  # a button the bot never puts on a plain ticket
        await query.answer(translate(language, "callback.unknown"), show_alert=True)
        return
    refunds = context.wallet.refunds
    if refunds is None:
        await query.answer(translate(language, "support.refund_unavailable"), show_alert=True)
        return
    try:  # a button from before the transfer was refunded in full, or on a top-up's dispute
        await refunds.preview(ticket.transfer_id)
    except WalletError as refused:
        await query.answer(refund.refused_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    # the dispute named, not its words: the payee is told the reason, and a complaint
    # about them is the payer's and the admins' to read
    reason = translate(language, refund.DISPUTE_REASON, id=ticket.id)
    asked = RefundCommand(ticket.transfer_id, None, reason)
    await refund.show_card(update, context, user, language, asked)


def _take(prompts: Questions[int]):
    @admin_only
    async def ticket_answer(update: Update, context: WalletContext, user, language) -> None:
        """Take the answer an admin was asked for and relay it."""
        ticket_id = prompts.open_for(user.telegram_id)
        if ticket_id is None:  # it ran out between the filter and now
            await reply(update, context, translate(language, "support.question_expired"))
            return
        await prompts.drop(user.telegram_id)
        message = update.effective_message
        await _answer(
            update, context, user, language, ticket_id, _words(message), _photo_of(message)
        )

    return ticket_answer


def _dropped(language: str, ticket_id: int) -> str:
    """What a command sent instead of an admin's answer ended."""
    button = translate(language, "support.reply_button")
    return translate(language, "support.answer_dropped", id=ticket_id, button=button)


def handlers() -> tuple[list, list, Questions[int]]:
    """The feature's handlers, those to run after every feature's (a command ends an
    admin's open question), and its questions (stored: see ``questions.restored_first``)."""
    prompts: Questions[int] = Questions(PROMPT_TTL_S, topic="ticket_answer")  # the ticket
    private_text = (
        filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    ) | (filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.PHOTO)
    asked = prompts.asked("asked_for_ticket_answer")

    return (
        [
            command("support", support),
            command("dispute", dispute),
            command("reply", _reply_command(prompts)),
            command("tickets", list_tickets),
            CallbackQueryHandler(_press(prompts), pattern=TICKET_TAP),
            CallbackQueryHandler(dispute_press, pattern=DISPUTE_TAP),
            CallbackQueryHandler(menu_support, pattern=f"^{re.escape(MENU_SUPPORT)}$"),
            MessageHandler(private_text & _RepliesToTicket(), _thread(prompts)),
            MessageHandler(private_text & asked, _take(prompts)),
        ],
        [prompts.ended_by_a_command("asked_for_ticket_answer", _dropped)],
        prompts,
    )
