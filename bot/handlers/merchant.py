"""Merchants' commands: registering one, its codes, its takings and refunds.

- ``/merchant_add <user> <name> [category]`` (admins): the person becomes a merchant and
  is sent their static collection code (``/shop`` shows it again).
- ``/charge <amount>``: a one-time code of a fixed amount (``bot.handlers.merchant_pay``
  shows its card). ``/sales``: today's and this month's takings and the merchant
  account's balance. ``/merchant_refund <payment> [amount]``: give (part of) a payment
  back to its payer, after the owner's PIN (the shop's money leaves it); both are told.

The merchant account is separate from the owner's wallet: payments land there and
refunds leave from it; ``/sales`` shows its balance and ``/settle [amount]`` moves it to
the owner's wallet, from which ``/withdraw`` pays out as for anyone.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.domain.errors import AmountError, InsufficientFunds, WalletError
from bot.domain.merchant_errors import (
    MerchantPaymentIdInvalid,
    MerchantPaymentNotFound,
    NotAMerchant,
    ShopFrozen,
)
from bot.domain.merchants import Charge, Merchant, MerchantRefund, RecentSale, Sales
from bot.domain.money import amount_words, format_fen, parse_amount
from bot.handlers import merchant_pay
from bot.handlers.cards import card_pattern
from bot.handlers.context import (
    WalletContext,
    admin_in_private,
    admin_only,
    command,
    error_text,
    private_link,
    private_user,
)
from bot.handlers.merchant_pay import PAY_LINK, Amounts, card_press, static_link
from bot.handlers.offers_text import category_label
from bot.handlers.outbox import reply, tell
from bot.handlers.pin import keypad_markup, keypad_text
from bot.handlers.start import MENU_SALES
from bot.i18n import translate
from bot.render.labels import deadline_time, short_time
from bot.render.qr import qr_png
from bot.wallet.merchants import REFUND_CONFIRMATION

__all__ = ["handlers"]


# Merchant commands ------------------------------------------------------------------------


def _add_args(args: list[str]) -> tuple[str, str, str] | None:
    if len(args) < 2:
        return None
    if len(args) == 2:
        return args[0], args[1], ""
    return args[0], " ".join(args[1:-1]), args[-1]


@admin_only
async def merchant_add(update: Update, context: WalletContext, user, language) -> None:
    """Register a person as a merchant (admins only, in the private chat)."""
    if not await admin_in_private(update, context, language):
        return
    wallet = context.wallet
    parsed = _add_args(list(context.args or []))
    if parsed is None:
        await reply(update, context, translate(language, "merchant.add_usage"))
        return
    who, name, category = parsed
    try:
        owner = await wallet.admin.find_user(who)
        merchant = await wallet.merchants.add(user.telegram_id, owner, name, category)
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "merchant.add_usage")
        await reply(update, context, text)
        return
    added = translate(
        language,
        "merchant.added",
        name=merchant.name,
        category=category_label(language, merchant.category),
        owner=owner.display_name,
        id=merchant.id,
    )
    shops = await wallet.merchants.categories()
    if shops.get(merchant.category) == 1 and len(shops) > 1:  # a typo of a category?
        others = ", ".join(sorted(shops))
        added += "\n" + translate(
            language, "merchant.new_category", category=merchant.category, categories=others
        )
    await reply(update, context, added)
    told = owner.effective_language
    try:
        await context.bot.send_photo(
            owner.telegram_id,
            qr_png(static_link(context, merchant)),
            caption=shop_caption(context, told, merchant),
        )
    except Exception:
        await tell(
            context.bot,
            owner.telegram_id,
            shop_caption(context, told, merchant),
            about="a new merchant",
        )


@admin_only
async def merchants(update: Update, context: WalletContext, user, language) -> None:
    """The shops by number, with their owners, accounts and state (admins only, in the
    private chat): ``/merchants [page]``."""
    if not await admin_in_private(update, context, language):
        return
    args = list(context.args or [])
    page = args[0].removeprefix("#") if args else "1"
    if len(args) > 1 or not (page.isascii() and page.isdigit()) or len(page) > 6:
        await reply(update, context, translate(language, "merchants.usage"))
        return
    listing = await context.wallet.merchants.listing(int(page))
    if not listing.total:
        await reply(update, context, translate(language, "merchants.none"))
        return
    lines = [
        translate(
            language,
            "merchants.title",
            total=listing.total,
            page=listing.page,
            pages=listing.pages,
        )
    ]
    for shop in listing.shops:
        owner = shop.owner
        name = owner.display_name if owner else str(shop.merchant.owner_id)
        if owner is not None and owner.username:
            name += f" (@{owner.username})"
        line = translate(
            language,
            "merchants.line",
            id=shop.merchant.id,
            name=shop.merchant.name,
            category=category_label(language, shop.merchant.category),
            owner=name,
            balance=format_fen(shop.balance),
        )
        if shop.frozen:
            line += " · " + translate(language, "merchants.frozen")
        lines.append(line)
    if listing.page < listing.pages:
        lines.append(translate(language, "merchants.more", next=listing.page + 1))
    await reply(update, context, "\n".join(lines))


def shop_caption(context: WalletContext, language: str, merchant: Merchant) -> str:
    return translate(
        language,
        "merchant.shop",
        name=merchant.name,
        category=category_label(language, merchant.category),
        link=static_link(context, merchant),
    )


async def _merchant_user(update: Update, context: WalletContext) -> tuple:
    """The merchant behind a private-chat command, or (None, …) after saying why not."""
    user, language = await private_user(update, context, "merchant.private_only")
    if user is None:
        return None, None, language
    try:
        merchant = await context.wallet.merchants.mine(user.telegram_id)
    except NotAMerchant as refused:
        await reply(update, context, error_text(language, refused))
        return None, None, language
    return user, merchant, language


async def shop(update: Update, context: WalletContext) -> None:
    """Show the merchant's static collection code."""
    _, merchant, language = await _merchant_user(update, context)
    if merchant is None:
        return
    sales_button = InlineKeyboardButton(translate(language, "menu.sales"), callback_data=MENU_SALES)
    await update.effective_message.reply_photo(
        qr_png(static_link(context, merchant)),
        caption=shop_caption(context, language, merchant),
        reply_markup=InlineKeyboardMarkup([[sales_button]]),
    )


async def charge(update: Update, context: WalletContext) -> None:
    """A one-time code for a fixed amount."""
    user, merchant, language = await _merchant_user(update, context)
    if merchant is None:
        return
    amount, rest = amount_words(context.args) if context.args else ("", ["?"])
    if rest:  # no amount, or words after it ("10 元" is an amount)
        await reply(update, context, translate(language, "merchant.charge_usage"))
        return
    try:
        merchant, made = await context.wallet.merchants.charge(user.telegram_id, amount)
    except ShopFrozen as frozen:  # nothing mistyped: no usage line
        await reply(update, context, error_text(language, frozen))
        return
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "merchant.charge_usage")
        await reply(update, context, text)
        return
    await update.effective_message.reply_photo(
        qr_png(charge_link(context, made)),
        caption=charge_caption(context, language, merchant, made),
    )


def charge_link(context: WalletContext, made: Charge) -> str:
    return private_link(context, f"{PAY_LINK}{made.token}")


def charge_caption(context: WalletContext, language: str, merchant: Merchant, made: Charge) -> str:
    return translate(
        language,
        "merchant.charge_made",
        amount=format_fen(made.amount),
        name=merchant.name,
        deadline=deadline_time(made.expires_at),
        link=charge_link(context, made),
    )


def sales_text(language: str, sales: Sales) -> str:
    def takings(key: str, label: str, t) -> str:
        return translate(
            language,
            key,
            label=label,
            count=t.count,
            gross=format_fen(t.gross),
            refunds=format_fen(t.refunds),
            net=format_fen(t.net),
        )

    lines = [
        translate(language, "merchant.sales_title", name=sales.merchant.name),
        takings("merchant.sales_today", "", sales.today),
        takings("merchant.sales_month", sales.month_label, sales.month),
        translate(language, "merchant.sales_balance", balance=format_fen(sales.balance)),
    ]
    if sales.recent:
        lines += ["", translate(language, "merchant.sales_recent")]
        lines += [_sale_line(language, sale) for sale in sales.recent]
    return "\n".join(lines)


def _sale_line(language: str, sale: RecentSale) -> str:
    """``#12  12-06 14:05  Bob  ¥30.00`` and what of it was refunded."""
    payment = sale.payment
    line = translate(
        language,
        "merchant.sales_line",
        id=payment.id,
        time=short_time(payment.created_at),
        name=sale.payer_name,
        amount=format_fen(payment.price),
    )
    refunded = payment.paid_by_payer - sale.left
    if sale.left == 0 and refunded > 0:
        # all of it given back: the coupon's discount went back to the promotion too, as
        # the day's refunds count it
        refunded = payment.price
    if refunded > 0:
        line += translate(language, "merchant.sales_refunded", amount=format_fen(refunded))
    return line


async def sales(update: Update, context: WalletContext) -> None:
    """Today's and this month's takings."""
    user, merchant, language = await _merchant_user(update, context)
    if merchant is None:
        return
    found = await context.wallet.merchants.sales(user.telegram_id)
    await reply(update, context, sales_text(language, found))


# What /merchant_refund answers with its usage too: the shop's owner wrote it wrong (a
# refund already made, a frozen shop or a short balance is said on its own).
_TYPED_WRONG = (MerchantPaymentIdInvalid, MerchantPaymentNotFound, AmountError)


def _refund_args(args: list[str]) -> tuple[int, int | None]:
    if not args or len(args) > 2:
        raise ValueError
    number = args[0].removeprefix("#")
    if not (number.isascii() and number.isdigit()):
        raise MerchantPaymentIdInvalid(text=args[0][:20])
    if not 0 < int(number) < 2**63:
        raise MerchantPaymentNotFound(payment_id=number[:20])
    return int(number), parse_amount(args[1]) if len(args) == 2 else None


async def merchant_refund(update: Update, context: WalletContext) -> None:
    """Give (part of) a payment back to its payer, after the owner's PIN: the shop's
    money leaves it, so it is confirmed as a payment is."""
    user, merchant, language = await _merchant_user(update, context)
    if merchant is None:
        return
    wallet = context.wallet
    usage = translate(language, "merchant.refund_usage")
    try:
        payment_id, amount = _refund_args(list(context.args or []))
        _, wanted = await wallet.merchants.prepare_refund(user.telegram_id, payment_id, amount)
    except WalletError as refused:
        text = error_text(language, refused)
        if isinstance(refused, _TYPED_WRONG):  # a number or an amount mistyped: how to write it
            text += "\n" + usage
        await reply(update, context, text)
        return
    except ValueError:
        await reply(update, context, usage)
        return
    if not await wallet.pins.has_pin(user.telegram_id):
        await reply(update, context, translate(language, "pin_not_set"))
        return
    try:
        key = f"mrefund:{payment_id}:{user.telegram_id}:{update.effective_message.message_id}"
        payload = {"payment_id": payment_id, "amount": amount, "key": key}
        view = await wallet.pin_entry.start_confirmation(
            user.telegram_id, REFUND_CONFIRMATION, payload
        )
    except WalletError as refused:  # a locked PIN, say: nothing mistyped
        await reply(update, context, error_text(language, refused))
        return
    what = format_fen(wanted)
    if amount is None:  # all that is left: the amount, and that it is all
        what = translate(language, "merchant.refund_all", amount=what)
    ask = translate(language, "merchant.refund_confirm", what=what, id=payment_id)
    text = ask + "\n\n" + keypad_text(language, view)
    await reply(update, context, text, reply_markup=keypad_markup(view))


async def refunded_text(context: WalletContext, language: str, refund: MerchantRefund) -> str:
    """The owner's answer once the PIN let the refund go (the keypad's outcome); the
    payer is told now, unless this replays an earlier refund (told then)."""
    if not refund.replayed:
        merchant = await context.wallet.merchants.get(refund.payment.merchant_id)
        await _tell_payer(context, merchant, refund)
    return refund_text(language, refund)


async def settle(update: Update, context: WalletContext) -> None:
    """Move the shop's money to the owner's own wallet (all of it, or an amount)."""
    user, merchant, language = await _merchant_user(update, context)
    if merchant is None:
        return
    args = list(context.args or [])
    if len(args) > 1:
        await reply(update, context, translate(language, "merchant.settle_usage"))
        return
    key = f"msettle:{user.telegram_id}:{update.effective_message.message_id}"
    try:
        moved = await context.wallet.merchants.settle(
            user.telegram_id, args[0] if args else None, key
        )
    except WalletError as refused:
        if not args and isinstance(refused, InsufficientFunds):  # "all of it", and it is 0
            amount = format_fen(refused.params.get("available", 0))
            text = translate(language, "merchant.settle_nothing", amount=amount)
            await reply(update, context, text)
            return
        text = error_text(language, refused)
        if isinstance(refused, AmountError):  # mistyped: how to write it
            text += "\n" + translate(language, "merchant.settle_usage")
        await reply(update, context, text)
        return
    left = await context.wallet.ledger.balance(merchant.account_id)
    text = translate(
        language,
        "merchant.settled",
        amount=format_fen(moved.amount),
        name=merchant.name,
        left=format_fen(left.available),
    )
    await reply(update, context, text)


def refund_text(language: str, refund: MerchantRefund) -> str:
    text = translate(
        language,
        "merchant.refunded",
        amount=format_fen(refund.amount),
        id=refund.payment.id,
        left=format_fen(refund.left),
    )
    if refund.discount_back:  # all of it given back: the coupon's part goes back too
        back = format_fen(refund.discount_back)
        text += "\n" + translate(language, "merchant.refunded_discount", amount=back)
    return text


async def _tell_payer(context: WalletContext, merchant: Merchant, refund: MerchantRefund) -> None:
    payer = await context.wallet.users.get(refund.payment.payer_id)
    told = payer.effective_language if payer else "en"
    text = translate(
        told,
        "merchant.refund_notice",
        name=merchant.name,
        amount=format_fen(refund.amount),
        id=refund.payment.id,
    )
    # where it went: a voucher's part back on the voucher, or, that voucher expired
    # since, on to its issuer
    live = refund.voucher - refund.voucher_lapsed
    if live:
        key = "merchant.refund_split" if refund.own else "merchant.refund_to_vouchers"
        text += "\n" + translate(told, key, own=format_fen(refund.own), voucher=format_fen(live))
    elif refund.voucher and refund.own:
        text += "\n" + translate(told, "merchant.refund_own_only", own=format_fen(refund.own))
    if refund.voucher_lapsed:
        lapsed = format_fen(refund.voucher_lapsed)
        text += "\n" + translate(told, "merchant.refund_lapsed", voucher=lapsed)
    if refund.discount_back and refund.payment.coupon_id is not None:
        text += "\n" + translate(told, "merchant.refund_coupon_back")
    await tell(context.bot, refund.payment.payer_id, text, about="a merchant refund")


def handlers() -> tuple[list, Amounts]:
    """The merchant commands, the pay card and the answer to "how much?"; the links'
    shows are the :class:`Amounts`' and :func:`show_charge` (registered with the others
    sharing their prefixes, see ``bot.handlers.register``)."""
    amounts = Amounts()
    answer = amounts.asked() & filters.TEXT & ~filters.COMMAND
    return [
        command("merchant_add", merchant_add),
        command("merchants", merchants),
        command("charge", charge),
        command("sales", sales),
        command("shop", shop),
        command("merchant_refund", merchant_refund),
        command("settle", settle),
        CallbackQueryHandler(card_press, pattern=card_pattern(merchant_pay.CARD)),
        MessageHandler(answer, amounts.answer),
    ], amounts
