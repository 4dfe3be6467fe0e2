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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

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
