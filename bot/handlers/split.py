"""/split in private chat: share a bill, and send each person a request for their share.

``/split 90 @a @b [memo]`` → the total is shared by the sender and the people named
(``bot.wallet.requests``: the sender's share first, taking any odd fen); each named person
gets their request by DM, with a button that opens its pay link (``bot.handlers.request``
takes it from there). The sender gets an overview: their own share, who was asked, and
whom the bot could not message (with their links). A name nobody here answers to refuses
the split before anything is made, naming them.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.errors import SplitUnknownNames, WalletError
from bot.domain.money import format_fen
from bot.domain.requests import SplitBill, SplitShare
from bot.domain.users import User
from bot.handlers.context import WalletContext, command, error_text, private_user
from bot.handlers.outbox import Told, tell
from bot.handlers.request import pay_link, with_memo
from bot.i18n import translate


async def split(update: Update, context: WalletContext) -> None:
    """Split a bill: each named person gets a request for their share by DM."""
    user, language = await private_user(update, context, "request.private_only")
    if user is None:
        return
    message = update.effective_message
    args = context.args
    if not args:
        await message.reply_text(translate(language, "split.usage"))
        return
    names: list[str] = []
    for word in args[1:]:  # the names come first, then the memo
        if not (word.startswith("@") or (word.isascii() and word.isdigit())):
            break
        names.append(word)
    memo = " ".join(args[1 + len(names) :])
    try:
        bill = await context.wallet.requests.split(user, args[0], names, memo)
    except SplitUnknownNames as unknown:  # the names were well written: say whom to fix
        await message.reply_text(error_text(language, unknown))
        return
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "split.usage")
        await message.reply_text(text)
        return
    await message.reply_text(await share_bill(context, language, user, bill))


async def share_bill(context: WalletContext, language: str, user: User, bill: SplitBill) -> str:
    """DM each person of ``bill`` their share; the sender's overview."""
    unreached = []
    for share in bill.shares:
        if not await _send_share(context, user, bill, share):
            unreached.append(share)
    return split_summary(context, language, bill, unreached)


async def _send_share(
    context: WalletContext, requester: User, bill: SplitBill, share: SplitShare
) -> bool:
    """DM one person their share with a button to pay it; False if they cannot be reached."""
    person = share.user
    told = person.effective_language
    link = pay_link(context, share.request)
    text = translate(
        told,
        "split.share",
        name=requester.display_name,
        total=format_fen(bill.total),
        people=bill.people,
        amount=format_fen(share.amount),
    )
    button = InlineKeyboardButton(
        translate(told, "split.pay", amount=format_fen(share.amount)), url=link
    )
    sent = await tell(
        context.bot,
        person.telegram_id,
        with_memo(told, text, bill.memo) + "\n" + link,
        about="a split share",
        reply_markup=InlineKeyboardMarkup([[button]]),
    )
    return sent is Told.SENT


def split_summary(
    context: WalletContext, language: str, bill: SplitBill, unreached: list[SplitShare]
) -> str:
    """The sender's overview: their share, who was asked, who could not be."""
    lines = [
        translate(
            language,
            "split.done",
            total=format_fen(bill.total),
            people=bill.people,
            own=format_fen(bill.own_share),
        )
    ]
    sent = [s for s in bill.shares if s not in unreached]
    if sent:
        lines.append(translate(language, "split.sent"))
        lines += [f"• {s.user.display_name}: {format_fen(s.amount)}" for s in sent]
    if unreached:
        lines.append(translate(language, "split.unreached"))
        lines += [
            f"• {s.user.display_name}: {format_fen(s.amount)} {pay_link(context, s.request)}"
            for s in unreached
        ]
    return "\n".join(lines)


def handlers() -> list:
    return [command("split", split)]
