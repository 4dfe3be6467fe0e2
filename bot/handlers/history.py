"""/history: the newest transfers with Older/Newer buttons, and /history <id> for one in full.

A page button carries only the id of a server-side action bound to the person who asked
(``hist:<action id>:o`` for older, ``:n`` for newer); the action holds the page's
cursors. Someone else's button, a forged one or an expired one shows nothing. Turning
the page uses its action up: the new page comes with buttons of its own, so a button of
a page already turned (a double tap, an old view of the message) says it is no longer
active instead of doing nothing.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.domain.history import REQUEST_PAID, EntryState, HistoryView, Party, TransferDetail
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer, TransferFlag
from bot.domain.money import format_fen
from bot.domain.security_errors import ActionAlreadyUsed
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
from bot.handlers.support import dispute_markup
from bot.i18n import translate
from bot.render.labels import (
    amount_text,
    counterparty_label,
    full_time,
    kind_label,
    line_text,
    party_label,
)
from bot.wallet.history import refunded_id

log = logging.getLogger(__name__)

PAGE = "hist:"
PURPOSE = "history_page"
PAGE_TTL_S = 60 * 60
OLDER, NEWER = "o", "n"
PAGE_TAP = button_pattern(PAGE, ID, f"[{OLDER}{NEWER}]")


def page_text(language: str, view: HistoryView) -> str:
    if not view.lines:
        return translate(language, "history.empty")
    lines = [translate(language, "history.title")]
    lines.extend(line_text(language, line) for line in view.lines)
    lines.append(translate(language, "history.hint"))
    return "\n".join(lines)


async def page_markup(
    context: WalletContext, telegram_id: int, language: str, view: HistoryView
) -> InlineKeyboardMarkup | None:
    """Older/Newer buttons behind one action holding this page's cursors."""
    if view.older is None and view.newer is None:
        return None
    action = await context.wallet.actions.create(
        telegram_id, PURPOSE, {"older": view.older, "newer": view.newer}, ttl_s=PAGE_TTL_S
    )
    row = []
    if view.newer is not None:
        label = translate(language, "history.newer")
        row.append(InlineKeyboardButton(label, callback_data=f"{PAGE}{action.id}:{NEWER}"))
    if view.older is not None:
        label = translate(language, "history.older")
        row.append(InlineKeyboardButton(label, callback_data=f"{PAGE}{action.id}:{OLDER}"))
    return InlineKeyboardMarkup([row])


def _name(language: str, party: Party, account_id: int, detail: TransferDetail) -> str:
    if party.account_id == account_id:
        return translate(language, "history.you", name=party_label(language, party))
    return counterparty_label(language, party, detail.line.packet)


def _state(language: str, transfer: Transfer, resolution: Transfer | None) -> str:
    if transfer.flag is TransferFlag.PENDING:
        if resolution is None:
            return translate(language, "history.state.reserved_open")
        key = {
            TransferFlag.POST_PENDING: "history.state.reserved_posted",
            TransferFlag.VOID_PENDING: "history.state.reserved_voided",
        }.get(resolution.flag, "history.state.reserved_expired")
        return translate(language, key, time=full_time(resolution.created_at), id=resolution.id)
    key = {
        TransferFlag.POST_PENDING: "history.state.posts",
        TransferFlag.VOID_PENDING: "history.state.voids",
        TransferFlag.EXPIRE_PENDING: "history.state.expires",
    }.get(transfer.flag)
    if key is None:
        return translate(language, "history.state.completed")
    return translate(language, key, id=transfer.pending_id)


# Kinds whose detail is titled by their own name ("Top-up #2"); any other is a
# "Transaction #N", its kind named on the line below.
_TITLED_KINDS = frozenset(
    {
        TransferKind.TRANSFER,
        TransferKind.TIP,
        TransferKind.TOPUP,
        TransferKind.WITHDRAW,
        REQUEST_PAID,
    }
)


def detail_title(language: str, transfer_id: int, kind: str) -> str:
    titled = kind in _TITLED_KINDS
    key = f"history.detail_title.{kind}" if titled else "history.detail_title"
    return translate(language, key, id=transfer_id)


def detail_text(language: str, detail: TransferDetail, account_id: int) -> str:
    transfer = detail.transfer
    text = translate(
        language,
        "history.detail",
        title=detail_title(language, transfer.id, detail.line.kind),
        time=full_time(transfer.created_at),
        kind=kind_label(language, detail.line.kind),  # a paid request is named so
        debit=_name(language, detail.debit, account_id, detail),
        credit=_name(language, detail.credit, account_id, detail),
        amount=amount_text(language, detail.line),
    )
    if detail.memo:
        text += "\n" + translate(language, "history.detail_memo", memo=detail.memo)
    refunded = refunded_id(transfer)
    if refunded is not None:
        text += "\n" + translate(language, "history.detail_refund_of", id=refunded)
    state = _state(language, transfer, detail.resolution)
    if detail.refunds:
        state = _refunded(language, detail)
    return text + "\n" + translate(language, "history.detail_state", state=state)


def _refunded(language: str, detail: TransferDetail) -> str:
    """A payment given back, in full or in part, and by which refunds."""
    refunds = "; ".join(
        translate(
            language,
            "history.refund_item",
            amount=format_fen(refund.amount),
            time=full_time(refund.created_at),
            id=refund.id,
        )
        for refund in detail.refunds
    )
    if detail.refunded_in_full:
        return translate(language, "history.state.refunded_full", refunds=refunds)
    return translate(
        language,
        "history.state.refunded_part",
        back=format_fen(detail.refunded),
        amount=format_fen(detail.transfer.amount),
        refunds=refunds,
    )


_MOVED_NOTHING = (EntryState.RELEASED, EntryState.EXPIRED)


def detail_markup(language: str, detail: TransferDetail) -> InlineKeyboardMarkup | None:
    """Dispute, unless the payment was given back in full already, or it moved no money
    (a reservation released or expired: there is nothing to dispute)."""
    if detail.refunded_in_full or detail.line.state in _MOVED_NOTHING:
        return None
    resolution = detail.resolution  # a reservation: released or expired since, say
    if resolution is not None and not resolution.flag.moves_posted_balance:
        return None
    return dispute_markup(language, detail.transfer.id)


async def history(update: Update, context: WalletContext) -> None:
    """Show the newest page of the user's history, or one transfer (/history 42)."""
    user, language = await private_user(update, context, "history.private_only")
    if user is None:
        return
    message = update.effective_message
    if context.args:
        try:
            detail = await context.wallet.history.detail(user.account_id, " ".join(context.args))
        except WalletError as refused:
            await message.reply_text(error_text(language, refused))
            return
        await message.reply_text(
            detail_text(language, detail, user.account_id),
            reply_markup=detail_markup(language, detail),
        )
        return
    view = await context.wallet.history.page(user.account_id)
    markup = await page_markup(context, user.telegram_id, language, view)
    await message.reply_text(page_text(language, view), reply_markup=markup)


async def page_press(update: Update, context: WalletContext) -> None:
    """Show the older or newer page a history button points to."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    action_id, direction = context.match.groups()
    try:
        action = await context.wallet.actions.open_for(user.telegram_id, action_id, PURPOSE)
        await context.wallet.actions.finish(action)  # this page is replaced: once
    except ActionAlreadyUsed:
        await query.answer(translate(language, "callback.replaced"), show_alert=True)
        return
    except WalletError as refused:
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    reader = context.wallet.history
    older, newer = action.payload.get("older"), action.payload.get("newer")
    if direction == OLDER and isinstance(older, int):
        view = await reader.page(user.account_id, before=older)
    elif direction == NEWER and isinstance(newer, int):
        view = await reader.newer_page(user.account_id, after=newer)
    else:
        view = await reader.page(user.account_id)
    markup = await page_markup(context, user.telegram_id, language, view)
    try:
        await query.edit_message_text(page_text(language, view), reply_markup=markup)
    except TelegramError as error:
        if "not modified" in str(error).lower():  # a double tap shows the same page
            return
        # the old page's buttons are spent (deleted, too old, the network): a new page
        log.warning("could not turn a history page (%s); sending it anew", error)
        await context.bot.send_message(
            user.telegram_id, page_text(language, view), reply_markup=markup
        )


def handlers() -> list:
    return [
        command("history", history),
        CallbackQueryHandler(page_press, pattern=PAGE_TAP),
    ]
