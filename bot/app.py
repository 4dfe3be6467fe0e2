"""The one place that wires settings, storage, services and handlers together."""

from __future__ import annotations

import logging

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    MenuButtonCommands,
)
from telegram.error import TelegramError
from telegram.ext import Application, BaseRateLimiter, ContextTypes

from bot import handlers
from bot.botclient import WalletBot
from bot.config import Settings
from bot.domain.adminview import VIEW_USER, WalletView
from bot.domain.broadcasts import Broadcast
from bot.domain.holds import HoldDecision
from bot.domain.merchants import MerchantRefund
from bot.domain.offer_store import VoucherIssue
from bot.domain.points import TierThresholds
from bot.domain.promotions import Campaign
from bot.domain.redpackets import Creation, PacketOrder, RedPacketLimits
from bot.domain.refunds import Refund
from bot.domain.requests import RequestPayment
from bot.domain.security_errors import WrongMasterKey
from bot.domain.withdrawals import WithdrawalOutcome
from bot.gateways.manual import ManualGateway
from bot.gateways.sandbox import SandboxGateway
from bot.handlers import admin as admin_commands
from bot.handlers import (
    adminview,
    broadcast,
    deletions,
    holds,
    merchant,
    merchant_pay,
    offers,
    offers_admin,
    payouts,
    redpacket,
    redpacket_inline,
    redpacket_live,
    refund,
    request,
    send,
    setup_qr,
    soon,
    withdraw,
)
from bot.handlers import notices as notices_sender
from bot.handlers.context import WALLET_KEY, Wallet, WalletContext
from bot.handlers.ordering import PersonChatUpdateProcessor
from bot.handlers.outbox import outbox
from bot.handlers.pin import Outcomes, shown_keypads
from bot.handlers.redraws import redraws
from bot.handlers.send_limits import SendLimiter
from bot.handlers.split import overviews
from bot.handlers.throttle import LIMITER_KEY
from bot.i18n import translate
from bot.intake import handle_kept
from bot.ops.collector import tune_collector
from bot.ops.operations import Operations
from bot.security.actions import Actions
from bot.security.cipher import load_keyring
from bot.security.guard import (
    HOLD_DECISION,
    NotifyAdmins,
    PaymentGuard,
)
from bot.security.identity import CARD_CHANGE, Identity
from bot.security.password_free import (
    CONFIRMATION as PASSWORD_FREE,
)
from bot.security.password_free import (
    PasswordFree,
)
from bot.security.pin_entry import ConfirmationResult, PinEntry
from bot.security.pins import Pins
from bot.security.ratelimit import RateLimiter, RateLimits
from bot.security.twofactor import (
    TwoFactor,
)
from bot.storage import open_store
from bot.transport import make_requests
from bot.wallet.admin import FREEZE, Admin, FreezeOutcome
from bot.wallet.admin_copies import AdminCopies
from bot.wallet.adminview import AdminView
from bot.wallet.broadcasts import CONFIRMATION as BROADCAST
from bot.wallet.broadcasts import Broadcasts
from bot.wallet.gateway import PayoutGateway
from bot.wallet.guided import Guides
from bot.wallet.history import History
from bot.wallet.ledger import Ledger
from bot.wallet.merchants import CONFIRMATION as PAY_MERCHANT
from bot.wallet.merchants import REFUND_CONFIRMATION as MERCHANT_REFUND
from bot.wallet.merchants import MerchantPaymentOutcome, Merchants, PayDropped, PayTarget
from bot.wallet.notices import Notices
from bot.wallet.offers import CAMPAIGN as OFFER_CAMPAIGN
from bot.wallet.offers import GRANT as OFFER_GRANT
from bot.wallet.offers import ISSUE as VOUCHER_ISSUE
from bot.wallet.offers import CouponGrant, Offers
from bot.wallet.paycodes import PayCodes
from bot.wallet.payouts import CONFIRMATION as PAYOUT_DECISION
from bot.wallet.payouts import REVEAL as PAYOUT_CARD
from bot.wallet.payouts import CardReveal, PayoutDecision, Payouts
from bot.wallet.redpackets import CONFIRMATION as RED_PACKET
from bot.wallet.redpackets import RedPackets
from bot.wallet.refunds import CONFIRMATION as REFUND
from bot.wallet.refunds import Refunds
from bot.wallet.requests import CONFIRMATION as PAY_REQUEST
from bot.wallet.requests import Requests
from bot.wallet.statements import (
    Statements,
)
from bot.wallet.support import Support
from bot.wallet.topups import TopUps
from bot.wallet.transfers import Settlement, TransferOrder, Transfers
from bot.wallet.users import Users
from bot.wallet.withdrawals import CONFIRMATION as WITHDRAW
from bot.wallet.withdrawals import Withdrawals

__all__ = ["ALLOWED_UPDATES", "build_application", "open_wallet", "payout_gateway"]

log = logging.getLogger(__name__)

# The kinds of update asked of Telegram, by polling and by the webhook alike. None:
# Telegram's default, every kind but chat_member, message_reaction and their like.
ALLOWED_UPDATES: list[str] | None = None

PRIVATE_COMMANDS = (
    "send",
    "request",
    "split",
    "paycode",
    "start",
    "menu",
    "cancel",
    "balance",
    "history",
    "statement",
    "topup",
    "withdraw",
    "setpin",
    "2fa",
    "verify",
    "bindcard",
    "nopin",
    "lang",
    "support",
    "dispute",
    "coupons",
    "points",
    "shop",
    "charge",
    "collect",
    "sales",
    "merchant_refund",
    "settle",
    "help",
)
# The list a private chat's menu button shows: short, the rest is one tap away in the
# /menu (every command above still works when typed, /start too: Telegram offers it to
# a newcomer by itself).
MENU_COMMANDS = ("menu", "send", "request", "balance", "history", "help", "lang", "cancel")
GROUP_COMMANDS = (
    "redpacket",
    "redpacket_equal",
    "redpacket_for",
    "redpacket_pwd",
    "send",
    "help",
)
ADMIN_COMMANDS = (
    "admin",
    "stats",
    "review",
    "payouts",
    "audit",
    "freeze",
    "unfreeze",
    "user",
    "refund",
    "tickets",
    "reply",
    "broadcast",
    "merchant_add",
    "merchants",
    "voucher_issue",
    "campaign_add",
    "coupon_grant",
)
# The admins' own list stays short: the commands they use most (the rest work typed and
# are in /help).
ADMIN_MENU = ("admin", "stats", "review", "payouts", "tickets", "user")
_OWNS_WALLET = "owns_wallet"


PURGE_INTERVAL_S = 3600

# How the PIN keypad shows what a confirmation did, by the type of its outcome (the
# confirmations themselves are given to the keypad in open_wallet).
KEYPAD_OUTCOMES: Outcomes = {
    WalletView: adminview.shown_text,
    Settlement: send.announce,
    RequestPayment: request.announce,
    MerchantPaymentOutcome: merchant_pay.announce,
    PayDropped: merchant_pay.dropped_text,
    MerchantRefund: merchant.refunded_text,
    Creation: redpacket.announce,
    WithdrawalOutcome: withdraw.outcome_text,
    PayoutDecision: payouts.decided_text,
    CardReveal: payouts.revealed_text,
    Refund: refund.done_text,
    Broadcast: broadcast.begun_text,
    VoucherIssue: offers_admin.issued_text,
    Campaign: offers_admin.campaign_text,
    CouponGrant: offers_admin.grant_text,
    FreezeOutcome: admin_commands.frozen_text,
    HoldDecision: holds.decided_text,
}


async def _purge_actions(context) -> None:
    """Hourly: forget buttons' actions that expired more than a day ago (one ``DELETE``:
    safe with several processes by its own SQL, no lease)."""
    await context.application.bot_data[WALLET_KEY].actions.purge()


def _entered_code(action) -> bool:
    """Whether the keypad behind ``action`` asked for a 2FA code after the PIN."""
    return bool(action.payload.get("needs_2fa"))


def payout_gateway(settings: Settings, db) -> PayoutGateway:
    """The payout gateway ``WALLET_PAYOUT_GATEWAY`` names, over the open database ``db``."""
    if settings.payout_gateway == "manual":
        return ManualGateway(db.payouts)
    if settings.payout_gateway == "http":
        if not settings.payout_url or not settings.payout_secret:
            raise ValueError("the http payout gateway needs WALLET_PAYOUT_URL and its secret")
        # imported here: only a deployment paying through a provider needs the adapter
        from bot.gateways.http import HttpGateway

        return HttpGateway(settings.payout_url, settings.payout_secret)
    if settings.payout_gateway != "sandbox":
        raise ValueError(f"no payout gateway {settings.payout_gateway!r}")
    return SandboxGateway(
        latency_s=settings.gateway_latency_s,
        failure_rate=settings.gateway_failure_rate,
        timeout_rate=settings.gateway_timeout_rate,
        state_path=settings.data_dir / "sandbox_gateway.db",
    )


async def open_wallet(
    settings: Settings,
    *,
    gateway: PayoutGateway | None = None,
    notify_admins: NotifyAdmins | None = None,
) -> Wallet:
    """Open the database (applying migrations) and the services over it, each service
    over the store of its own port.

    ``gateway`` pays withdrawals out; by default the one ``WALLET_PAYOUT_GATEWAY`` names
    (:func:`payout_gateway`), which the wallet then closes with itself.
    ``notify_admins`` tells the admins of each payment held for review (the chat's
    :func:`bot.handlers.holds.notifier`); by default nobody is told.
    """
    keyring = load_keyring(
        settings.master_key, settings.master_key_dir, legacy_dir=settings.data_dir
    )
    db = await open_store(
        settings.database_url,
        synchronous=settings.sqlite_synchronous,
        pool_size=settings.database_pool_size,
    )
    try:
        saved_check = await db.set_meta_once("key_check", keyring.key_check())
        if keyring.key_id_for_check(saved_check) is None:
            raise WrongMasterKey(
                "the master key does not match the one this database was written with"
            )
        ledger = Ledger(db.ledger, settings.currency)
        await ledger.open_system_accounts()
    except BaseException:
        await db.close()
        raise
    actions = Actions(db.security)
    pins = Pins(db.security, keyring)
    two_factor = TwoFactor(db.identity, keyring)
    password_free = PasswordFree(db.identity)
    pin_entry = PinEntry(actions, pins, two_factor)
    pin_entry.register_confirmation(PASSWORD_FREE, password_free.apply)
    users = Users(db.users, settings.currency, default_language=settings.default_language)
    admin = Admin(db.admin, ledger, users, db.snapshot)
    pin_entry.register_confirmation(FREEZE, admin.apply_freeze)
    broadcasts = Broadcasts(db.broadcasts)
    pin_entry.register_confirmation(BROADCAST, broadcasts.confirm)
    identity = Identity(db.identity, keyring)
    pin_entry.register_confirmation(CARD_CHANGE, identity.apply_card_change)
    guard = PaymentGuard(db.holds, identity, notify_admins=notify_admins)
    pin_entry.register_confirmation(HOLD_DECISION, guard.confirm_decision)
    transfers = Transfers(ledger, users, guard)
    topups = TopUps(
        db.topups,
        ledger,
        enabled=bool(settings.payment_provider_token),
        maximum=settings.topup_max_fen,
        ttl_s=settings.topup_expiry_s,
    )

    async def settle_transfer(action) -> ConfirmationResult:
        order = TransferOrder.from_payload(action.payload)
        settlement = await transfers.settle(
            action.id, order, authenticated=True, second_factor=_entered_code(action)
        )
        return ConfirmationResult("transfer.settled", outcome=settlement)

    pin_entry.register_confirmation("transfer", settle_transfer)
    owned_gateway = None
    if gateway is None:
        try:
            gateway = owned_gateway = payout_gateway(settings, db)
        except BaseException:
            await db.close()
            raise
    notices = Notices(db.notices)
    withdrawals = Withdrawals(
        ledger, users, identity, guard, gateway, db.withdrawals, notices=notices
    )
    pin_entry.register_confirmation(WITHDRAW, withdrawals.confirm)
    payouts_queue = Payouts(db.payouts, withdrawals, users, guard)
    pin_entry.register_confirmation(PAYOUT_DECISION, payouts_queue.confirm)
    pin_entry.register_confirmation(PAYOUT_CARD, payouts_queue.reveal_card)
    refunds = Refunds(db.refunds, db.merchants.payment_of_leg, db.history.resolution_of)
    pin_entry.register_confirmation(REFUND, refunds.confirm)
    requests = Requests(db.requests, users, transfers, ttl_s=settings.request_expiry_s)

    async def settle_request(action) -> ConfirmationResult:
        payment = await requests.settle(
            action.payload["token"],
            action.telegram_id,
            authenticated=True,
            second_factor=_entered_code(action),
        )
        return ConfirmationResult("transfer.settled", outcome=payment)

    pin_entry.register_confirmation(PAY_REQUEST, settle_request)
    thresholds = TierThresholds(settings.points_silver, settings.points_gold)
    planner = Offers(db.offers, ledger, users, thresholds, notices=notices)
    pin_entry.register_confirmation(VOUCHER_ISSUE, planner.confirm_issue)
    pin_entry.register_confirmation(OFFER_CAMPAIGN, planner.confirm_campaign)
    pin_entry.register_confirmation(OFFER_GRANT, planner.confirm_grant)
    merchants = Merchants(db.merchants, users, ledger, guard, offers=planner)
    paycodes = PayCodes(db.merchants, keyring, merchants, actions=actions, notices=notices)

    async def pay_merchant(action) -> ConfirmationResult:
        outcome = await merchants.pay(
            action.payload["key"],
            action.telegram_id,
            PayTarget.from_payload(action.payload),
            authenticated=True,
            second_factor=_entered_code(action),
        )
        return ConfirmationResult("transfer.settled", outcome=outcome)

    pin_entry.register_confirmation(PAY_MERCHANT, pay_merchant, merchants.not_paid)
    pin_entry.register_confirmation(MERCHANT_REFUND, merchants.confirm_refund)
    limits = RedPacketLimits(
        max_total=settings.redpacket_max_fen,
        max_count=settings.redpacket_max_shares,
        expiry_s=settings.redpacket_expiry_s,
    )
    redpackets = RedPackets(db.redpackets, ledger, users, guard, limits)

    async def create_red_packet(action) -> ConfirmationResult:
        order = PacketOrder.from_payload(action.payload)
        creation = await redpackets.create(
            action.id, order, authenticated=True, second_factor=_entered_code(action)
        )
        return ConfirmationResult("transfer.settled", outcome=creation)

    pin_entry.register_confirmation(RED_PACKET, create_red_packet, redpackets.not_made)
    history = History(db.history)
    admin_view = AdminView(
        db.adminview, admin, ledger, history, identity, two_factor, password_free, db.merchants
    )
    pin_entry.register_confirmation(VIEW_USER, admin_view.confirm)
    return Wallet(
        settings=settings,
        store=db,
        ledger=ledger,
        users=users,
        keyring=keyring,
        actions=actions,
        pins=pins,
        pin_entry=pin_entry,
        identity=identity,
        two_factor=two_factor,
        password_free=password_free,
        admin=admin,
        guard=guard,
        transfers=transfers,
        history=History(db.history),
        statements=Statements(db.history),
        requests=requests,
        topups=topups,
        withdrawals=withdrawals,
        redpackets=redpackets,
        payouts=payouts_queue,
        support=Support(db.support, History(db.history), db.adminview.open_tickets),
        broadcasts=broadcasts,
        owned_gateway=owned_gateway,
        refunds=refunds,
        adminview=admin_view,
        merchants=merchants,
        paycodes=paycodes,
        offers=planner,
        guides=Guides(db.flows),
        notices=notices,
        copies=AdminCopies(db.copies),
    )


def _commands(names: tuple[str, ...], language: str) -> list[BotCommand]:
    return [BotCommand(name, translate(language, f"command.{name}")) for name in names]


async def publish_commands(application: Application, settings: Settings) -> None:
    """setMyCommands for private chats, groups and each admin, in English and Chinese, and
    the menu button that shows them."""
    bot = application.bot
    for language, code in (("en", None), ("zh", "zh")):
        scopes = [
            (BotCommandScopeAllPrivateChats(), MENU_COMMANDS),
            (BotCommandScopeAllGroupChats(), GROUP_COMMANDS),
        ] + [
            (BotCommandScopeChat(admin), MENU_COMMANDS + ADMIN_MENU)
            for admin in sorted(settings.admin_ids)
        ]
        for scope, names in scopes:
            try:
                await bot.set_my_commands(
                    _commands(names, language), scope=scope, language_code=code
                )
            except TelegramError:  # e.g. an admin who never opened the chat
                log.warning("setMyCommands failed for %s", scope, exc_info=True)
    try:  # the private chat's menu button opens that short list of commands
        await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    except TelegramError:
        log.warning("setChatMenuButton failed", exc_info=True)


async def publish_descriptions(application: Application) -> None:
    """setMyDescription and setMyShortDescription in English (the default) and Chinese."""
    bot = application.bot
    for language, code in (("en", None), ("zh", "zh")):
        try:
            await bot.set_my_description(translate(language, "bot.description"), language_code=code)
            await bot.set_my_short_description(
                translate(language, "bot.short_description"), language_code=code
            )
        except TelegramError:
            log.warning("setMyDescription failed for %s", language, exc_info=True)


def _keep_unreached(bot: WalletBot, wallet: Wallet) -> None:
    """What a person could not be told (a 403) is kept as a notice, sent when they open
    the chat (``bot.handlers.notices.catch_up``)."""
    if wallet.notices is not None:
        bot.keep_unreached_with(wallet.notices.keep_unreached)


def _tell_admins_of_payouts(application: Application, wallet: Wallet) -> None:
    """With the manual gateway, the admins are told of each payout queued."""
    gateway = wallet.withdrawals.gateway
    if isinstance(gateway, ManualGateway):
        gateway.on_queued = payouts.notifier(application)


async def settled(application: Application) -> None:
    """Wait until ``application`` has handled every update it took (its update queue is
    done with them) and sent the PIN keypads' redraws they left, which their taps'
    answers do not wait for, and the notices they handed on (``soon``). Other work (a
    group's outbox, a packet's progress edits) has waits of its own."""
    await application.update_queue.join()
    await redraws(application).drain()
    await soon.finish(application, grace=60)


async def stop_sending(application: Application) -> None:
    """What the application still owes when it stops (``post_stop``), before the wallet
    closes: the notices handlers handed on are sent; broadcasts and notices
    pause for the next start; the groups' outboxes are
    drained; then the packets' last progress edits, which include those the drained
    posts asked for (a packet's post, once sent, brings its message up to date), and the
    keypads' redraws being sent."""
    await soon.finish(application)  # what handlers handed on (admins', recipients' notices)
    await broadcast.stop(application)  # what is unsent waits for the next start
    await notices_sender.stop(application)  # the same
    await outbox(application).close()
    await redpacket_live.editor(application).drain()
    await redraws(application).close()  # those being sent; the waiting ones are dropped


def build_application(
    settings: Settings,
    *,
    wallet: Wallet | None = None,
    rate_limiter: BaseRateLimiter | None = None,
    rate_limits: RateLimits | None = None,
) -> Application:
    """A PTB application for ``settings``.

    With ``run_polling``/``run_webhook`` the wallet is opened when the application
    starts and closed when it stops, unless one is given (then the caller owns it).
    Updates of different people, and one person's different chats, are handled
    concurrently, so a burst of taps is answered at once, and each person's in one chat
    in order; the rate limiter keeps sends within Telegram's limits, and group messages
    leave through the outbox, drained when the application stops.
    """
    if not settings.telegram_bot_token:
        raise ValueError("a bot token is needed to build the application")

    async def post_init(application: Application) -> None:  # run_polling / run_webhook
        if WALLET_KEY not in application.bot_data:
            application.bot_data[WALLET_KEY] = await open_wallet(
                settings, notify_admins=holds.notifier(application)
            )
            application.bot_data[_OWNS_WALLET] = True
            bot.keep_with(application.bot_data[WALLET_KEY].topups.keep)
            _keep_unreached(bot, application.bot_data[WALLET_KEY])
            _tell_admins_of_payouts(application, application.bot_data[WALLET_KEY])
            ops.watch(application.bot_data[WALLET_KEY])
        await ops.start()  # /healthz and /metrics, when WALLET_METRICS_PORT is set
        await handle_kept(application, await application.bot_data[WALLET_KEY].topups.kept())
        await publish_commands(application, settings)
        await publish_descriptions(application)

    async def post_stop(application: Application) -> None:
        await stop_sending(application)

    async def post_shutdown(application: Application) -> None:
        await ops.stop()
        opened = application.bot_data.pop(WALLET_KEY, None)
        if application.bot_data.pop(_OWNS_WALLET, False) and opened is not None:
            await opened.close()

    tune_collector()  # a burst of taps costs a few collections, not hundreds
    ops = Operations(settings)  # metrics, health, the log line of each update
    calls, polls = make_requests(settings.bot_api_transport)
    bot = WalletBot(  # keeps the payments it receives before it confirms them
        token=settings.telegram_bot_token,
        base_url=settings.bot_api_url,
        base_file_url=settings.bot_file_url,
        request=calls,
        get_updates_request=polls,
        rate_limiter=rate_limiter or SendLimiter(),
    )
    application = (
        Application.builder()
        .bot(bot)
        .context_types(ContextTypes(context=WalletContext))
        .concurrent_updates(PersonChatUpdateProcessor(around=ops.around))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    shown_keypads(application)  # where each keypad is, for /cancel to close it
    overviews(application)  # where each split's overview is, to say a share paid
    if wallet is not None:
        application.bot_data[WALLET_KEY] = wallet
        bot.keep_with(wallet.topups.keep)
        _keep_unreached(bot, wallet)
        # opened by the caller before this application (and its bot) existed, so its
        # guard could not be given the hook when it was made: it is given it here
        wallet.guard.notify_admins = holds.notifier(application)
        _tell_admins_of_payouts(application, wallet)
        ops.watch(wallet)
    ops.attach(application)
    application.bot_data[LIMITER_KEY] = RateLimiter(rate_limits)
    handlers.register(application, outcomes=KEYPAD_OUTCOMES)
    withdraw.schedule(application)
    application.job_queue.run_repeating(
        _purge_actions, interval=PURGE_INTERVAL_S, first=60, name="actions.purge"
    )
    redpacket.schedule(application)
    redpacket_inline.schedule(application)
    broadcast.schedule(application)
    notices_sender.schedule(application)
    offers.schedule(application)
    setup_qr.schedule(application)
    deletions.schedule(application)
    merchant_pay.schedule(application)
    return application
