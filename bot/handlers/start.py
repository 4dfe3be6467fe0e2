"""/start, /menu, /help and the main menu; the frame of every ``/start <payload>`` link.

A feature that owns a deep link (``t.me/<bot>?start=<prefix><rest>``) adds a handler of
its own made by :func:`start_link` (PTB's deep-linking pattern: a ``/start`` handler per
payload, each before the plain one, which :func:`bot.handlers.register` keeps last). So
this module knows no feature: a link it does not know, or one whose thing is gone,
reaches the plain /start, which says the link is not valid and shows the menu.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.domain.money import format_fen
from bot.domain.users import User
from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    is_admin,
    is_private,
    language_of,
    private_link,
)
from bot.handlers.outbox import reply
from bot.i18n import translate

__all__ = [
    "MENU_BALANCE",
    "MENU_HELP",
    "MENU_LANGUAGE",
    "MENU_PREFIX",
    "MENU_SUPPORT",
    "MENU_TOPUP",
    "Links",
    "by_taps_markup",
    "follow",
    "handlers",
    "menu_for",
    "menu_markup",
    "start_link",
]

MENU = MENU_PREFIX = "m:"
MENU_BALANCE = "m:balance"
MENU_HELP = "m:help"
MENU_LANGUAGE = "m:lang"
MENU_SUPPORT = "m:support"
MENU_TOPUP = "m:topup"

# Shows what a link's ``rest`` names in the private chat; False: there is no such thing.
Show = Callable[[Update, WalletContext, str], Awaitable[bool]]
# The shows of each link prefix, for links followed another way than /start (a scanned code).
Links = Mapping[str, Sequence[Show]]


# The main menu, two or three buttons a row: every feature a resident uses is one tap away (the
# security settings and the offers two: their own menus). Each button's feature owns
# its handler; the guided flows (send, request, packet, withdraw) are bot.handlers.guided.
MENU_ROWS = (
    ((MENU_BALANCE, "menu.balance"), (MENU_TOPUP, "menu.topup")),
    ((f"{MENU}send", "menu.send"), (f"{MENU}request", "menu.request")),
    ((f"{MENU}packet", "menu.packet"), (f"{MENU}split", "menu.split")),
    (("m:scan", "menu.scan"), ("m:history", "menu.history")),
    (("m:statement", "menu.statement"), (f"{MENU}withdraw", "menu.withdraw")),
    (("m:more", "menu.more"), ("m:security", "menu.security")),
    ((MENU_LANGUAGE, "menu.language"), (MENU_HELP, "menu.help"), (MENU_SUPPORT, "menu.support")),
)


# a merchant's menu has one row more, above the last: the shop's code and its takings
MENU_SALES = f"{MENU}sales"
SHOP_ROW = ((f"{MENU}shop", "menu.shop"), (MENU_SALES, "menu.sales"))
# an admin's menu ends with the admin console (bot.handlers.admin)
MENU_ADMIN = "adm:console"
ADMIN_ROW = ((MENU_ADMIN, "menu.admin"),)


def menu_markup(
    language: str, context: WalletContext, *, shop: bool = False, admin: bool = False
) -> InlineKeyboardMarkup:
    """The main menu; without a payment provider, no Top up button (it could only say so);
    with ``shop`` (the person runs one, :func:`menu_for`), the shop's row; with ``admin``
    (an admin's), the admin console's button last."""
    hidden = set() if context.wallet.topups.enabled else {MENU_TOPUP}
    rows = [*MENU_ROWS[:-1], SHOP_ROW, MENU_ROWS[-1]] if shop else list(MENU_ROWS)
    if admin:
        rows = [*rows, ADMIN_ROW]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(translate(language, key), callback_data=_data(data, language))
                for data, key in row
                if data not in hidden
            ]
            for row in rows
        ]
    )


async def menu_for(
    context: WalletContext, language: str, telegram_id: int | None
) -> InlineKeyboardMarkup:
    """The main menu as this person sees it (a merchant's has the shop's row, an
    admin's the console's button)."""
    shop = telegram_id is not None and await context.wallet.merchants.runs_shop(telegram_id)
    admin = telegram_id is not None and telegram_id in context.wallet.settings.admin_ids
    return menu_markup(language, context, shop=shop, admin=admin)


def _data(data: str, language: str) -> str:
    """A button's data; the language button's names the language its label offers (the
    other one), so that an old menu's button still sets what it says."""
    if data == MENU_LANGUAGE:
        return f"{MENU_LANGUAGE}:{'en' if language == 'zh' else 'zh'}"
    return data


def by_taps_markup(language: str, kind: str) -> InlineKeyboardMarkup:
    """The menu's button of one guided flow (``send``, ``request``…): under a command's
    usage, the same thing step by step."""
    label = next(key for row in MENU_ROWS for data, key in row if data == f"{MENU}{kind}")
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(translate(language, label), callback_data=f"{MENU}{kind}")]]
    )


async def help_text(
    language: str, update: Update, context: WalletContext, user: User | None
) -> str:
    if not is_private(update):
        return translate(language, "help.group", link=private_link(context))
    # /topup only where top-ups are set up (else it could only say they are not)
    topup = translate(language, "help.topup") if context.wallet.topups.enabled else ""
    text = translate(language, "help.private", topup=topup)
    if user is not None and await context.wallet.merchants.runs_shop(user.telegram_id):
        *lines, last = text.split("\n")  # the shop's commands, before "/help – this list"
        text = "\n".join([*lines, translate(language, "help.merchant"), last])
    if is_admin(context, user):
        text += "\n\n" + translate(language, "help.admin")
    return text


async def _arrive(update: Update, context: WalletContext) -> tuple[User | None, User | None]:
    """The person as the wallet knew them before this /start (None: new to it), and now
    (registered; None for a bot)."""
    person = update.effective_user
    before = await context.wallet.users.get(person.id) if person else None
    return before, await current_user(update, context)


async def _welcome(update: Update, context: WalletContext, before, user, *, bad_link: bool):
    """The welcome with the balance and the menu; first saying a link was not valid."""
    language = language_of(update, user)
    balance = await context.wallet.ledger.balance(user.account_id)
    lines = [translate(language, "start.bad_link")] if bad_link else []
    greeting = (
        "start.welcome_back" if before is not None and before.private_chat else "start.welcome"
    )
    lines.append(
        translate(language, greeting, name=user.display_name, balance=format_fen(balance.available))
    )
    await update.effective_message.reply_text(
        "\n\n".join(lines), reply_markup=await menu_for(context, language, user.telegram_id)
    )


async def _open(update: Update, context: WalletContext, *, bad_link: bool) -> None:
    """The wallet and its menu in a private chat; in a group, the way to the private chat."""
    before, user = await _arrive(update, context)
    if user is None:
        return
    if not is_private(update):
        language = language_of(update, user)
        await reply(update, context, translate(language, "help.group", link=private_link(context)))
        return
    await _welcome(update, context, before, user, bad_link=bad_link)


async def start(update: Update, context: WalletContext) -> None:
    """Open the user's wallet and show the menu."""
    # a payload no feature took: an unknown link (a feature's own links come to its handler)
    await _open(update, context, bad_link=bool(context.args))


async def menu_command(update: Update, context: WalletContext) -> None:
    """Show the main menu, as /start does."""
    await _open(update, context, bad_link=False)


def start_link(prefix: str, *shows: Show) -> CommandHandler:
    """The handler of ``/start <prefix><rest>`` in a private chat.

    The first of ``shows`` that finds what ``rest`` names answers (``context.first_visit``
    says whether the person is new to the private chat); when none does, the welcome says
    the link is not valid, as for any unknown link. In a group a link is not followed:
    the plain /start points to the private chat.
    """
    link = re.compile(rf"^/start(?:@\w+)?\s+{re.escape(prefix)}(\S*)")

    async def open_link(update: Update, context: WalletContext) -> None:
        """Show what the link names, or the menu saying the link is not valid."""
        before, user = await _arrive(update, context)
        if user is None:
            return
        rest = context.match.group(1)
        context.first_visit = before is None or not before.private_chat
        for show in shows:
            if await show(update, context, rest):
                return
        await _welcome(update, context, before, user, bad_link=True)

    only = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.Regex(link)
    return CommandHandler("start", open_link, filters=only)


async def follow(update: Update, context: WalletContext, payload: str, links: Links) -> bool:
    """Show what a link's ``payload`` names, as ``/start <payload>`` would (the shows of
    its prefix in ``links``, in order); False when none takes it."""
    for prefix, shows in links.items():
        if payload.startswith(prefix):
            for show in shows:
                if await show(update, context, payload[len(prefix) :]):
                    return True
    return False


async def help_command(update: Update, context: WalletContext) -> None:
    """List the commands of this kind of chat."""
    user = await current_user(update, context)
    text = await help_text(language_of(update, user), update, context, user)
    await reply(update, context, text)


async def menu_help(update: Update, context: WalletContext) -> None:
    """Show the help from the menu."""
    await update.callback_query.answer()
    user = await current_user(update, context)
    await update.effective_message.reply_text(
        await help_text(language_of(update, user), update, context, user)
    )


def handlers() -> list:
    """/start (the plain one: register it after every feature's :func:`start_link`),
    /menu, /help and the menu's help button."""
    return [
        command("start", start),
        command("menu", menu_command),
        command("help", help_command),
        CallbackQueryHandler(menu_help, pattern=f"^{MENU_HELP}$"),
    ]
