"""/split in private chat: share a bill, and send each person a request for their share.

``/split 90 @a @b [memo]`` → the total is shared by the sender and the people named
(``bot.wallet.requests``: the sender's share first, taking any odd fen); each named person
gets their request by DM, with a button that opens its pay link (``bot.handlers.request``
takes it from there). The sender gets an overview: their own share, who was asked, and
whom the bot could not message (with their links). A name nobody here answers to refuses
the split before anything is made, naming them.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import (
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PaymentRequestExpired,
    SplitUnknownNames,
    WalletError,
)
from bot.domain.money import amount_words, format_fen
from bot.domain.requests import RequestPayment, SplitBill, SplitShare
from bot.domain.users import User, person_ref
from bot.handlers.context import (
    ID,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    language_of,
    private_user,
)
from bot.handlers.outbox import Told, tell
from bot.handlers.request import after_paid, pay_link, with_memo
from bot.i18n import translate
from bot.render.labels import deadline_time

_LIST_SEPARATORS = re.compile("[,，、;；]")  # between names, as people write lists
CANCEL = "sx:"  # sx:<token>: the sender cancels one share (the token is bound to them)
CANCEL_TAP = button_pattern(CANCEL, ID)
_DRAWN = "split.overviews"  # bot_data: the Overviews
DRAWN_KEPT = 1_000  # overviews remembered as last drawn

log = logging.getLogger(__name__)


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
    total, words = amount_words(args)  # "30 元 @a @b": the 元 is the total's
    names: list[str] = []
    taken = 0
    for word in words:  # the names come first, then the memo
        # "@a," "@a,@b" "," (a full-width ＠ as @)
        parts = [person_ref(part) for part in _LIST_SEPARATORS.split(word) if part]
        if not all(p.startswith("@") or (p.isascii() and p.isdigit()) for p in parts):
            break
        names += parts
        taken += 1
    memo = " ".join(words[taken:])
    try:
        bill = await context.wallet.requests.split(user, total, names, memo)
    except SplitUnknownNames as unknown:  # the names were well written: say whom to fix
        await message.reply_text(error_text(language, unknown))
        return
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "split.usage")
        await message.reply_text(text)
        return
    text, markup = await share_bill(context, language, user, bill)
    await message.reply_text(text, reply_markup=markup)


async def share_bill(
    context: WalletContext, language: str, user: User, bill: SplitBill
) -> tuple[str, InlineKeyboardMarkup]:
    """DM each person of ``bill`` their share; the sender's overview, with a button to
    cancel each share while it is unpaid."""
    unreached = []
    for share in bill.shares:
        if not await _send_share(context, user, bill, share):
            unreached.append(share)
    return split_summary(context, language, bill, unreached), cancel_markup(language, bill)


def cancel_markup(language: str, bill: SplitBill) -> InlineKeyboardMarkup:
    """One ✖ per share: ``sx:<its request's token>`` (the token is bound to the sender)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(
                        language,
                        "split.cancel_share",
                        name=share.user.display_name,
                        amount=format_fen(share.amount),
                    ),
                    callback_data=f"{CANCEL}{share.request.token}",
                )
            ]
            for share in bill.shares
        ]
    )


async def cancel_press(update: Update, context: WalletContext) -> None:
    """Cancel one unpaid share of a split (only its sender may): the overview says so and
    loses that button; the person is told their share no longer needs paying. A share
    paid (or ended) meanwhile is said as such, and its button goes too."""
    query = update.callback_query
    user = await current_user(update, context)
    if user is None:  # not a person: nothing of theirs to cancel
        await query.answer()
        return
    language = language_of(update, user)
    token = context.match.group(1)
    wallet = context.wallet
    try:
        cancelled = await wallet.requests.cancel(token, user.telegram_id)
    except (PaymentRequestAlreadyPaid, PaymentRequestCancelled, PaymentRequestExpired) as ended:
        made = await wallet.requests.get(token)
        payer = await wallet.users.get(made.paid_by) if made.paid_by is not None else None
        line = None  # cancelled by a tap before this one: the overview says so already
        if payer is not None:
            paid = format_fen(made.amount)
            line = translate(language, "split.share_paid", name=payer.display_name, amount=paid)
        elif isinstance(ended, PaymentRequestExpired):
            line = translate(
                language,
                "request.expired",
                amount=format_fen(made.amount),
                expired_at=deadline_time(made.expires_at),
            )
        await query.answer((line or error_text(language, ended))[:200], show_alert=True)
        await _drop_button(context, query, token, line)
        return
    except WalletError as refused:  # not theirs, or no such request
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    person = await wallet.users.get(cancelled.payer_for) if cancelled.payer_for else None
    name = person.display_name if person else "?"
    amount = format_fen(cancelled.amount)
    line = translate(language, "split.share_cancelled", name=name, amount=amount)
    await _drop_button(context, query, token, line)
    if person is not None:
        told = translate(
            person.effective_language,
            "split.share_withdrawn",
            name=user.display_name,
            amount=amount,
        )
        await tell(context.bot, person.telegram_id, told, about="a cancelled split share")


async def _drop_button(context: WalletContext, query, token: str, line: str | None) -> None:
    """The tapped overview without the share's button, and ``line`` below (see
    :meth:`Overviews.drop`)."""
    message = query.message
    if message is not None:
        await overviews(context.application).drop(context.bot, message, token, line)


class Overviews:
    """The splits' overviews this process drew: where each share's ✖ is (the newest
    ``DRAWN_KEPT`` overviews), and each overview as last drawn.

    A tap's own copy of the message is as it was when tapped, so two quick taps would
    each undo the other's edit: an overview is redrawn from how it was last drawn. A
    share paid is said on its overview too, its button gone (:func:`share_paid`).
    """

    def __init__(self) -> None:
        self._drawn: OrderedDict[tuple[int, int], tuple[str, tuple]] = OrderedDict()
        self._where: dict[str, tuple[int, int]] = {}  # a share's token → its overview

    def saw(self, message: Message) -> None:
        """A message with buttons was sent or edited (``WalletBot.watch_buttons``)."""
        rows = tuple(message.reply_markup.inline_keyboard)
        tokens = [
            b.callback_data[len(CANCEL) :]
            for row in rows
            for b in row
            if isinstance(b.callback_data, str) and b.callback_data.startswith(CANCEL)
        ]
        if not tokens:
            return
        where = (message.chat_id, message.message_id)
        for token in tokens:
            self._where[token] = where
        if where not in self._drawn:  # first drawn (later, drop() keeps it: see above)
            self._remember(where, message.text, rows)

    def _remember(self, where: tuple[int, int], text: str, rows: tuple) -> None:
        self._drawn[where] = (text, rows)
        self._drawn.move_to_end(where)
        while len(self._drawn) > DRAWN_KEPT:
            gone, _ = self._drawn.popitem(last=False)
            for token in [t for t, w in self._where.items() if w == gone]:
                del self._where[token]

    def where(self, token: str) -> tuple[int, int] | None:
        return self._where.get(token)

    async def drop(
        self, bot, message: Message | tuple[int, int], token: str, line: str | None
    ) -> None:
        """The overview without the share's button, and ``line`` (what became of it)
        below; nothing if its button went already (said already)."""
        if isinstance(message, tuple):
            where, drawn = message, self._drawn.get(message)
            if drawn is None:
                return
        else:
            where = (message.chat_id, message.message_id)
            drawn = self._drawn.get(where) or (
                message.text,
                tuple(message.reply_markup.inline_keyboard if message.reply_markup else ()),
            )
        text, rows = drawn
        data = f"{CANCEL}{token}"
        kept = tuple(row for row in rows if not any(b.callback_data == data for b in row))
        if len(kept) == len(rows):
            return
        rows, text = kept, text + ("\n" + line if line else "")
        self._remember(where, text, rows)
        self._where.pop(token, None)
        markup = InlineKeyboardMarkup(rows) if rows else None
        try:
            await bot.edit_message_text(text, where[0], where[1], reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():  # a second tap: said already
                raise


def overviews(application) -> Overviews:
    """The application's :class:`Overviews`, watching its bot's messages from the first
    call (made when the application is built), and told of each request paid."""
    found = application.bot_data.get(_DRAWN)
    if found is None:
        found = application.bot_data[_DRAWN] = Overviews()
        watch = getattr(application.bot, "watch_buttons", None)  # a WalletBot's
        if watch is not None:
            watch(found.saw)
        after_paid(application, share_paid)
    return found


async def share_paid(context: WalletContext, payment: RequestPayment) -> None:
    """A share paid: its overview says so, its ✖ gone (when this process drew it)."""
    shown = overviews(context.application)
    where = shown.where(payment.request.token)
    if where is None:
        return
    language = payment.requester.effective_language
    line = translate(
        language,
        "split.share_paid_now",
        name=payment.payer.display_name,
        amount=format_fen(payment.request.amount),
    )
    try:
        await shown.drop(context.bot, where, payment.request.token, line)
    except TelegramError as exc:  # deleted meanwhile, say: its ✖ tap says who paid
        log.info("could not mark a split share paid on its overview: %s", exc)


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
    return [command("split", split), CallbackQueryHandler(cancel_press, pattern=CANCEL_TAP)]
