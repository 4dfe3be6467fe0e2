"""What every handler shares: the wallet services, the current user, localized text."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CallbackContext, CommandHandler, ExtBot, filters

from bot.domain.errors import AccountFrozen, StorageError, WalletError
from bot.domain.money import format_fen
from bot.domain.users import Profile, User, resolve_language
from bot.handlers.outbox import reply
from bot.i18n import translate
from bot.render.labels import deadline_time, until_time

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.domain.ports import Database
    from bot.security.actions import Actions
    from bot.security.cipher import Keyring
    from bot.security.guard import PaymentGuard
    from bot.security.identity import Identity
    from bot.security.password_free import PasswordFree
    from bot.security.pin_entry import PinEntry
    from bot.security.pins import Pins
    from bot.security.twofactor import TwoFactor
    from bot.wallet.admin import Admin
    from bot.wallet.admin_copies import AdminCopies
    from bot.wallet.adminview import AdminView
    from bot.wallet.broadcasts import Broadcasts
    from bot.wallet.guided import Guides
    from bot.wallet.history import History
    from bot.wallet.ledger import Ledger
    from bot.wallet.merchants import Merchants
    from bot.wallet.notices import Notices
    from bot.wallet.offers import Offers
    from bot.wallet.paycodes import PayCodes
    from bot.wallet.payouts import Payouts
    from bot.wallet.redpackets import RedPackets
    from bot.wallet.refunds import Refunds
    from bot.wallet.requests import Requests
    from bot.wallet.statements import Statements
    from bot.wallet.support import Support
    from bot.wallet.topups import TopUps
    from bot.wallet.transfers import Transfers
    from bot.wallet.users import Users
    from bot.wallet.withdrawals import Withdrawals

__all__ = [
    "ID",
    "CardView",
    "Wallet",
    "WalletContext",
    "admin_in_private",
    "admin_only",
    "button_pattern",
    "command",
    "current_user",
    "error_text",
    "is_admin",
    "is_private",
    "language_of",
    "private_link",
    "private_user",
    "profile_of",
    "refusal_text",
    "refusal_with_usage",
    "replied_to",
    "topic_of",
]


@dataclass
class Wallet:
    """The services a running bot uses, over one open store."""

    settings: Settings
    store: Database  # the open database behind every port
    ledger: Ledger
    users: Users
    keyring: Keyring
    actions: Actions
    pins: Pins
    pin_entry: PinEntry
    identity: Identity
    two_factor: TwoFactor
    password_free: PasswordFree
    admin: Admin
    guard: PaymentGuard
    transfers: Transfers
    history: History
    statements: Statements
    requests: Requests
    topups: TopUps
    withdrawals: Withdrawals
    redpackets: RedPackets
    payouts: Payouts
    owned_gateway: object | None = None  # a payout gateway opened with the wallet
    adminview: AdminView | None = None  # /user and the /stats chart
    refunds: Refunds | None = None  # admin refunds (bot.wallet.refunds)
    support: Support | None = None  # support tickets and disputes
    broadcasts: Broadcasts | None = None  # an admin's message to everyone
    merchants: Merchants | None = None  # merchants and paying them
    paycodes: PayCodes | None = None  # customers' pay codes, collected by merchants
    offers: Offers | None = None  # coupons, consumption vouchers and points
    guides: Guides | None = None  # guided flows: Send, Request, Red packet by taps
    notices: Notices | None = None  # what the bot owes one person's chat, sent once
    copies: AdminCopies | None = None  # copies of a notice sent to several admins

    async def close(self) -> None:
        try:
            await self.store.close()
        finally:
            await _close_gateway(self.owned_gateway)


async def _close_gateway(gateway: object | None) -> None:
    """Close a payout gateway that holds something open (a connection, a session)."""
    close = getattr(gateway, "aclose", None) or getattr(gateway, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


WALLET_KEY = "wallet"
CARD_SHOWN_WITHIN_S = 10.0  # how long a later correction waits for the press's own text

log = logging.getLogger(__name__)


class CardView:
    """The card (in a private chat) a button press answers, for an outcome known only
    later to correct it: a red packet whose post waits its turn in a busy group."""

    def __init__(self, bot, message: Message) -> None:
        self._bot, self._chat_id, self._message_id = bot, message.chat.id, message.message_id
        self._shown = asyncio.Event()

    def shown(self) -> None:
        """The press's own answer is on the card now: a correction may follow it."""
        self._shown.set()

    async def correct(self, text: str) -> None:
        """Put ``text`` on the card, after the press's own answer; never raises."""
        try:
            await asyncio.wait_for(self._shown.wait(), CARD_SHOWN_WITHIN_S)
        except TimeoutError:
            pass  # the press's answer failed: the correction is the card's last word
        try:
            await self._bot.edit_message_text(text, self._chat_id, self._message_id)
        except TelegramError:
            log.warning("could not correct the card %s", self._message_id, exc_info=True)


class WalletContext(CallbackContext[ExtBot, dict, dict, dict]):
    """A callback context that hands handlers the wallet services."""

    def __init__(self, application: Application, chat_id=None, user_id=None) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        # a /start link opened by someone new to the private chat (set by start_link), so
        # what the link shows may greet them
        self.first_visit = False
        # the card a press answers (set by the card and the keypad), so an outcome known
        # only later may correct what the press said
        self.card: CardView | None = None

    @property
    def wallet(self) -> Wallet:
        return self.application.bot_data[WALLET_KEY]


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def replied_to(message: Message) -> Message | None:
    """The message ``message`` answers, if it is a reply a person made.

    In a forum topic Telegram gives every message the topic's first message (the
    ``forum_topic_created`` service message) as ``reply_to_message``; that is where the
    message was written, not whom it answers.
    """
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied


def topic_of(message: Message) -> int | None:
    """The forum topic ``message`` was written in (its ``message_thread_id``), if any."""
    return message.message_thread_id if message.is_topic_message else None


def profile_of(update: Update) -> Profile | None:
    """What Telegram says of the person behind the update (None for bots and channels)."""
    person = update.effective_user
    if person is None or person.is_bot:
        return None
    return Profile(
        telegram_id=person.id,
        username=person.username,
        first_name=person.first_name or "",
        language_code=person.language_code or "",
    )


async def current_user(update: Update, context: WalletContext) -> User | None:
    """The person behind the update, registered (with a wallet) if new."""
    profile = profile_of(update)
    if profile is None:
        return None
    return await context.wallet.users.seen(profile, private_chat=is_private(update))


def language_of(update: Update, user: User | None) -> str:
    if user is not None:
        return user.effective_language
    person = update.effective_user  # nobody the wallet could know: the district's default
    return resolve_language(None, person.language_code if person else None)


async def with_new_balance(
    context: WalletContext, language: str, text: str, account_id: int
) -> str:
    """A payer's receipt (private chat only) with their balance after it; the receipt
    alone when the balance cannot be read now (the money moved: never an error then)."""
    try:
        left = await context.wallet.ledger.balance(account_id)
    except WalletError:
        return text
    return text + translate(language, "transfer.your_balance", balance=format_fen(left.available))


def error_text(language: str, error: WalletError) -> str:
    """A domain error as a message: its code picks the text, money params become ¥,
    time params a Beijing date and time, until params the Beijing time it ends (rounded
    up to the minute).

    An error without a message of its own (a bug, not a user's mistake) reads as the
    generic apology rather than failing a second time.
    """
    params = {
        k: format_fen(v) if k in type(error).money_params and isinstance(v, int) else v
        for k, v in error.params.items()
    }
    for name in type(error).time_params:
        if isinstance(params.get(name), int):
            params[name] = deadline_time(params[name])
    for name in type(error).until_params:
        if isinstance(params.get(name), int):
            params[name] = until_time(params[name], int(time.time() * 1000))
    try:
        return translate(language, error.code, **params)
    except (KeyError, IndexError):
        return translate(language, "internal_error")


def refusal_with_usage(language: str, refused: WalletError, usage: str) -> str:
    """Why a command was refused, then how to write it (the ``usage`` message key), unless
    the refusal is not about what was written (a frozen wallet, a failed database)."""
    text = error_text(language, refused)
    if isinstance(refused, AccountFrozen | StorageError):
        return text
    return text + "\n" + translate(language, usage)


def private_link(context: WalletContext, payload: str = "") -> str:
    link = f"https://t.me/{context.bot.username}"
    return f"{link}?start={payload}" if payload else link


def command(name: str, callback) -> CommandHandler:
    """A command handler for new messages only: editing a sent command does not rerun it."""
    return CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE)


ID = r"[A-Za-z0-9_-]{1,64}"  # an action id, a packet id, a request token (URL-safe base64)


def button_pattern(prefix: str, *fields: str) -> re.Pattern[str]:
    """What a button's callback data must be: ``prefix``, then ``fields`` joined by ``:``.

    Each field is a regex; the handler reads what it matched as ``context.match.group(n)``
    (PTB sets it from the ``CallbackQueryHandler``'s pattern). Data of any other shape
    (a forged or garbled button) matches no handler of a feature and gets the fallback's
    "this button is no longer valid".
    """
    return re.compile(re.escape(prefix) + ":".join(f"({field})" for field in fields) + r"\Z")


def is_admin(context: WalletContext, user: User | None) -> bool:
    """Whether ``user`` is one of the wallet's admins (``WALLET_ADMIN_IDS``)."""
    return user is not None and user.telegram_id in context.wallet.settings.admin_ids


def admin_only(handler):
    """Run ``handler(update, context, user, language)`` for an admin; anyone else gets a
    plain refusal in their language (an alert for a button, a reply for a command),
    never silence and never the admin's answer."""

    @wraps(handler)
    async def guarded(update: Update, context: WalletContext) -> None:
        user = await current_user(update, context)
        language = language_of(update, user)
        if not is_admin(context, user):
            refusal = translate(language, "admin.refused")
            if update.callback_query is not None:
                await update.callback_query.answer(refusal, show_alert=True)
            else:
                await reply(update, context, refusal)
            return
        await handler(update, context, user, language)

    return guarded


async def private_user(
    update: Update, context: WalletContext, refusal_key: str
) -> tuple[User | None, str]:
    """The user and their language; None after saying (``refusal_key``) that this
    belongs in the private chat, with a link to it."""
    user = await current_user(update, context)
    language = language_of(update, user)
    if user is not None and not is_private(update):
        await reply(update, context, translate(language, refusal_key, link=private_link(context)))
        return None, language
    return user, language


async def admin_in_private(update: Update, context: WalletContext, language: str) -> bool:
    """Whether this is the private chat; else say, with a link, that admin information is
    shown there only (a group sees none of the wallet's figures)."""
    if is_private(update):
        return True
    await reply(
        update, context, translate(language, "admin.private_only", link=private_link(context))
    )
    return False


def refusal_text(language: str, refused: Exception) -> str:
    """Why a button or command did nothing: a domain error's message, else a generic one."""
    if isinstance(refused, WalletError):
        return error_text(language, refused)
    return translate(language, "callback.unknown")
