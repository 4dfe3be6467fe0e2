"""/send in private chat, and /send <amount> as a reply in a group (a tip).

Parse → a transfer order (all checks) → a confirmation card (Confirm / Cancel) in the
payer's private chat → the PIN keypad when the risk decision asks for it → the money
moves once; the recipient is told by DM (if they never opened the chat, the money waits
in their wallet anyway) and a tip is announced in its group.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import AccountFrozen, InsufficientFunds, WalletError
from bot.domain.kinds import TransferKind
from bot.domain.money import amount_words, format_fen
from bot.domain.users import Profile, User
from bot.handlers.cards import (
    CardFlow,
    card_buttons,
    card_pattern,
    offer_card,
    press_card,
    refuse_in_group,
    wallet_refusal,
)
from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    is_private,
    language_of,
    refusal_with_usage,
    replied_to,
    topic_of,
    with_new_balance,
)
from bot.handlers.outbox import outbox, reply_chatter, tell
from bot.handlers.risk_text import decision_text
from bot.handlers.soon import soon
from bot.handlers.start import by_taps_markup
from bot.i18n import translate
from bot.wallet.transfers import Settlement, SettlementStatus, TransferOrder

CARD = "tx:"
PURPOSE = "transfer"


def received_text(
    language: str, *, tip: bool, payer: str, amount: int, balance: int, memo: str
) -> str:
    """What the recipient of a transfer or a tip is told: from whom, how much, their
    balance now, and the memo."""
    text = translate(
        language,
        "transfer.tip_received" if tip else "transfer.received",
        name=payer,
        amount=format_fen(amount),
        balance=format_fen(balance),
    )
    if memo:
        text += "\n" + translate(language, "transfer.memo", memo=memo)
    return text


def _is_tip(order: TransferOrder) -> bool:
    return order.kind == TransferKind.TIP


def card_text(language: str, order: TransferOrder, recipient: User) -> str:
    """The card: "Send ¥5.00 to Bob?", or for a tip (a reply in a group) "Tip Bob ¥5.00?"."""
    key = "transfer.tip_card" if _is_tip(order) else "transfer.card"
    text = translate(language, key, amount=format_fen(order.amount), name=recipient.display_name)
    if order.memo:
        text += "\n" + translate(language, "transfer.memo", memo=order.memo)
    return text


def card_markup(language: str, action_id: str) -> InlineKeyboardMarkup:
    return card_buttons(
        CARD,
        action_id,
        translate(language, "transfer.confirm"),
        translate(language, "transfer.cancel"),
    )


async def _recipient(
    context: WalletContext, text: str | None, replied: Message | None
) -> User | None:
    """A tip's recipient is the replied-to author (known from now on); else @name or id."""
    if text is None:
        author = replied.from_user
        return await context.wallet.users.seen(
            Profile(author.id, author.username, author.first_name or "", author.language_code or "")
        )
    return await context.wallet.users.find(text)


async def send(update: Update, context: WalletContext) -> None:
    """Start a transfer (/send @user 12.50 memo) or a tip (/send 5 as a reply in a group)."""
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    message = update.effective_message
    args = context.args
    replied = None
    if is_private(update):
        if len(args) < 2:  # with the menu's Send, step by step
            await message.reply_text(
                translate(language, "send.usage_private"),
                reply_markup=by_taps_markup(language, "send"),
            )
            return
        amount, rest = amount_words(args[1:])
        target, memo, kind = args[0], " ".join(rest), TransferKind.TRANSFER
    else:
        replied = replied_to(message)  # in a forum topic, not the topic's first message
        if replied is not None and replied.from_user is not None and replied.from_user.is_bot:
            await reply_chatter(update, context, user, translate(language, "send.tip_a_bot"))
            return
        if replied is None or replied.from_user is None or not args:
            text = translate(language, "send.usage_group")
            await reply_chatter(update, context, user, text)
            return
        amount, rest = amount_words(args)
        target, memo, kind = None, " ".join(rest), TransferKind.TIP
    try:
        recipient = await _recipient(context, target, replied)
        order = await context.wallet.transfers.order(
            user,
            recipient,
            amount,
            memo,
            kind=kind,
            chat_id=None if is_private(update) else update.effective_chat.id,
            message_id=None if replied is None else replied.message_id,
            thread_id=None if is_private(update) else topic_of(message),
        )
    except (InsufficientFunds, AccountFrozen) as refused:
        text = wallet_refusal(context, language, refused)
        if is_private(update):
            await message.reply_text(text)
        else:  # said in private: the group learns nothing of the tipper's wallet
            await refuse_in_group(update, context, language, user.telegram_id, text)
        return
    except WalletError as refused:
        usage = "send.usage_private" if is_private(update) else "send.usage_group"
        await reply_chatter(update, context, user, refusal_with_usage(language, refused, usage))
        return
    action = await context.wallet.actions.create(user.telegram_id, PURPOSE, order.to_payload())
    text, markup = card_text(language, order, recipient), card_markup(language, action.id)
    if is_private(update):
        await message.reply_text(text, reply_markup=markup)
        return
    await offer_card(update, context, language, user.telegram_id, text, markup, action.id)


async def show_card(update: Update, context: WalletContext, action_id: str) -> bool:
    """``/start confirm_<id>``: show a transfer's card begun in a group; False if it is
    not one."""
    user = await current_user(update, context)
    language = language_of(update, user)
    try:
        action = await context.wallet.actions.open_for(user.telegram_id, action_id, PURPOSE)
    except WalletError:
        return False
    order = TransferOrder.from_payload(action.payload)
    recipient = await context.wallet.users.get(order.recipient_id)
    await update.effective_message.reply_text(
        card_text(language, order, recipient), reply_markup=card_markup(language, action.id)
    )
    return True


async def _review(context: WalletContext, language: str, action) -> tuple:
    return await context.wallet.transfers.review(TransferOrder.from_payload(action.payload)), ""


def _blocked(language: str, action, decision) -> str:
    return decision_text(language, decision, TransferOrder.from_payload(action.payload).amount)


async def _settle_now(context: WalletContext, language: str, action) -> str:
    order = TransferOrder.from_payload(action.payload)
    settlement = await context.wallet.transfers.settle(action.id, order, authenticated=False)
    return await announce(context, language, settlement)


FLOW = CardFlow(PURPOSE, PURPOSE, "transfer.cancelled", _review, _blocked, _settle_now)


async def card_press(update: Update, context: WalletContext) -> None:
    """Confirm or cancel a transfer card."""
    await press_card(update, context, FLOW)


async def announce(context: WalletContext, language: str, settlement: Settlement) -> str:
    """Tell the recipient, and the tip's group through its outbox; the payer's text."""
    order = settlement.order
    amount = format_fen(order.amount)
    if settlement.status is not SettlementStatus.SENT:
        return decision_text(language, settlement.decision, order.amount, settlement.held)
    recipient, payer = settlement.recipient, settlement.payer
    balance = await context.wallet.ledger.balance(recipient.account_id)
    dm = received_text(
        recipient.effective_language,
        tip=_is_tip(order),
        payer=payer.display_name,
        amount=order.amount,
        balance=balance.available,
        memo=order.memo,
    )
    told = tell(context.bot, recipient.telegram_id, dm, about="a transfer")
    await soon(context.application, told, what="telling the recipient of a transfer")
    if order.chat_id is not None:
        outbox(context.application).send_message(
            context.bot,
            order.chat_id,
            translate(
                language,
                "transfer.tip_announce",
                payer=payer.display_name,
                recipient=recipient.display_name,
                amount=amount,
            ),
            reply_to_message_id=order.message_id,
            allow_sending_without_reply=True,  # the tipped message may be gone by then
            message_thread_id=order.thread_id,  # in its topic, quoted or not
        )
    key = "transfer.tip_sent" if _is_tip(order) else "transfer.sent"
    text = translate(language, key, amount=amount, name=recipient.display_name)
    return await with_new_balance(context, language, text, payer.account_id)


def handlers() -> list:
    return [
        command("send", send),
        CallbackQueryHandler(card_press, pattern=card_pattern(CARD)),
    ]
