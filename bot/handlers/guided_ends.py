"""What each guided flow checks at a step and makes at its end (see
:mod:`bot.handlers.guided`): every check is the feature's service's own, and every end
is the feature's own confirmation card (or its QR code), so a flow moves no money.
"""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    SharedUser,
    SwitchInlineQueryChosenChat,
    Update,
)

from bot.domain.errors import (
    AccountsMustBeDifferent,
    UserNotFound,
    WalletError,
)
from bot.domain.guided import Flow, PacketByPhrase, PacketKindUnknown
from bot.domain.money import format_fen, parse_amount
from bot.domain.redpackets import PacketKind, PacketOrder
from bot.domain.users import Profile, User
from bot.handlers import redpacket_inline, request, send, split, withdraw
from bot.handlers.context import WalletContext, error_text
from bot.handlers.numpad import amount_text
from bot.handlers.pin import set_pin_markup
from bot.i18n import LANGUAGES, translate

__all__ = ["PACKET_KINDS", "check", "finish", "known_recipient", "pin_markup", "refusal"]

# the kind step's buttons, in this order: not the password packet, which is grabbed by
# typing its phrase in a group and so is made there (typed here, its name says so)
PACKET_KINDS = tuple(kind for kind in PacketKind if kind is not PacketKind.PASSWORD)
_KIND_NAMES = {"拼手气": "random", "普通": "equal", "专属": "exclusive", "口令": "password"}


def pin_markup(language: str) -> InlineKeyboardMarkup:
    return set_pin_markup(language)


def refusal(language: str, refused: WalletError) -> str:
    """Why an answer was not taken, and that nothing moved."""
    text = error_text(language, refused)
    if isinstance(refused, UserNotFound):
        text += "\n" + translate(language, "guided.unknown_person")
    return text


async def known_recipient(context: WalletContext, person: SharedUser) -> int:
    """The wallet's id of a picked contact, registered when the wallet never saw them (a
    wallet waits for them: the money sent is theirs when they open the bot)."""
    users = context.wallet.users
    if await users.get(person.user_id) is None:
        profile = Profile(person.user_id, person.username, person.first_name or "", "")
        await users.seen(profile)
    return person.user_id


async def name_of(context: WalletContext, name: str) -> str:
    """A split's person as the flow shows them: their name when the wallet knows them."""
    known = await context.wallet.users.find(name)
    return known.display_name if known is not None else name


async def _recipient(context: WalletContext, flow: Flow) -> User | None:
    return await context.wallet.users.get(flow.data.get("recipient_id", 0))


def packet_kind(value: str) -> PacketKind:
    """The packet kind an answer names: its button's label, its English or Chinese name;
    a password packet is refused with how to make one (in the group, by command)."""
    word = " ".join(value.split()).casefold()
    for kind in PacketKind:
        labels = {translate(language, f"guided.kind.{kind}").casefold() for language in LANGUAGES}
        named = _KIND_NAMES.get(word.removesuffix("红包"))  # 口令 or 口令红包
        if word == kind.value or named == kind.value or word in labels:
            if kind is PacketKind.PASSWORD:
                raise PacketByPhrase()
            return kind
    raise PacketKindUnknown()


async def _packet(
    context: WalletContext, flow: Flow, user: User, amount: str, count: str | int, greeting=""
) -> PacketOrder:
    """The flow's red packet, checked by the red packets' service."""
    kind = PacketKind(flow.data.get("packet", PacketKind.RANDOM))
    recipient = await _recipient(context, flow) if kind is PacketKind.EXCLUSIVE else None
    return await context.wallet.redpackets.order(
        user, kind, amount, count, greeting, recipient=recipient
    )


async def check(context: WalletContext, flow: Flow, user: User, value: str) -> dict:
    """The flow's data that ``value`` answers at its step; raises ``WalletError``."""
    wallet = context.wallet
    step, kind = flow.step, flow.kind
    if step == "kind":
        return {"packet": packet_kind(value).value}
    if step == "recipient":
        recipient = await wallet.users.find(value)
        if recipient is None:
            raise UserNotFound()
        if recipient.telegram_id == user.telegram_id:
            raise AccountsMustBeDifferent(account_id=user.account_id)
        return {"recipient_id": recipient.telegram_id}
    if step == "people":  # ids from the picker, or @names typed: each must be known
        people = list(dict.fromkeys(value.replace(",", " ").split()))
        await wallet.requests.split_people(user, people)
        return {"people": people}
    if step == "amount":
        if kind == "send":
            order = await wallet.transfers.order(user, await _recipient(context, flow), value)
            return {"amount": order.amount}
        if kind == "packet":  # one share of it (an equal packet's amount is each share)
            return {"amount": (await _packet(context, flow, user, value, 1)).total}
        if kind == "withdraw":
            return {"amount": (await wallet.withdrawals.order(user, value)).amount}
        return {"amount": parse_amount(value)}
    if step == "count":
        amount = amount_text(flow.data["amount"])
        return {"count": (await _packet(context, flow, user, amount, value)).count}
    return {step: " ".join(value.split())}  # a memo or a greeting, checked at the end


async def finish(
    update: Update, context: WalletContext, flow: Flow, user: User, language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Make what the flow asked for: the text and buttons its last message shows."""
    wallet, data = context.wallet, flow.data
    amount = amount_text(data["amount"])
    if flow.kind == "send":
        recipient = await _recipient(context, flow)
        order = await wallet.transfers.order(user, recipient, amount, data.get("memo", ""))
        action = await wallet.actions.create(user.telegram_id, send.PURPOSE, order.to_payload())
        await wallet.guides.remember(user.telegram_id, "send", order.amount, recipient.telegram_id)
        text = send.card_text(language, order, recipient)
        if not recipient.private_chat:
            text += "\n" + translate(language, "guided.waits", name=recipient.display_name)
        return text, send.card_markup(language, action.id)
    if flow.kind == "withdraw":
        order = await wallet.withdrawals.order(user, amount)
        action = await wallet.actions.create(user.telegram_id, withdraw.PURPOSE, order.to_payload())
        await wallet.guides.remember(user.telegram_id, "withdraw", order.amount)
        text = withdraw.card_text(language, order) + withdraw.pretend_note(wallet, language)
        return text, withdraw.card_markup(language, action.id)
    if flow.kind == "split":
        bill = await wallet.requests.split(user, amount, data["people"], data.get("memo", ""))
        await wallet.guides.remember(user.telegram_id, "split", bill.total)
        return await split.share_bill(context, language, user, bill)
    if flow.kind == "request":
        made = await wallet.requests.create(user, amount, data.get("memo", ""))
        await wallet.guides.remember(user.telegram_id, "request", made.amount)
        await request.show_made(update, context, language, made)
        return translate(language, "guided.request_made", amount=format_fen(made.amount)), None
    # a red packet: checked whole, then sent into a group through inline mode, where
    # choosing it brings the packet's own card here (bot.handlers.redpacket_inline)
    greeting = data.get("greeting", "")
    order = await _packet(context, flow, user, amount, data.get("count", 1), greeting)
    await wallet.guides.remember(user.telegram_id, "packet", data["amount"])
    query = redpacket_inline.query_of(order, amount)
    button = InlineKeyboardButton(
        translate(language, "guided.to_group"),
        switch_inline_query_chosen_chat=SwitchInlineQueryChosenChat(
            query=query, allow_group_chats=True
        ),
    )
    kind = PacketKind(order.kind)
    recipient = await _recipient(context, flow) if kind is PacketKind.EXCLUSIVE else None
    text = translate(
        language,
        "guided.packet_ready" if kind is PacketKind.RANDOM else f"guided.packet_ready.{kind}",
        amount=format_fen(order.total),
        count=order.count,
        each=format_fen(order.total // order.count),
        name=recipient.display_name if recipient else "",
        greeting=order.greeting or translate(language, "redpacket.default_greeting"),
    )
    return text, InlineKeyboardMarkup([[button]])
