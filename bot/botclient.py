"""The bot's Bot API client: PTB's ``ExtBot`` with the payment intake and late answers.

Answering a tap is a courtesy, not part of what a tap does: Telegram refuses an answer
that comes after its 15 s ("query is too old"), and an answer can time out or find the
connection gone. Were that to end the handler, a payment done by the tap would never be
shown as done (the handler stops before it edits the card). So a failed answer is logged
in one line and the handler goes on; any other refusal of an answer (a text too long)
is a defect and raised.

A message to a person's chat that Telegram refused with a 403 is handed to
:meth:`WalletBot.keep_unreached` (by ``bot.handlers.outbox.tell``), which keeps it for
when they open the chat.

Every message the bot sends or edits with buttons is shown to the watchers given to
:meth:`WalletBot.watch_buttons` (the PIN keypads note where each is, so ``/cancel`` can
close them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Message
from telegram.error import BadRequest, NetworkError

from bot.intake import KeepingBot

__all__ = ["WalletBot"]

log = logging.getLogger(__name__)

TOO_OLD = "query is too old"


class WalletBot(KeepingBot):
    """A ``KeepingBot`` whose callback answers never end the handler by failing late."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._unreached: Callable[[int, str], Awaitable[None]] | None = None
        self._watchers: list[Callable[[Message], None]] = []

    def watch_buttons(self, watcher: Callable[[Message], None]) -> None:
        """Call ``watcher`` with each message sent or edited with buttons (it must be quick
        and not fail: a failure is logged, the message stands)."""
        self._watchers.append(watcher)

    def _with_buttons(self, result):
        if self._watchers and isinstance(result, Message) and result.reply_markup is not None:
            for watcher in self._watchers:
                try:
                    watcher(result)
                except Exception:
                    log.exception("a watcher of sent buttons failed")
        return result

    async def send_message(self, *args, **kwargs) -> Message:
        return self._with_buttons(await super().send_message(*args, **kwargs))

    async def edit_message_text(self, *args, **kwargs):
        return self._with_buttons(await super().edit_message_text(*args, **kwargs))

    async def initialize(self) -> None:
        """Open the connections and ask ``getMe``; if that fails (a rejected token, the
        Bot API out of reach), close the connections again before raising: the
        application is not initialized then and would leave them open."""
        try:
            await super().initialize()
        except BaseException:
            await self.shutdown()
            raise

    def keep_unreached_with(self, keep: Callable[[int, str], Awaitable[None]] | None) -> None:
        self._unreached = keep

    async def keep_unreached(self, chat_id: int, text: str) -> None:
        """Keep a text Telegram refused to send to ``chat_id`` (a 403)."""
        if self._unreached is not None:
            await self._unreached(chat_id, text)

    async def answer_callback_query(self, *args, **kwargs) -> bool:
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except NetworkError as exc:  # a timeout, a 5xx, a lost connection, or a 400
            if isinstance(exc, BadRequest) and TOO_OLD not in exc.message.lower():
                raise
            log.warning("a tap could not be answered (%s); going on", exc.message)
            return False
