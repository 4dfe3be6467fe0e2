"""Scan to pay: a photo sent in private chat is read as a QR code and followed as a link.

The largest size of the photo within :data:`MAX_PHOTO_BYTES` is downloaded (a photo
whose every size is larger is refused before anything is downloaded) and decoded with
zxing-cpp on a worker thread, off the event loop. A code that is one of the bot's own
links (``https://t.me/<this bot>?start=<payload>``) whose payload one of the scannable
links takes (a merchant's code, a charge, a request, a pay code) is shown exactly as
opening the link would show it, by the same shows (:func:`bot.handlers.start.follow`);
anything else is "not a payment code", and a photo with no code gets a hint.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from telegram import PhotoSize, Update
from telegram.ext import MessageHandler, filters

from bot.handlers.context import WalletContext, current_user, language_of
from bot.handlers.outbox import reply
from bot.handlers.start import Links, follow
from bot.i18n import translate

__all__ = ["MAX_PHOTO_BYTES", "decode_qr", "handlers", "link_payload"]

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # a phone photo of a code is far smaller


def decode_qr(picture: bytes) -> list[str]:
    """The texts of the codes in the picture (none: no code found). Blocking: run it on
    a worker thread."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(picture))
        image.load()
    except (UnidentifiedImageError, OSError):
        return []
    return [found.text for found in zxingcpp.read_barcodes(image) if found.text]


def link_payload(text: str, bot_username: str) -> str | None:
    """The ``start`` payload of a link to this bot, or None for anything else."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or parts.netloc.lower() not in ("t.me", "telegram.me"):
        return None
    if parts.path.strip("/").lower() != bot_username.lower():
        return None
    payload = parse_qs(parts.query).get("start")
    return payload[0] if payload else None


def _largest_within(sizes: Sequence[PhotoSize], limit: int) -> PhotoSize | None:
    fitting = [s for s in sizes if s.file_size is not None and s.file_size <= limit]
    return max(fitting, key=lambda s: s.width * s.height, default=None)


def handlers(links: Links) -> list:
    """The photo handler, following ``links`` (prefix → shows) like ``/start`` does."""

    async def scan(update: Update, context: WalletContext) -> None:
        """Read the photo's QR code and show the payment it names."""
        user = await current_user(update, context)
        language = language_of(update, user)
        photo = _largest_within(update.effective_message.photo, MAX_PHOTO_BYTES)
        if photo is None:
            limit = MAX_PHOTO_BYTES // (1024 * 1024)
            await reply(update, context, translate(language, "scan.too_large", limit=limit))
            return
        picture = await (await photo.get_file()).download_as_bytearray()
        texts = await asyncio.to_thread(decode_qr, bytes(picture))
        if not texts:
            await reply(update, context, translate(language, "scan.no_code"))
            return
        for text in texts:
            payload = link_payload(text, context.bot.username)
            if payload and await follow(update, context, payload, links):
                return
        await reply(update, context, translate(language, "scan.not_payment"))

    only = filters.PHOTO & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [MessageHandler(only, scan)]
