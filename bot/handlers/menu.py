"""The main menu's buttons that open a feature's own answer, and its two small menus
(security; coupons, points and the pay code).

The menu itself is :func:`bot.handlers.start.menu_markup`; Balance, Help, Language and
Support are answered by their features, the guided flows by :mod:`bot.handlers.guided`.
Each button here answers as its command without arguments would (the same function), so
a tap and a typed command never disagree.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.handlers import history, merchant, offers, paycode, pin, security, statement, topup
from bot.handlers.context import WalletContext, current_user, language_of
from bot.handlers.start import ADMIN_ROW, MENU_PREFIX, MENU_ROWS, SHOP_ROW, menu_for
from bot.i18n import translate

__all__ = ["BUTTONS", "handlers"]

MAIN = f"{MENU_PREFIX}main"
SECURITY = f"{MENU_PREFIX}security"
MORE = f"{MENU_PREFIX}more"
SCAN = f"{MENU_PREFIX}scan"

# the button's data -> the command's function, answered as the command with no arguments
OPENS = {
    f"{MENU_PREFIX}topup": topup.topup,
    f"{MENU_PREFIX}history": history.history,
    f"{MENU_PREFIX}statement": statement.statement,
    f"{MENU_PREFIX}s:pin": pin.setpin,
    f"{MENU_PREFIX}s:2fa": security.two_factor,
    f"{MENU_PREFIX}s:nopin": security.password_free,
    f"{MENU_PREFIX}s:verify": security.verify,
    f"{MENU_PREFIX}s:card": security.bind_card,
    f"{MENU_PREFIX}o:coupons": offers.coupons,
    f"{MENU_PREFIX}o:points": offers.points,
    f"{MENU_PREFIX}o:paycode": paycode.paycode,
    f"{MENU_PREFIX}shop": merchant.shop,
    f"{MENU_PREFIX}sales": merchant.sales,
}
SUBMENUS = {
    SECURITY: (
        "menu.security_title",
        (("s:pin", "menu.pin"), ("s:2fa", "menu.2fa")),
        (("s:nopin", "menu.nopin"), ("s:verify", "menu.verify")),
        (("s:card", "menu.card"),),
    ),
    MORE: (
        "menu.more_title",
        (("o:coupons", "menu.coupons"), ("o:points", "menu.points")),
        (("o:paycode", "menu.paycode"),),
    ),
}


# the data of every button of the main menu (a merchant's too) and its two small menus (Back
# to the main one too)
BUTTONS = frozenset(
    [data for row in (*MENU_ROWS, SHOP_ROW, ADMIN_ROW) for data, _ in row]
    + [*OPENS, *SUBMENUS, MAIN, SCAN]
)


def submenu_markup(language: str, data: str) -> InlineKeyboardMarkup:
    _, *rows = SUBMENUS[data]
    keys = [
        [
            InlineKeyboardButton(translate(language, key), callback_data=f"{MENU_PREFIX}{item}")
            for item, key in row
        ]
        for row in rows
    ]
    keys.append([InlineKeyboardButton(translate(language, "guided.back"), callback_data=MAIN)])
    return InlineKeyboardMarkup(keys)


async def open_feature(update: Update, context: WalletContext) -> None:
    """Answer a menu button as its command with no arguments."""
    await update.callback_query.answer()
    context.args = []
    await OPENS[update.callback_query.data](update, context)


async def open_submenu(update: Update, context: WalletContext) -> None:
    """Show the security menu or the offers menu in place of the main one."""
    query = update.callback_query
    await query.answer()
    language = language_of(update, await current_user(update, context))
    title = translate(language, SUBMENUS[query.data][0])
    await query.edit_message_text(title, reply_markup=submenu_markup(language, query.data))


async def main_menu(update: Update, context: WalletContext) -> None:
    """Back to the main menu."""
    query = update.callback_query
    await query.answer()
    user = await current_user(update, context)
    language = language_of(update, user)
    await query.edit_message_text(
        translate(language, "guided.menu"),
        reply_markup=await menu_for(context, language, user.telegram_id if user else None),
    )


async def scan(update: Update, context: WalletContext) -> None:
    """Say how to pay by QR code: send its photo here."""
    await update.callback_query.answer()
    language = language_of(update, await current_user(update, context))
    await update.effective_chat.send_message(translate(language, "menu.scan_how"))


def _exactly(*data: str) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(re.escape(d) for d in data) + r")\Z")


def handlers() -> list:
    return [
        CallbackQueryHandler(open_feature, pattern=_exactly(*OPENS)),
        CallbackQueryHandler(open_submenu, pattern=_exactly(*SUBMENUS)),
        CallbackQueryHandler(main_menu, pattern=_exactly(MAIN)),
        CallbackQueryHandler(scan, pattern=_exactly(SCAN)),
    ]
