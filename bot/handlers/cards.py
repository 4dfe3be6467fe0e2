"""The confirmation card every outgoing payment shows: ✅ Confirm / ✖ Cancel.

One flow for transfers, requests, withdrawals and red packets: the tap is checked
against its server-side action, the risk guard decides, then the payment goes ahead at
once (password-free), or the card turns into the PIN keypad (with a 2FA step when the
decision asks; also when the payment's own write finds the password-free limit used up
by payments made meanwhile), or the card says why not. The card's action is finished
atomically before anything moves, so a double tap pays once. A feature describes itself in a
:class:`CardFlow`; the money rules stay in its service.

A card asked for in a group is sent to the payer's private chat (:func:`offer_card`); a
payer who never opened it gets a button to ``/start confirm_<action id>`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden

from bot.domain.errors import InsufficientFunds, WalletError
from bot.domain.risk import RiskAction, RiskDecision
from bot.domain.security_errors import PasswordFreeSpentToday
from bot.domain.security_ports import Action
from bot.handlers.context import (
    ID,
    CardView,
    WalletContext,
    button_pattern,
    current_user,
    error_text,
    language_of,
    private_link,
    refusal_text,
)
from bot.handlers.outbox import Told, keep_unreached, reply, tell
from bot.handlers.pin import keypad_markup, keypad_text, set_pin_markup
from bot.i18n import translate
from bot.security.pin_entry import KeypadView

__all__ = [
    "CONFIRM_LINK",
    "AdminCard",
    "CardFlow",
    "card_buttons",
    "card_pattern",
    "offer_card",
    "press_admin_card",
    "press_card",
    "refuse_in_group",
    "second_factor",
    "wallet_refusal",
]

CONFIRM, CANCEL = "y", "n"
CONFIRM_LINK = "confirm_"  # /start confirm_<action id>: a card begun in a group


def card_buttons(prefix: str, action_id: str, confirm: str, cancel: str) -> InlineKeyboardMarkup:
    """Confirm / Cancel, as ``<prefix><action id>:y`` and ``:n``."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(confirm, callback_data=f"{prefix}{action_id}:{CONFIRM}"),
                InlineKeyboardButton(cancel, callback_data=f"{prefix}{action_id}:{CANCEL}"),
            ]
        ]
    )


def card_pattern(prefix: str) -> re.Pattern[str]:
    """The callback data of :func:`card_buttons`: the action id, then y or n."""
    return button_pattern(prefix, ID, f"[{CONFIRM}{CANCEL}]")


async def offer_card(
    update: Update,
    context: WalletContext,
    language: str,
    payer_id: int,
    text: str,
    markup: InlineKeyboardMarkup,
    action_id: str,
) -> None:
    """A card asked for in a group goes to the payer's private chat (money is never
    confirmed in front of the group), with a short note in the group. A payer who never
    opened that chat gets a button in the group that opens it on this card instead."""
    try:
        await context.bot.send_message(payer_id, text, reply_markup=markup)
    except Forbidden:
        link = private_link(context, f"{CONFIRM_LINK}{action_id}")
        button = InlineKeyboardButton(translate(language, "send.open_private"), url=link)
        await reply(
            update,
            context,
            translate(language, "send.confirm_in_private"),
            reply_markup=InlineKeyboardMarkup([[button]]),
        )
        return
    # the card is in the private chat already: a busy group can do without this note
    await reply(update, context, translate(language, "send.confirm_in_private"), droppable=True)


def wallet_refusal(context: WalletContext, language: str, refused: WalletError) -> str:
    """Why the payer's own wallet refused a payment (frozen, too little money), and where
    top-ups are set up, that topping up would do."""
    text = error_text(language, refused)
    if isinstance(refused, InsufficientFunds) and context.wallet.topups.enabled:
        text += "\n" + translate(language, "topup.hint")
    return text


async def refuse_in_group(
    update: Update, context: WalletContext, language: str, payer_id: int, text: str
) -> None:
    """A payment asked for in a group and refused for the payer's own wallet (frozen, too
    little money: :func:`wallet_refusal`):
    the reason goes to their private chat, the group reads only that it went there. A
    payer who never opened that chat gets a button to it (the reason is kept for them
    and sent when they open it)."""
    told = await tell(context.bot, payer_id, text, about="a refusal in a group")
    if told is Told.SENT:  # they have it: a busy group can do without the note
        await reply(update, context, translate(language, "group.reason_in_private"), droppable=True)
        return
    if told is Told.FAILED:  # not a 403 (kept by tell then): kept all the same
        await keep_unreached(context.bot, payer_id, text, "a refusal in a group")
    link = private_link(context)
    button = InlineKeyboardButton(translate(language, "group.open_private"), url=link)
    await reply(
        update,
        context,
        translate(language, "group.reason_open_private"),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


@dataclass(frozen=True)
class CardFlow:
    purpose: str  # the card's pending-action purpose
    confirmation: str  # the PIN keypad confirmation that completes it
    cancelled: str  # message key shown when the card is cancelled
    # The guard's decision for the card's action, or (None, text) when it cannot go on.
    review: Callable[[WalletContext, str, Action], Awaitable[tuple[RiskDecision | None, str]]]
    # Why a blocked payment was refused, in the payer's words.
    blocked: Callable[[str, Action, RiskDecision], str]
    # Pay without the keypad (password-free); None: this payment always asks for the PIN.
    settle_now: Callable[[WalletContext, str, Action], Awaitable[str]] | None
    # What the keypad's confirmation needs to settle.
    payload: Callable[[Action], dict] = lambda action: dict(action.payload)
    # Told that the card's payment will not be made: cancelled (True) or refused at the
    # card (False).
    abandoned: Callable[[WalletContext, str, Action, bool], Awaitable[None]] | None = None
    # Told that the card turned into the PIN keypad of the given view.
    keypad_shown: Callable[[WalletContext, Action, KeypadView], Awaitable[None]] | None = None


async def press_card(update: Update, context: WalletContext, flow: CardFlow) -> None:
    """Confirm (y) or cancel (n) the card a button belongs to (see :func:`card_pattern`)."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    action_id, choice = context.match.groups()
    wallet = context.wallet
    needs_pin = False
    try:
        action = await wallet.actions.open_for(user.telegram_id, action_id, flow.purpose)
        refusal = ""
        if choice != CONFIRM:
            refusal = translate(language, flow.cancelled)
        else:
            decision, refusal = await flow.review(context, language, action)
            if decision is not None and decision.needs_pin_setup:
                needs_pin = True  # the card stays: Confirm it again once the PIN is set
            elif decision is not None and decision.action is RiskAction.BLOCK:
                refusal = flow.blocked(language, action, decision)
            elif (
                not refusal
                and decision is not None
                and not (decision.auth is RiskAction.ALLOW and flow.settle_now is not None)
            ):
                await wallet.pins.check_unlocked(user.telegram_id)  # PinLocked: card kept
        if needs_pin:
            pass
        elif refusal:
            await wallet.actions.cancel(action)
        else:
            await wallet.actions.finish(action)  # the card is used up: one payment per card
    except WalletError as refused:
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    if needs_pin:
        await _ask_for_a_pin(query, language)
        return
    await query.answer()
    if refusal:
        try:
            await query.edit_message_text(refusal)
        finally:  # told (the shop, a new card) even if the card could not be edited
            if flow.abandoned is not None:
                await flow.abandoned(context, language, action, choice != CONFIRM)
        return
    note = ""  # why the PIN is asked after all
    if decision.auth is RiskAction.ALLOW and flow.settle_now is not None:
        card = context.card = CardView(context.bot, query.message)
        try:
            text = await flow.settle_now(context, language, action)
        except PasswordFreeSpentToday as refused:  # used up meanwhile: nothing moved
            note = error_text(language, refused) + "\n\n"
        except WalletError as refused:  # spent or frozen since the card was shown
            text = error_text(language, refused)
        if not note:
            try:
                await query.edit_message_text(text)
            finally:
                card.shown()
            return
    payload = {**flow.payload(action), "needs_2fa": decision.auth is RiskAction.STEP_UP_2FA}
    try:
        view = await wallet.pin_entry.start_confirmation(
            user.telegram_id, flow.confirmation, payload
        )
    except WalletError as refused:  # the PIN locked since the check above
        await query.edit_message_text(error_text(language, refused))
        return
    card = query.message.text.replace("\n\n" + translate(language, "pin_not_set"), "")
    await query.edit_message_text(
        card + "\n\n" + note + keypad_text(language, view), reply_markup=keypad_markup(view)
    )
    if flow.keypad_shown is not None:
        await flow.keypad_shown(context, action, view)


async def _ask_for_a_pin(query, language: str) -> None:
    """Confirm on a card before any PIN was set: the card says so, keeps its buttons and
    gains one that sets the PIN; once it is set, Confirm goes on (said again: an alert)."""
    note = translate(language, "pin_not_set")
    message = query.message
    card = message.text if isinstance(message, Message) and message.reply_markup else None
    if card is None or note in card:  # said already on the card (or no card to say it on)
        await query.answer(note, show_alert=True)
        return
    await query.answer()
    rows = [*message.reply_markup.inline_keyboard, *set_pin_markup(language).inline_keyboard]
    with suppress(BadRequest):  # a second tap's edit, the first having said it already
        await query.edit_message_text(f"{card}\n\n{note}", reply_markup=InlineKeyboardMarkup(rows))


async def second_factor(context: WalletContext, telegram_id: int, confirmation: str, payload: dict):
    """For an admin who has 2FA on: the code keypad whose confirmation does the sensitive
    action with ``payload`` (show it instead); None: go ahead now."""
    wallet = context.wallet
    if not await wallet.two_factor.is_enabled(telegram_id):
        return None
    return await wallet.pin_entry.start_confirmation(telegram_id, confirmation, payload, pin=False)


@dataclass(frozen=True)
class AdminCard:
    """An admin's Confirm / Cancel card for a sensitive action (a refund, a broadcast,
    vouchers): what it is, and what Confirm does."""

    purpose: str  # the card's pending-action purpose
    cancelled: str  # message key shown when the card is cancelled
    # The 2FA confirmation whose keypad does the same as ``act`` (an admin with 2FA on).
    confirmation: Callable[[Action], str]
    # Do it: the admin's answer.
    act: Callable[[WalletContext, str, object, Action], Awaitable[str]]
    # The admin's answer when it was refused.
    refused: Callable[[str, WalletError], str] = error_text


async def press_admin_card(
    update: Update, context: WalletContext, user, language: str, card: AdminCard
) -> None:
    """Confirm (once) or cancel an admin's card; an admin with 2FA enters a code first."""
    query, wallet = update.callback_query, context.wallet
    action_id, choice = context.match.groups()
    try:
        action = await wallet.actions.open_for(user.telegram_id, action_id, purpose=card.purpose)
        if choice == CANCEL:
            await wallet.actions.cancel(action)
        else:
            await wallet.actions.finish(action)  # atomic: a second tap is refused here
    except WalletError as refused:
        await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    if choice == CANCEL:
        await query.edit_message_text(translate(language, card.cancelled))
        return
    try:
        view = await second_factor(
            context, user.telegram_id, card.confirmation(action), dict(action.payload)
        )
        if view is not None:
            await query.edit_message_text(
                keypad_text(language, view), reply_markup=keypad_markup(view)
            )
            return
        text = await card.act(context, language, user, action)
    except WalletError as refused:
        text = card.refused(language, refused)
    await query.edit_message_text(text)
