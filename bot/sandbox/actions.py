"""What residents do: write, reply, tap buttons, send photos, pay invoices, use inline mode.

Each action changes the world, records a user event and queues the update the bot would
receive from Telegram. Users and chats may be named by id, username or object; a missing
chat means the user's private chat with the bot.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.sandbox.formatting import detect_entities, parse_text
from bot.sandbox.media import image_size, new_file_ids, thumbnail
from bot.sandbox.models import BotEvent, Chat, Message, Payment, StoredFile, User

if TYPE_CHECKING:
    from bot.sandbox.emulator import ChatRef, UserRef

__all__ = ["InlineAnswer", "UserActions"]


@dataclass(frozen=True)
class InlineAnswer:
    """The bot's answer to an inline query: ``results`` as answerInlineQuery sent them."""

    query_id: str
    query: str
    results: list[dict[str, Any]] = field(default_factory=list)


class UserActions:
    """Mixed into :class:`~bot.sandbox.emulator.Emulator`."""

    # -- messages --------------------------------------------------------------------------

    def _member_chat(self, user: UserRef, chat: ChatRef) -> tuple[User, Chat]:
        resident = self.user(user)
        target = self.chat(chat, user=resident)
        if resident.id not in target.member_ids:
            raise PermissionError(f"{resident.first_name} is not a member of {target.id}")
        return resident, target

    def _resolve_reply(
        self, chat: Chat, reply_to: Message | BotEvent | int | None
    ) -> Message | None:
        if reply_to is None:
            return None
        message_id = reply_to if isinstance(reply_to, int) else reply_to.message_id
        original = chat.messages.get(message_id)
        if original is None or original.deleted:
            raise LookupError(f"no message {message_id} in chat {chat.id}")
        return original

    def _post(self, message: Message) -> Message:
        self.record("user_message", by_bot=False, message=message, user_id=message.sender.id)
        if message.chat.user is not None:
            message.chat.user.started = True
            message.chat.user.blocked = False
        if self.bot_sees(message):
            self.push_update("message", message.to_api())
        return message

    async def send_text(
        self,
        user: UserRef,
        text: str,
        chat: ChatRef = None,
        *,
        reply_to: Message | BotEvent | int | None = None,
    ) -> Message:
        """``user`` writes ``text`` in ``chat`` (default: their private chat with the bot)."""
        resident, target = self._member_chat(user, chat)
        text = text.strip()
        if not text:
            raise ValueError("a message needs some text")
        keyboard = target.reply_keyboard
        if keyboard and keyboard.get("one_time_keyboard"):
            labels = {
                b if isinstance(b, str) else b.get("text")
                for row in keyboard["keyboard"]
                for b in row
            }
            if text in labels:
                target.reply_keyboard = None
        message = self.new_message(
            target,
            resident,
            text=text,
            entities=detect_entities(text),
            reply_to=self._resolve_reply(target, reply_to),
        )
        return self._post(message)

    async def send_photo(
        self,
        user: UserRef,
        content: bytes,
        chat: ChatRef = None,
        *,
        caption: str | None = None,
        reply_to: Message | BotEvent | int | None = None,
    ) -> Message:
        """``user`` sends a picture (for example a photo of a QR code)."""
        resident, target = self._member_chat(user, chat)
        sizes = self.photo_sizes(content)
        if sizes is None:
            raise ValueError("that file is not a picture")
        caption = caption.strip() if caption else None
        message = self.new_message(
            target,
            resident,
            photo=sizes,
            caption=caption or None,
            caption_entities=detect_entities(caption) if caption else [],
            reply_to=self._resolve_reply(target, reply_to),
        )
        return self._post(message)

    def photo_sizes(self, content: bytes) -> list[dict] | None:
        """Store a picture and its thumbnail; the PhotoSize list, smallest first."""
        size = image_size(content)
        if size is None:
            return None
        width, height, extension, mime = size
        sizes = []
        if max(width, height) > 90:
            small, small_w, small_h = thumbnail(content)
            sizes.append(self._photo_size(small, small_w, small_h, "jpg", "image/jpeg"))
        sizes.append(self._photo_size(content, width, height, extension, mime))
        for size in sizes:
            self.photo_sets[size["file_id"]] = sizes
        return sizes

    def _photo_size(self, content: bytes, width: int, height: int, ext: str, mime: str) -> dict:
        file_id, unique_id = new_file_ids("photo")
        path = f"photos/file_{len(self.files)}.{ext}"
        self.store_file(StoredFile(file_id, unique_id, path, content, mime_type=mime))
        return {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(content),
            "width": width,
            "height": height,
        }

    def block_bot(self, user: UserRef) -> None:
        """``user`` blocks the bot: it gets my_chat_member, and sending to them fails."""
        resident = self.user(user)
        resident.blocked = True
        bot = self.bot.to_api()
        self.push_update(
            "my_chat_member",
            {
                "chat": self.chats[resident.id].to_api(),
                "from": resident.to_api(),
                "date": int(time.time()),
                "old_chat_member": {"status": "member", "user": bot},
                "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
            },
        )

    # -- buttons ---------------------------------------------------------------------------

    async def tap(
        self,
        user: UserRef,
        message: Message | BotEvent,
        button: str | None = None,
        *,
        data: str | None = None,
    ) -> str:
        """``user`` taps an inline button (by label, else by ``data``); the callback query id.

        A label matches exactly, else as a part of the button's text.
        """
        target = self._message_of(message)
        resident = self.user(user)
        if target.inline_message_id is None and resident.id not in target.chat.member_ids:
            raise PermissionError(f"{resident.first_name} cannot see that message")
        chosen = self._find_button(target, button, data)
        query_id = self.new_id()
        self.callbacks[query_id] = {
            "at": time.monotonic(),
            "user_id": resident.id,
            "answered": False,
        }
        query: dict[str, Any] = {
            "id": query_id,
            "from": resident.to_api(),
            "chat_instance": self.chat_instance(target.chat),
            "data": chosen["callback_data"],
        }
        if target.inline_message_id is not None:
            query["inline_message_id"] = target.inline_message_id
        else:
            query["message"] = target.to_api()
        self.record(
            "tap",
            by_bot=False,
            message=target,
            user_id=resident.id,
            text=chosen.get("text"),
            data={"callback_query_id": query_id, "callback_data": chosen["callback_data"]},
        )
        self.push_update("callback_query", query)
        return query_id

    def _message_of(self, message: Message | BotEvent | Any) -> Message:
        """Our message from itself, an event, or anything with chat_id and message_id."""
        if isinstance(message, Message):
            return message
        inline_id = getattr(message, "inline_message_id", None)
        if inline_id and inline_id in self.inline_messages:
            return self.inline_messages[inline_id]
        if isinstance(message, BotEvent) and message.message is not None:
            return message.message
        found = self.chats[message.chat_id].messages.get(message.message_id)
        if found is None:
            raise LookupError(f"no message {message.message_id} in chat {message.chat_id}")
        return found

    @staticmethod
    def _find_button(message: Message, label: str | None, data: str | None) -> dict:
        rows = (message.reply_markup or {}).get("inline_keyboard", [])
        buttons = [b for row in rows for b in row if "callback_data" in b]
        for matches in (
            lambda b: data is not None and b["callback_data"] == data,
            lambda b: label is not None and b.get("text") == label,
            lambda b: label is not None and label in b.get("text", ""),
        ):
            found = [b for b in buttons if matches(b)]
            if found:
                return found[0]
        labels = [b.get("text") for b in buttons]
        raise LookupError(f"no button {label or data!r} on message; buttons: {labels}")

    # -- payments --------------------------------------------------------------------------

    async def pay_invoice(
        self,
        user: UserRef,
        message: Message | BotEvent,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Payment:
        """``user`` pays an invoice: pre_checkout_query, the bot's answer, successful_payment.

        Telegram gives the bot ``pre_checkout_timeout`` seconds to answer; a late or negative
        answer ends the payment with no money taken.
        """
        invoice_message = self._message_of(message)
        invoice = invoice_message.invoice
        if invoice is None:
            raise ValueError("that message is not an invoice")
        if invoice_message.paid:
            raise ValueError("that invoice has been paid already")
        resident = self.user(user)
        query_id = self.new_id()
        answer: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()
        self.pre_checkouts[query_id] = answer
        self.record(
            "pre_checkout",
            by_bot=False,
            message=invoice_message,
            user_id=resident.id,
            data={"pre_checkout_query_id": query_id},
        )
        self.push_update(
            "pre_checkout_query",
            {
                "id": query_id,
                "from": resident.to_api(),
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": invoice_message.invoice_payload or "",
            },
        )
        try:
            ok, error = await asyncio.wait_for(answer, timeout or self.pre_checkout_timeout)
        except TimeoutError:
            ok, error = False, "the bot did not confirm the order in time"
        finally:
            self.pre_checkouts.pop(query_id, None)
        if not ok:
            self.record(
                "payment_failed",
                by_bot=False,
                message=invoice_message,
                user_id=resident.id,
                text=error,
            )
            return Payment(ok=False, error_message=error)
        invoice_message.paid = True
        charge = f"{secrets.randbelow(10**9)}_{uuid.uuid4().hex[:12]}"
        provider_charge = f"ch_{uuid.uuid4().hex}"
        receipt = self.new_message(
            invoice_message.chat,
            resident,
            successful_payment={
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": invoice_message.invoice_payload or "",
                "telegram_payment_charge_id": charge,
                "provider_payment_charge_id": provider_charge,
            },
        )
        self._post(receipt)
        return Payment(True, None, receipt, charge, provider_charge)

    # -- inline mode -----------------------------------------------------------------------

    async def inline_query(
        self,
        user: UserRef,
        query: str,
        *,
        chat_type: str = "sender",
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> InlineAnswer:
        """``user`` types ``@bot query``; waits for answerInlineQuery and returns its results."""
        resident = self.user(user)
        query_id = self.new_id()
        answered: asyncio.Future[list[dict]] = asyncio.get_running_loop().create_future()
        self.inline_queries[query_id] = {
            "user_id": resident.id,
            "query": query,
            "at": time.monotonic(),
            "answer": answered,
        }
        self.record(
            "inline_query",
            by_bot=False,
            user_id=resident.id,
            text=query,
            data={"inline_query_id": query_id},
        )
        self.push_update(
            "inline_query",
            {
                "id": query_id,
                "from": resident.to_api(),
                "query": query,
                "offset": "",
                "chat_type": chat_type,
            },
        )
        results = await asyncio.wait_for(answered, timeout or self.inline_timeout)
        return InlineAnswer(query_id, query, results)

    async def choose_inline_result(
        self, user: UserRef, answer: InlineAnswer, result_id: str, chat: ChatRef
    ) -> Message:
        """``user`` picks a result: it is posted in ``chat`` from them, "via" the bot."""
        resident, target = self._member_chat(user, chat)
        result = next((r for r in answer.results if r.get("id") == result_id), None)
        if result is None:
            raise LookupError(f"no inline result {result_id!r}")
        content = result.get("input_message_content") or {}
        text, entities = content.get("message_text"), content.get("entities") or []
        if text is None:
            raise ValueError("only results with a text message can be chosen here")
        if content.get("parse_mode"):
            text, entities = parse_text(text, content["parse_mode"])
        inline_id = secrets.token_urlsafe(24) if result.get("reply_markup") else None
        message = self.new_message(
            target,
            resident,
            text=text,
            entities=entities,
            reply_markup=result.get("reply_markup"),
            via_bot=self.bot,
            inline_message_id=inline_id,
        )
        if inline_id:
            self.inline_messages[inline_id] = message
        chosen = {"result_id": result_id, "from": resident.to_api(), "query": answer.query}
        if inline_id:
            chosen["inline_message_id"] = inline_id
        self.push_update("chosen_inline_result", chosen)
        return self._post(message)
