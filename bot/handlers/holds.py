"""Held payments: admins are told at once, with buttons to approve or reject; /review."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot.domain.admin_copies import hold_subject
from bot.domain.errors import WalletError
from bot.domain.holds import Held, HoldDecision, HoldState
from bot.domain.kinds import TransferKind
from bot.domain.money import format_fen
from bot.domain.security_errors import HeldPaymentAlreadyDecided
from bot.handlers.admin_copies import ELSEWHERE, Outcome, Settled, settle_later, tell_admin
from bot.handlers.cards import second_factor
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    admin_in_private,
    admin_only,
    button_pattern,
    command,
    refusal_text,
)
from bot.handlers.outbox import Told, reply, tell
from bot.handlers.pin import keypad_markup, keypad_text
from bot.handlers.risk_text import join_reasons
from bot.handlers.send import received_text
from bot.handlers.soon import soon
from bot.i18n import translate, translate_or
from bot.render.labels import kind_label
from bot.security.guard import HOLD_DECISION

HOLD = "h:"  # h:<held id>:a|r
APPROVE, REJECT = "a", "r"
HOLD_TAP = button_pattern(HOLD, "[0-9]{1,18}", f"[{APPROVE}{REJECT}]")

log = logging.getLogger(__name__)



def _who(users: dict, telegram_id: int | None, language: str, kind: str) -> str:
    if telegram_id is None:  # a withdrawal's gateway, a shop, an escrow: not a person
        return translate_or(language, f"hold.to_{kind}", translate(language, "hold.to_outside"))
    user = users.get(telegram_id)
    return user.display_name if user else str(telegram_id)


def _reasons(language: str, reasons: tuple[str, ...]) -> str:
    """Why the payment was held, in words (a reason whose words need the payer's limits,
    or one the catalogs do not know, by its code)."""
    words = []
    for code in reasons:
        text = translate_or(language, f"risk.{code}", code)
        words.append(code if "{" in text else text)
    return join_reasons(language, words)


async def _people(wallet, held: Held) -> dict:
    """The payer and the recipient who are people, by Telegram id."""
    return {
        tid: await wallet.users.get(tid)
        for tid in (held.payer_telegram_id, held.recipient_telegram_id)
        if tid is not None
    }


async def hold_text(application: Application, language: str, held: Held) -> str:
    people = await _people(application.bot_data[WALLET_KEY], held)
    text = translate(
        language,
        "hold.review",
        id=held.id,
        payer=_who(people, held.payer_telegram_id, language, held.kind),
        recipient=_who(people, held.recipient_telegram_id, language, held.kind),
        amount=format_fen(held.amount),
        kind=kind_label(language, held.kind),
        reasons=_reasons(language, held.reasons),
    )
    if held.memo:  # what the payer said it is for ("rent"): part of what is judged
        text += "\n" + translate(language, "hold.memo", memo=held.memo)
    return text


def hold_markup(language: str, held: Held) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(language, "hold.approve"),
                    callback_data=f"{HOLD}{held.id}:{APPROVE}",
                ),
                InlineKeyboardButton(
                    translate(language, "hold.reject"), callback_data=f"{HOLD}{held.id}:{REJECT}"
                ),
            ]
        ]
    )


def notifier(application: Application):
    """The guard's hook: send every admin the held payment with approve/reject buttons
    (each copy remembered: once one admin decides, the others' say so). The notices go
    :func:`~bot.handlers.soon.soon`: the payer hears that the payment is held without
    waiting for them in the send queue."""

    async def tell_every_admin(held: Held) -> None:
        wallet = application.bot_data[WALLET_KEY]
        for admin_id in sorted(wallet.settings.admin_ids):
            admin = await wallet.users.get(admin_id)
            language = admin.effective_language if admin else "en"
            told = await tell_admin(
                application,
                hold_subject(held.id),
                admin_id,
                await hold_text(application, language, held),
                about=f"hold {held.id}",
                reply_markup=hold_markup(language, held),
                settled=_decided_meanwhile(wallet, held.id),
            )
            if told is Told.BLOCKED:  # the payment waits on them: say whom it could not reach
                log.warning(
                    "admin %s has not opened the bot's chat: not told of hold %s", admin_id, held.id
                )

    async def notify(held: Held) -> None:
        what = f"telling the admins of hold {held.id}"
        await soon(application, tell_every_admin(held), what=what)

    return notify


def _decided_meanwhile(wallet, held_id: int) -> Settled:
    """For a copy sent after an admin decided the held payment: who decided it, and the
    line that says which way (None: it is still open)."""

    async def decided() -> tuple[int, Outcome] | None:
        held = await wallet.guard.get_hold(held_id)
        if held.state is HoldState.OPEN or held.decided_by is None:
            return None
        approved = held.state is HoldState.APPROVED
        return held.decided_by, _outcome(approved, await _decider(wallet, held))

    return decided


@admin_only
async def decide(update: Update, context: WalletContext, user, language) -> None:
    """Approve or reject a held payment (admins only), once; an admin with 2FA on enters
    a code first, on a keypad below the notice (its outcome: :func:`decided_text`). The
    other admins' notices are edited to the outcome; a notice of a hold decided before
    is too."""
    query = update.callback_query
    wallet = context.wallet
    held_id, approve = int(context.match.group(1)), context.match.group(2) == APPROVE
    try:
        await wallet.guard.check_decision(held_id, user.telegram_id, approve=approve)
        payload = {"held_id": held_id, "approve": approve}
        view = await second_factor(context, user.telegram_id, HOLD_DECISION, payload)
        if view is not None:  # what the code decides, above its keypad
            await query.answer()
            asked = translate(
                language, "hold.confirm_approve" if approve else "hold.confirm_reject", id=held_id
            )
            text = asked + "\n\n" + keypad_text(language, view)
            await reply(update, context, text, reply_markup=keypad_markup(view))
            return
        decide_now = wallet.guard.approve if approve else wallet.guard.reject
        held = await decide_now(held_id, user.telegram_id)
    except HeldPaymentAlreadyDecided:  # which way, and by whom; the notice says it too
        await _decided_before(context, query, language, held_id)
        return
    except WalletError as refused:
        await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    outcome = _outcome(approve, user.display_name)
    tapped = query.message.message_id if query.message is not None else ELSEWHERE
    subject = hold_subject(held.id)
    settle_later(context.application, subject, user.telegram_id, outcome, acted_on=tapped)
    try:
        await query.edit_message_text(
            await hold_text(context.application, language, held) + "\n" + outcome(language)
        )
    except BadRequest as exc:  # tapped as it was sent: its sender brought it up to date
        if "not modified" not in str(exc).lower():
            raise
    await soon(  # the admin's next tap does not wait for the parties' notices
        context.application, _tell_parties(context, held, approved=approve), what=_TELLING
    )


def _outcome(approved: bool, admin: str) -> Outcome:
    """The line that says which way a held payment was decided, and by whom."""
    key = "hold.approved" if approved else "hold.rejected"
    return lambda language: translate(language, key, admin=admin)


async def _decider(wallet, held: Held) -> str:
    admin = await wallet.users.get(held.decided_by) if held.decided_by is not None else None
    return admin.display_name if admin is not None else str(held.decided_by)


async def _decided_before(context: WalletContext, query, language: str, held_id: int) -> None:
    """Say who decided a held payment before, and which way; the notice tapped (one
    whose buttons were left: sent while it was decided, or listed by /review) shows it."""
    wallet = context.wallet
    held = await wallet.guard.get_hold(held_id)
    name, approved = await _decider(wallet, held), held.state is HoldState.APPROVED
    key = "hold.already_approved" if approved else "hold.already_rejected"
    await query.answer(translate(language, key, admin=name)[:200], show_alert=True)
    if not isinstance(query.message, Message):  # too old for the bot to edit
        return
    text = await hold_text(context.application, language, held)
    with suppress(TelegramError):  # edited meanwhile by the decision itself
        await query.edit_message_text(text + "\n" + _outcome(approved, name)(language))


async def decided_text(context: WalletContext, language: str, decision: HoldDecision) -> str:
    """The keypad's outcome once an admin's 2FA code decided a held payment: every notice
    of it (the admin's own above the keypad too) is edited and the parties told now; the
    admin reads the hold and what became of it."""
    held = decision.held
    outcome = _outcome(decision.approved, await _decider(context.wallet, held))
    subject = hold_subject(held.id)  # the decider's notice too: the keypad has the outcome
    settle_later(context.application, subject, held.decided_by, outcome, acted_on=ELSEWHERE)
    told = _tell_parties(context, held, approved=decision.approved)
    await soon(context.application, told, what=_TELLING)
    return await hold_text(context.application, language, held) + "\n" + outcome(language)


_TELLING = "telling the parties of a decided hold"


async def _tell_parties(context: WalletContext, held: Held, *, approved: bool) -> None:
    """The payer hears the decision, naming whom and the payment's number in /history;
    on approval the recipient hears of the money as of any transfer (kept for their
    first /start when they never opened the chat)."""
    wallet = context.wallet
    people = await _people(wallet, held)
    payer = people.get(held.payer_telegram_id)
    if payer is not None:
        language = payer.effective_language
        text = translate(
            language,
            "hold.approved_payer" if approved else "hold.rejected_payer",
            amount=format_fen(held.amount),
            recipient=_who(people, held.recipient_telegram_id, language, held.kind),
            # the number /history shows the payment by: once approved, its posting
            number=(held.resolved_transfer_id if approved else None) or held.pending_transfer_id,
        )
        await tell(context.bot, payer.telegram_id, text, about=f"hold {held.id}")
    recipient = people.get(held.recipient_telegram_id)
    if not approved or recipient is None:
        return
    language = recipient.effective_language
    balance = await wallet.ledger.balance(recipient.account_id)
    text = received_text(
        language,
        tip=held.kind == TransferKind.TIP,
        payer=payer.display_name if payer is not None else _who(people, None, language, held.kind),
        amount=held.amount,
        balance=balance.available,
        memo=held.memo,
    )
    await tell(context.bot, recipient.telegram_id, text, about=f"hold {held.id}")


@admin_only
async def review(update: Update, context: WalletContext, user, language) -> None:
    """List the open holds with their buttons (admins only, in the private chat); each
    card is a copy of its hold's notice, so a decision elsewhere brings it up to date."""
    if not await admin_in_private(update, context, language):
        return
    wallet = context.wallet
    held = await wallet.guard.open_holds()
    if not held:
        await reply(update, context, translate(language, "hold.none"))
        return
    for item in held[:20]:
        await tell_admin(
            context.application,
            hold_subject(item.id),
            user.telegram_id,
            await hold_text(context.application, language, item),
            about=f"hold {item.id}",
            reply_markup=hold_markup(language, item),
            settled=_decided_meanwhile(wallet, item.id),
        )


def handlers() -> list:
    return [command("review", review), CallbackQueryHandler(decide, pattern=HOLD_TAP)]
