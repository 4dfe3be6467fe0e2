"""/payouts: the admin payout queue of the manual gateway, each payout with Paid / Reject.

An admin pays a queued withdrawal by bank transfer, taps Paid and sends the bank's
reference (as a reply to the question, or as the next message), or taps Reject and
sends the reason. The decision is taken once (two admins at once: one wins), settled at
once (the reservation posted, or the money back in the owner's wallet) and the owner is
told. An admin with 2FA enters a code before the decision is taken. A command sent
instead of the reference ends the question: the message after it is no reference.

Each admin is told when a payout joins the queue (a button opens /payouts). An admin
with 2FA can have a payout's full card number shown (after a code; audited), in a
message deleted after ``REVEAL_LIFETIME_S``; an admin without 2FA is never shown one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.domain.errors import PayoutNoteInvalid, WalletError
from bot.domain.money import format_fen
from bot.domain.payouts import PayoutState, QueuedPayout
from bot.handlers import deletions
from bot.handlers.cards import second_factor
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    admin_only,
    button_pattern,
    command,
    error_text,
    is_private,
    private_link,
    refusal_text,
)
from bot.handlers.outbox import Told, reply, tell
from bot.handlers.pin import keypad_markup, keypad_text
from bot.handlers.questions import Questions
from bot.handlers.withdraw import tell_owner
from bot.i18n import translate, translate_plural
from bot.render.labels import deadline_time
from bot.wallet.gateway import PayoutMode
from bot.wallet.payouts import (
    CONFIRMATION,
    REVEAL,
    CardReveal,
    PayoutDecision,
    PayoutItem,
    check_note,
)

__all__ = [
    "PAYOUT_TAP",
    "REVEAL_LIFETIME_S",
    "Prompt",
    "decided_text",
    "handlers",
    "item_markup",
    "item_text",
    "notifier",
    "revealed_text",
]

log = logging.getLogger(__name__)

PAYOUT = "po:"  # po:<payout id>:p|r
PAID, REJECT = "p", "r"
PAYOUT_TAP = button_pattern(PAYOUT, "[0-9]{1,18}", f"[{PAID}{REJECT}]")
CARD = "pk:"  # pk:<payout id>: show the full card number
CARD_TAP = button_pattern(CARD, "[0-9]{1,18}")
LIST = "pl:"  # the queue, from the notice of a payout queued
LIST_TAP = button_pattern(LIST)
PROMPT_TTL_S = 600  # how long a question for a reference or reason stays open
REVEAL_LIFETIME_S = 60.0  # how long a full card number stays in the chat
SHOWN = 20  # payouts listed at once, oldest first


@dataclass(frozen=True, slots=True)
class Prompt:
    """What an admin was asked after Paid or Reject."""

    payout_id: int
    paid: bool
    message_id: int  # the question's message


def _tier(language: str, tier: int | None) -> str:
    return translate(language, f"payouts.tier.{tier if tier is not None else 'unknown'}")


def item_text(language: str, item: PayoutItem) -> str:
    payout = item.payout
    params = {
        "id": payout.id,
        "created": deadline_time(payout.created_at),
        "amount": format_fen(payout.amount),
        "card": payout.card,
    }
    if item.owner is None or item.account_age_days is None:
        owner = item.owner.display_name if item.owner else str(payout.telegram_id or "—")
        return translate(language, "payouts.item_unknown_owner", owner=owner, **params)
    return translate_plural(
        language,
        "payouts.item",
        item.account_age_days,
        owner=item.owner.display_name,
        owner_id=item.owner.telegram_id,
        tier=_tier(language, item.tier),
        age=item.account_age_days,
        sent_today=format_fen(item.sent_today),
        recent=item.recent_payments,
        hours=item.lookback_hours,
        **params,
    )


def item_markup(language: str, payout_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(language, "payouts.paid_button"),
                    callback_data=f"{PAYOUT}{payout_id}:{PAID}",
                ),
                InlineKeyboardButton(
                    translate(language, "payouts.reject_button"),
                    callback_data=f"{PAYOUT}{payout_id}:{REJECT}",
                ),
            ],
            [
                InlineKeyboardButton(
                    translate(language, "payouts.card_button"),
                    callback_data=f"{CARD}{payout_id}",
                )
            ],
        ]
    )


def _decided_before(language: str, payout: QueuedPayout) -> str:
    return translate(language, f"payouts.already_{payout.state.value}", id=payout.id)


async def decided_text(context: WalletContext, language: str, decision: PayoutDecision) -> str:
    """The admin's answer once a decision is taken; the owner is told now (also the
    keypad's outcome for an admin who entered a 2FA code first)."""
    payout, withdrawal = decision.payout, decision.withdrawal
    told = await tell_owner(context.application, withdrawal.id) if withdrawal else None
    text = translate(
        language,
        "payouts.marked_paid" if payout.state is PayoutState.PAID else "payouts.marked_rejected",
        id=payout.id,
        amount=format_fen(payout.amount),
        card=payout.card,
        note=payout.note,
    )
    if withdrawal is not None and not withdrawal.state.final:
        text += "\n" + translate(language, "payouts.settles_later")
    elif told is Told.BLOCKED:
        text += "\n" + translate(language, "payouts.owner_unreachable")
    return text


def notifier(application: Application):
    """The manual gateway's hook: tell every admin of each payout queued (once per
    payout in this process), without keeping the withdrawal waiting."""
    told: set[int] = set()

    async def payout_queued(payout: QueuedPayout) -> None:
        if payout.id not in told:
            told.add(payout.id)
            application.create_task(_tell_admins(application, payout), name="payouts.tell")

    return payout_queued


async def _tell_admins(application: Application, payout: QueuedPayout) -> None:
    wallet = application.bot_data[WALLET_KEY]
    for admin_id in sorted(wallet.settings.admin_ids):
        admin = await wallet.users.get(admin_id)
        language = admin.effective_language if admin else "en"
        button = translate(language, "payouts.open_queue")
        told = await tell(
            application.bot,
            admin_id,
            translate(
                language,
                "payouts.queued_notice",
                id=payout.id,
                amount=format_fen(payout.amount),
                card=payout.card,
            ),
            about=f"payout {payout.id}",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(button, callback_data=LIST)]]),
        )
        if told is Told.BLOCKED:  # not their error, nor the payout's: it waits in /payouts
            log.info("admin %s never opened the chat: not told of payout %s", admin_id, payout.id)


@admin_only
async def list_pressed(update: Update, context: WalletContext, user, language) -> None:
    """List the queue from the button of a notice (as /payouts does)."""
    await update.callback_query.answer()
    await _list(update, context, language)


@admin_only
async def reveal_press(update: Update, context: WalletContext, user, language) -> None:
    """Ask an admin with 2FA for a code before a payout's full card is shown."""
    query = update.callback_query
    wallet = context.wallet
    if not await wallet.two_factor.is_enabled(user.telegram_id):
        await query.answer(translate(language, "payouts.card_needs_2fa"), show_alert=True)
        return
    payout_id = int(context.match.group(1))
    try:
        await wallet.payouts.get(payout_id)
        view = await wallet.pin_entry.start_confirmation(
            user.telegram_id, REVEAL, {"payout_id": payout_id}, pin=False
        )
    except WalletError as refused:
        await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    await reply(update, context, keypad_text(language, view), reply_markup=keypad_markup(view))


async def revealed_text(context: WalletContext, language: str, reveal: CardReveal) -> str:
    """Send the full card number in a message of its own, deleted after
    ``REVEAL_LIFETIME_S``; the keypad's text says so (the keypad's outcome)."""
    payout = reveal.payout
    shown = await context.bot.send_message(
        reveal.admin_id,
        translate(
            language,
            "payouts.card_number",
            id=payout.id,
            amount=format_fen(payout.amount),
            number=reveal.card_number,
            seconds=int(REVEAL_LIFETIME_S),
        ),
    )
    await deletions.delete_later(
        context.application,
        shown.chat_id,
        shown.message_id,
        REVEAL_LIFETIME_S,
        "card_reveal",
        owner_id=payout.telegram_id,
    )
    return translate(language, "payouts.card_shown", id=payout.id, seconds=int(REVEAL_LIFETIME_S))


@admin_only
async def list_payouts(update: Update, context: WalletContext, user, language) -> None:
    """List the payouts waiting for an admin, oldest first, each with Paid / Reject."""
    await _list(update, context, language)


async def _list(update: Update, context: WalletContext, language: str) -> None:
    if not is_private(update):
        link = private_link(context)
        await reply(update, context, translate(language, "payouts.private_only", link=link))
        return
    items = await context.wallet.payouts.queue(SHOWN)
    if not items:
        manual = context.wallet.withdrawals.mode is PayoutMode.MANUAL
        key = "payouts.none" if manual else "payouts.none_auto"
        await reply(update, context, translate(language, key))
        return
    for item in items:
        await reply(
            update,
            context,
            item_text(language, item),
            reply_markup=item_markup(language, item.payout.id),
        )


def _press(prompts: Questions[Prompt]):
    @admin_only
    async def payout_press(update: Update, context: WalletContext, user, language) -> None:
        """Ask for the bank reference (Paid) or the reason (Reject) of a queued payout."""
        query = update.callback_query
        payout_id, paid = int(context.match.group(1)), context.match.group(2) == PAID
        try:
            payout = await context.wallet.payouts.get(payout_id)
        except WalletError as refused:
            await query.answer(refusal_text(language, refused)[:200], show_alert=True)
            return
        if payout.state is not PayoutState.QUEUED:
            await query.answer(_decided_before(language, payout)[:200], show_alert=True)
            return
        await query.answer()
        asked = await context.bot.send_message(
            user.telegram_id,
            translate(
                language,
                "payouts.ask_reference" if paid else "payouts.ask_reason",
                id=payout.id,
                amount=format_fen(payout.amount),
                card=payout.card,
            ),
            reply_markup=ForceReply(selective=True),
        )
        await prompts.ask(user.telegram_id, Prompt(payout_id, paid, asked.message_id))

    return payout_press


def _take(prompts: Questions[Prompt]):
    @admin_only
    async def payout_note(update: Update, context: WalletContext, user, language) -> None:
        """Take the bank reference or the reason an admin was asked for; decide, once."""
        wallet, message = context.wallet, update.effective_message
        prompt = prompts.open_for(user.telegram_id)
        if prompt is None:
            await reply(update, context, translate(language, "payouts.question_expired"))
            return
        replied = message.reply_to_message
        if replied is not None and replied.message_id != prompt.message_id:
            await reply(update, context, translate(language, "payouts.reply_to_question"))
            return
        try:
            note = check_note(prompt.paid, message.text or "")
            await prompts.drop(user.telegram_id)  # a usable answer: the question is closed
            payload = {"payout_id": prompt.payout_id, "paid": prompt.paid, "note": note}
            view = await second_factor(context, user.telegram_id, CONFIRMATION, payload)
            if view is not None:
                await reply(
                    update, context, keypad_text(language, view), reply_markup=keypad_markup(view)
                )
                return
            decision = await wallet.payouts.decide(
                prompt.payout_id, user.telegram_id, paid=prompt.paid, note=note
            )
        except PayoutNoteInvalid as bad:  # the question stays open: send it again
            text = error_text(language, bad) + "\n" + translate(language, "payouts.send_again")
            await reply(update, context, text)
            return
        except WalletError as refused:
            await reply(update, context, error_text(language, refused))
            return
        await reply(update, context, await decided_text(context, language, decision))

    return payout_note


def _dropped(language: str, prompt: Prompt) -> str:
    """What a command sent instead of the reference (or the reason) ended."""
    key, button = (
        ("payouts.reference_dropped", "payouts.paid_button")
        if prompt.paid
        else ("payouts.reason_dropped", "payouts.reject_button")
    )
    return translate(language, key, id=prompt.payout_id, button=translate(language, button))


def handlers() -> tuple[list, list, Questions[Prompt]]:
    """The feature's handlers, those to run after every feature's (a command ends an
    admin's open question), and its questions (stored: see ``questions.restored_first``)."""
    prompts: Questions[Prompt] = Questions(
        PROMPT_TTL_S,
        topic="payout_note",
        encode=lambda p: [p.payout_id, p.paid, p.message_id],
        decode=lambda v: Prompt(*v),
    )
    note = prompts.asked("asked_for_payout_note")
    return (
        [
            command("payouts", list_payouts),
            CallbackQueryHandler(_press(prompts), pattern=PAYOUT_TAP),
            CallbackQueryHandler(reveal_press, pattern=CARD_TAP),
            CallbackQueryHandler(list_pressed, pattern=LIST_TAP),
            MessageHandler(note & filters.TEXT & ~filters.COMMAND, _take(prompts)),
        ],
        [prompts.ended_by_a_command("asked_for_payout_note", _dropped)],
        prompts,
    )
