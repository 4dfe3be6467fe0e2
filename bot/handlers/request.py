"""/request in private chat, and paying a request through its link (also a split's share).

``/request 12.50 [memo]`` → an open request; its link ``t.me/<bot>?start=pay_<token>`` is
sent as a QR code, with the link and the deadline in the caption and a Cancel button for
the requester (which, once the request expired, turns the caption into "expired on …").
``/start pay_<token>`` → a card (Pay ¥12.50 to Alice?) → the risk guard → the PIN keypad
→ the request is paid once (``bot.wallet.requests``) → the requester is told by DM, and
the QR code's message (when this process showed it, the newest ``MAX_SHOWN``) says who
paid, with no Cancel button left.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import (
    InsufficientFunds,
    PaymentRequestAlreadyPaid,
    PaymentRequestExpired,
    PaymentRequestNotFound,
    WalletError,
)
from bot.domain.money import amount_words, format_fen
from bot.domain.requests import PaymentRequest, PaymentStatus, RequestPayment
from bot.domain.risk import RiskAction, RiskDecision
from bot.domain.users import User
from bot.handlers.cards import CardFlow, card_buttons, card_pattern, press_card
from bot.handlers.context import (
    ID,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    language_of,
    private_link,
    private_user,
    with_new_balance,
)
from bot.handlers.outbox import tell
from bot.handlers.risk_text import decision_text, join_reasons, reason_text
from bot.handlers.soon import soon
from bot.handlers.start import MENU_TOPUP, by_taps_markup
from bot.i18n import translate
from bot.render.labels import deadline_time
from bot.render.qr import qr_png
from bot.wallet.requests import CONFIRMATION

PAY_LINK = "pay_"  # /start pay_<token>
CARD = "rq:"  # rq:<action id>:y|n, the payer's card
CANCEL = "rqx:"  # rqx:<token>, the requester's button: the token is bound to them
CANCEL_TAP = button_pattern(CANCEL, ID)
PURPOSE = "request.pay"  # the card's pending action
MAX_SHOWN = 10_000
_SHOWN = "request.shown"  # bot_data: token → (chat id, message id) of its QR code
_AFTER_PAID = "request.after_paid"  # bot_data: what else is done when a request is paid

log = logging.getLogger(__name__)


def pay_link(context: WalletContext, request: PaymentRequest) -> str:
    return private_link(context, f"{PAY_LINK}{request.token}")


def with_memo(language: str, text: str, memo: str) -> str:
    return text + "\n" + translate(language, "transfer.memo", memo=memo) if memo else text


def card_text(language: str, request: PaymentRequest, requester: User) -> str:
    text = translate(
        language, "request.card", amount=format_fen(request.amount), name=requester.display_name
    )
    return with_memo(language, text, request.memo)


def card_markup(language: str, action_id: str) -> InlineKeyboardMarkup:
    return card_buttons(
        CARD,
        action_id,
        translate(language, "transfer.confirm"),
        translate(language, "transfer.cancel"),
    )


def review_text(
    language: str, decision: RiskDecision, amount: int, key: str = "request.needs_review"
) -> str:
    """A payment the guard would hold: a request (or a shop, ``key``) is not paid that way."""
    reasons = join_reasons(
        language,
        (
            reason_text(language, r.value, decision)
            for r in decision.reasons
            if r.action is RiskAction.HOLD
        ),
    )
    return translate(language, key, amount=format_fen(amount), reasons=reasons)


async def request(update: Update, context: WalletContext) -> None:
    """Ask for money: a payment request, sent back as a QR code and a link."""
    user, language = await private_user(update, context, "request.private_only")
    if user is None:
        return
    message = update.effective_message
    if not context.args:  # with the menu's Request, step by step
        await message.reply_text(
            translate(language, "request.usage"), reply_markup=by_taps_markup(language, "request")
        )
        return
    amount, memo = amount_words(context.args)
    try:
        made = await context.wallet.requests.create(user, amount, " ".join(memo))
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "request.usage")
        await message.reply_text(text)
        return
    await show_made(update, context, language, made)


async def show_made(
    update: Update, context: WalletContext, language: str, made: PaymentRequest
) -> None:
    """Send a new request as its QR code, with the link, the deadline and Cancel."""
    link = pay_link(context, made)
    caption = with_memo(
        language, translate(language, "request.made", amount=format_fen(made.amount)), made.memo
    )
    caption += "\n" + translate(
        language, "request.valid_until", deadline=deadline_time(made.expires_at)
    )
    button = InlineKeyboardButton(
        translate(language, "request.cancel"), callback_data=f"{CANCEL}{made.token}"
    )
    sent = await update.effective_message.reply_photo(
        qr_png(link),
        caption=caption + "\n" + translate(language, "request.share", link=link),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )
    shown = _shown(context)
    shown[made.token] = (sent.chat_id, sent.message_id)
    while len(shown) > MAX_SHOWN:
        shown.popitem(last=False)


def after_paid(application, hook: Callable[[WalletContext, RequestPayment], Awaitable[None]]):
    """Have ``hook`` called with each request paid (after the requester was told)."""
    application.bot_data.setdefault(_AFTER_PAID, []).append(hook)


def _shown(context: WalletContext) -> OrderedDict[str, tuple[int, int]]:
    """Where this process showed each open request's QR code, the newest ``MAX_SHOWN``."""
    return context.bot_data.setdefault(_SHOWN, OrderedDict())


async def _close_shown(context: WalletContext, payment: RequestPayment, language: str) -> None:
    """The paid request's QR message, when known here: who paid, and no Cancel button."""
    where = _shown(context).pop(payment.request.token, None)
    if where is None:
        return
    made = payment.request
    caption = with_memo(
        language, translate(language, "request.made", amount=format_fen(made.amount)), made.memo
    )
    caption += "\n" + translate(
        language,
        "request.shown_paid",
        name=payment.payer.display_name,
        paid_at=deadline_time(made.settled_at or made.created_at),
    )
    try:
        await context.bot.edit_message_caption(
            chat_id=where[0], message_id=where[1], caption=caption, reply_markup=None
        )
    except TelegramError as exc:  # deleted meanwhile, say: its Cancel tap says who paid
        log.info("could not mark request %s paid on its QR code: %s", made.token, exc)


async def cancel_press(update: Update, context: WalletContext) -> None:
    """Cancel an open payment request; only the person who made it may."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    try:
        cancelled = await context.wallet.requests.cancel(context.match.group(1), user.telegram_id)
    except PaymentRequestExpired as expired:  # the requester's view now says so
        await query.answer()
        text = translate(
            language,
            "request.expired",
            amount=format_fen(expired.params["amount"]),
            expired_at=deadline_time(expired.params["expired_at"]),
        )
        await _show_ended(update, text)
        return
    except PaymentRequestAlreadyPaid as paid:  # the requester's view says by whom, and when
        text = await _paid_text(context, language, context.match.group(1), user.telegram_id)
        if text is None:
            await query.answer(error_text(language, paid)[:200], show_alert=True)
            return
        await query.answer()
        await _show_ended(update, text)
        return
    except WalletError as refused:
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    _shown(context).pop(cancelled.token, None)
    await _show_ended(
        update, translate(language, "request.cancelled", amount=format_fen(cancelled.amount))
    )


async def _paid_text(
    context: WalletContext, language: str, token: str, requester_id: int
) -> str | None:
    """How a paid request ended, for its requester: who paid, and when."""
    try:
        request = await context.wallet.requests.get(token)
    except WalletError:
        return None
    if request.requester_id != requester_id or request.paid_by is None:
        return None
    payer = await context.wallet.users.get(request.paid_by)
    return translate(
        language,
        "request.ended_paid",
        amount=format_fen(request.amount),
        name=payer.display_name if payer else str(request.paid_by),
        paid_at=deadline_time(request.settled_at or request.created_at),
    )


async def _show_ended(update: Update, text: str) -> None:
    """The request's QR message, captioned with how it ended (and no Cancel button)."""
    query = update.callback_query
    try:
        await query.edit_message_caption(text)
    except BadRequest as exc:  # not a photo (or gone): say it in a message of its own
        if "not modified" in str(exc).lower():  # a second tap: it says so already
            return
        await update.effective_message.reply_text(text)


async def show_request(update: Update, context: WalletContext, token: str) -> bool:
    """``/start pay_<token>``: the card to pay a request; False if there is no such request."""
    user = await current_user(update, context)
    language = language_of(update, user)
    wallet = context.wallet
    message = update.effective_message
    try:
        made, _ = await wallet.requests.quote(token, user)
    except PaymentRequestNotFound:
        return False
    except InsufficientFunds as short:
        await _top_up_first(update, context, language, user, token, short)
        return True
    except WalletError as refused:
        await message.reply_text(await _refused_text(context, language, user, token, refused))
        return True
    action = await wallet.actions.create(user.telegram_id, PURPOSE, {"token": made.token})
    requester = await wallet.users.get(made.requester_id)
    await message.reply_text(
        card_text(language, made, requester), reply_markup=card_markup(language, action.id)
    )
    return True


async def _top_up_first(
    update: Update,
    context: WalletContext,
    language: str,
    payer: User,
    token: str,
    short: InsufficientFunds,
) -> None:
    """Too little money to pay the request: what it is, that the balance is short, and a
    Top up button when top-ups are set up (with a welcome first for someone new here)."""
    made = await context.wallet.requests.get(token)
    requester = await context.wallet.users.get(made.requester_id)
    welcome = translate(language, "start.welcome_link", name=payer.display_name)
    lines = [welcome] if context.first_visit else []
    first = "request.top_up_first" if context.wallet.topups.enabled else "request.receive_first"
    asks = translate(
        language, "request.asks", name=requester.display_name, amount=format_fen(made.amount)
    )
    lines += [
        with_memo(language, asks, made.memo),
        error_text(language, short),
        translate(language, first, link=pay_link(context, made)),
    ]
    button = InlineKeyboardButton(translate(language, "menu.topup"), callback_data=MENU_TOPUP)
    top_up = InlineKeyboardMarkup([[button]]) if context.wallet.topups.enabled else None
    await update.effective_message.reply_text("\n".join(lines), reply_markup=top_up)


async def _review(context: WalletContext, language: str, action) -> tuple:
    user = await context.wallet.users.get(action.telegram_id)
    refusal, decision = await _refusal(context, language, user, action.payload["token"])
    if decision is not None and decision.needs_pin_setup:
        return decision, ""  # press_card says so, with a button that sets the PIN
    return (None, refusal) if refusal else (decision, "")


async def _pay_now(context: WalletContext, language: str, action) -> str:
    payment = await context.wallet.requests.settle(
        action.payload["token"], action.telegram_id, authenticated=False
    )
    return await announce(context, language, payment)


FLOW = CardFlow(
    PURPOSE,
    CONFIRMATION,
    "transfer.cancelled",
    _review,
    blocked=lambda language, action, decision: "",  # _refusal words every refusal itself
    settle_now=_pay_now,
    payload=lambda action: {"token": action.payload["token"]},
)


async def card_press(update: Update, context: WalletContext) -> None:
    """Confirm or cancel paying a request."""
    await press_card(update, context, FLOW)


async def _refused_text(
    context: WalletContext, language: str, user: User, token: str, refused: WalletError
) -> str:
    """Why the request cannot be paid; to the one who paid it, that they did (not "no
    money was sent", which alarms someone who just paid)."""
    if isinstance(refused, PaymentRequestAlreadyPaid):
        made = await context.wallet.requests.get(token)
        if made.paid_by == user.telegram_id:
            return translate(language, "request.paid_before", amount=format_fen(made.amount))
    return error_text(language, refused)


async def _refusal(
    context: WalletContext, language: str, user: User, token: str
) -> tuple[str | None, RiskDecision | None]:
    """Why the request cannot be paid now (or None), and the guard's decision."""
    try:
        made, order = await context.wallet.requests.quote(token, user)
    except WalletError as refused:
        return await _refused_text(context, language, user, token, refused), None
    decision = await context.wallet.requests.review(order)
    if decision.needs_pin_setup:
        return translate(language, "pin_not_set"), decision
    if decision.action is RiskAction.BLOCK:
        return decision_text(language, decision, made.amount), decision
    if decision.action is RiskAction.HOLD:
        return review_text(language, decision, made.amount), decision
    return None, decision


async def announce(context: WalletContext, language: str, payment: RequestPayment) -> str:
    """Tell the requester their request was paid; the payer's text is returned."""
    made, payer, requester = payment.request, payment.payer, payment.requester
    amount = format_fen(made.amount)
    if payment.status is PaymentStatus.BLOCKED:
        return decision_text(language, payment.decision, made.amount)
    if payment.status is PaymentStatus.NEEDS_REVIEW:
        return review_text(language, payment.decision, made.amount)
    if payment.status is PaymentStatus.REFUSED:
        return error_text(language, payment.error)
    if payment.status is PaymentStatus.PAID_BEFORE:
        return translate(language, "request.paid_before", amount=amount)
    balance = await context.wallet.ledger.balance(requester.account_id)
    told = requester.effective_language
    dm = translate(
        told,
        "request.paid_notice",
        name=payer.display_name,
        amount=amount,
        balance=format_fen(balance.available),
    )
    await soon(  # the payer's receipt does not wait for the requester's messages
        context.application,
        _tell_requester(context, payment, with_memo(told, dm, made.memo), told),
        what="telling the requester of a paid request",
    )
    text = translate(language, "request.paid", amount=amount, name=requester.display_name)
    return await with_new_balance(context, language, text, payer.account_id)


async def _tell_requester(
    context: WalletContext, payment: RequestPayment, text: str, language: str
) -> None:
    """The requester hears of the payment, its shown request closes, and what follows
    a paid request (a split's overview) is brought up to date."""
    await tell(context.bot, payment.requester.telegram_id, text, about="a paid request")
    await _close_shown(context, payment, language)
    for hook in context.bot_data.get(_AFTER_PAID, ()):  # a split's overview, say
        await hook(context, payment)


def handlers() -> list:
    """/request and its buttons; its link (``pay_``, shared with the merchants' codes) is
    registered with the others of its prefix in ``bot.handlers.register``."""
    return [
        command("request", request),
        CallbackQueryHandler(card_press, pattern=card_pattern(CARD)),
        CallbackQueryHandler(cancel_press, pattern=CANCEL_TAP),
    ]
