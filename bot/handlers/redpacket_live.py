"""A packet's group message kept current: coalesced progress edits, and expiry.

Grabs are answered at once; the message is edited at most every ``EDIT_INTERVAL_S``
seconds per packet (Telegram allows about 20 messages a minute in a group), one edit
showing every grab since the last. Expiry: a job per packet at its deadline, and a sweep
at start-up (which also schedules the open packets' jobs) and every minute, refund the
remainder, edit the message and tell the sender.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.domain.money import format_fen
from bot.domain.redpackets import Expiry, RedPacket
from bot.handlers.context import WALLET_KEY, WalletContext
from bot.handlers.outbox import tell
from bot.handlers.redpacket_text import group_language, packet_markup, packet_text
from bot.i18n import translate

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
SWEEP_INTERVAL_S = 60
_EDITOR_KEY = "redpacket.editor"


class ProgressEditor:
    """One edit per packet at most every ``interval`` seconds, coalescing the grabs between."""

    def __init__(self, application: Application, interval: float = EDIT_INTERVAL_S) -> None:
        self.application = application
        self.interval = interval
        self._last: dict[str, float] = {}
        self._pending: dict[str, asyncio.Task] = {}
        self._shown: dict[str, str] = {}  # what each packet's message shows now
        self._running: set[asyncio.Task] = set()  # waiting or editing
        # one edit of a packet at a time: an edit slower than ``interval`` (a slow read)
        # would otherwise meet the next one, both sending what neither had shown yet
        self._editing: dict[str, asyncio.Lock] = {}

    def posted(self, packet_id: str, text: str, markup) -> None:
        """The packet's message has just appeared, showing ``text``: bring it up to date
        with whatever happened while it waited in the group's outbox (a password packet
        can be grabbed by its phrase before its post appears); an edit only if needed."""
        self._shown[packet_id] = _showing(text, markup)
        self.touch(packet_id)

    def touch(self, packet_id: str) -> None:
        if packet_id in self._pending:
            return  # the edit already scheduled will show this grab too
        delay = max(0.0, self._last.get(packet_id, 0.0) + self.interval - time.monotonic())
        task = asyncio.get_running_loop().create_task(self._edit_later(packet_id, delay))
        self._pending[packet_id] = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _edit_later(self, packet_id: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._pending.pop(packet_id, None)
        self._last[packet_id] = time.monotonic()
        async with self._editing.setdefault(packet_id, asyncio.Lock()):
            try:
                await edit_packet(self.application, packet_id, self._shown)
            except Exception:
                log.warning("could not edit red packet %s", packet_id, exc_info=True)
        if len(self._last) > 10_000:
            self._last.clear()
            self._shown.clear()
            self._editing = {k: v for k, v in self._editing.items() if v.locked()}

    async def drain(self) -> None:
        """Wait for the scheduled edits and those under way (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


def editor(application: Application) -> ProgressEditor:
    found = application.bot_data.get(_EDITOR_KEY)
    if found is None:
        found = application.bot_data[_EDITOR_KEY] = ProgressEditor(application)
    return found


class _AppContext:
    """What the texts need of a context, from an application (jobs and the editor)."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self.bot = application.bot
        self.bot_data = application.bot_data

    @property
    def wallet(self):
        return self.application.bot_data[WALLET_KEY]


async def edit_packet(
    application: Application, packet_id: str, shown: dict[str, str] | None = None
) -> None:
    """Show the packet's progress (or results) in its message.

    With ``shown`` (what each message shows, kept by the caller), an edit that would
    change nothing is not sent: in a group every edit counts against Telegram's limit.
    """
    if WALLET_KEY not in application.bot_data:
        return
    context = _AppContext(application)
    results = await context.wallet.redpackets.results(packet_id)
    packet = results.packet
    if packet.message_id is None and packet.inline_message_id is None:
        return
    language = await group_language(context, packet)
    text = await packet_text(context, language, results)
    markup = packet_markup(context, language, packet)
    showing = _showing(text, markup)
    if shown is not None and shown.get(packet_id) == showing:
        return
    try:
        if packet.inline_message_id is not None:
            await application.bot.edit_message_text(
                text, inline_message_id=packet.inline_message_id, reply_markup=markup
            )
        else:
            await application.bot.edit_message_text(
                text, chat_id=packet.chat_id, message_id=packet.message_id, reply_markup=markup
            )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
    if shown is not None:
        shown[packet_id] = showing


def _showing(text: str, markup) -> str:
    """What a packet's message shows, to compare with what an edit would show."""
    return text + "\0" + (markup.to_json() if markup is not None else "")


# Expiry -------------------------------------------------------------------------------------


async def _expired(application: Application, expiry: Expiry) -> None:
    """Edit the expired packet's message and tell its sender what came back."""
    packet = expiry.packet
    try:
        await edit_packet(application, packet.id)
    except TelegramError:
        log.warning("could not edit expired red packet %s", packet.id, exc_info=True)
    if not expiry.refunded:
        return
    wallet = application.bot_data[WALLET_KEY]
    sender = await wallet.users.get(packet.sender_id)
    language = sender.effective_language if sender else "zh"
    text = translate(language, "redpacket.refunded", amount=format_fen(expiry.refunded))
    # the money is back in the wallet, whether or not this arrives
    await tell(
        application.bot, packet.sender_id, text, about=f"the refund of red packet {packet.id}"
    )


async def expire_one(context: WalletContext) -> None:
    """A packet's deadline came: refund it (or look again shortly if the clock lags)."""
    if WALLET_KEY not in context.application.bot_data:
        return
    packet_id = context.job.data
    expiry = await context.wallet.redpackets.expire(packet_id)
    if expiry is not None:
        await _expired(context.application, expiry)
        return
    packet = await context.wallet.redpackets.get(packet_id)
    if packet.is_open:  # fired a moment early
        context.job_queue.run_once(expire_one, when=0.5, data=packet_id)


def schedule_expiry(application: Application, packet: RedPacket) -> None:
    jobs = application.job_queue
    if jobs is None or not packet.is_open:
        return
    name = f"redpacket.expire.{packet.id}"
    if jobs.get_jobs_by_name(name):
        return
    when = max(0.0, packet.expires_at / 1000 - time.time()) + 0.05
    jobs.run_once(expire_one, when=when, data=packet.id, name=name)


async def sweep(context: WalletContext) -> None:
    """Refund every packet past its deadline; at start-up, schedule the open ones too.

    Safe with several processes by its own SQL (no lease): each packet is refunded
    under its row's lock, only while open, and only the call that refunded it gets an
    ``Expiry`` (and tells the sender)."""
    if WALLET_KEY not in context.application.bot_data:
        return
    packets = context.wallet.redpackets
    for expiry in await packets.expire_due():
        await _expired(context.application, expiry)
    if context.job.data == "start":
        for packet in await packets.open_packets():
            schedule_expiry(context.application, packet)


def schedule(application: Application) -> None:
    """The expiry sweep once at start-up, then every minute."""
    jobs = application.job_queue
    if jobs is None:
        raise RuntimeError(
            "red packets need PTB's job queue: install python-telegram-bot[job-queue]"
        )
    jobs.run_once(sweep, when=0, data="start", name="redpackets.sweep.start")
    jobs.run_repeating(
        sweep, interval=SWEEP_INTERVAL_S, first=SWEEP_INTERVAL_S, data=None, name="redpackets.sweep"
    )
