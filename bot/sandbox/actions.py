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

    async def share_users(
        self,
        user: UserRef,
        message: Message | BotEvent | None,
        button: str,
        people: list[UserRef],
    ) -> Message:
        """``user`` taps the reply keyboard's ``request_users`` button ``button`` (by label,
        exactly or a part of it) and picks ``people`` in Telegram's picker: the bot gets a
        message carrying ``users_shared``.

        ``message`` is the bot's message that showed the keyboard (None: the keyboard the
        private chat shows now). The picker keeps the button's rules: at most
        ``max_quantity`` people, bots only if ``user_is_bot``, never the user themself;
        names and usernames only when the button asked for them.
        """
        resident = self.user(user)
        target = self._message_of(message).chat if message is not None else self.chats[resident.id]
        if resident.id not in target.member_ids:
            raise PermissionError(f"{resident.first_name} cannot see that keyboard")
        keyboard = target.reply_keyboard
        rows = (keyboard or {}).get("keyboard", [])
        buttons = [b for row in rows for b in row if isinstance(b, dict) and "request_users" in b]
        chosen = next(
            (b for b in buttons if b.get("text") == button),
            next((b for b in buttons if button in b.get("text", "")), None),
        )
        if chosen is None:
            labels = [b.get("text") for b in buttons]
            raise LookupError(f"no request_users button {button!r}; buttons: {labels}")
        rule = chosen["request_users"]
        picked = [self.user(p) for p in people]
        if not 1 <= len(picked) <= int(rule.get("max_quantity", 1)):
            raise ValueError(f"pick 1 to {rule.get('max_quantity', 1)} people")
        for person in picked:
            if person.id == resident.id:
                raise ValueError("the picker does not offer yourself")
            if "user_is_bot" in rule and bool(rule["user_is_bot"]) != person.is_bot:
                raise ValueError(f"{person.first_name} does not fit the button's rules")
        shared = []
        for person in picked:
            entry: dict[str, Any] = {"user_id": person.id}
            if rule.get("request_name"):
                entry["first_name"] = person.first_name
                if person.last_name:
                    entry["last_name"] = person.last_name
            if rule.get("request_username") and person.username:
                entry["username"] = person.username
            shared.append(entry)
        if keyboard and keyboard.get("one_time_keyboard"):
            target.reply_keyboard = None
        posted = self.new_message(
            target,
            resident,
            users_shared={"request_id": rule["request_id"], "users": shared},
        )
        return self._post(posted)

    async def switch_inline(
        self,
        user: UserRef,
        message: Message | BotEvent,
        button: str,
        chat: ChatRef,
    ) -> InlineAnswer:
        """``user`` taps a ``switch_inline_query`` (or ``…_chosen_chat``) button, picks
        ``chat`` and so sends the button's inline query from there; the bot's answer.
        Choose a result with :meth:`choose_inline_result`."""
        target = self._message_of(message)
        resident, where = self._member_chat(user, chat)
        rows = (target.reply_markup or {}).get("inline_keyboard", [])
        for row in rows:
            for found in row:
                if button not in found.get("text", ""):
                    continue
                chosen = found.get("switch_inline_query_chosen_chat")
                if chosen is not None:
                    allowed = "allow_group_chats" if where.is_group else "allow_user_chats"
                    if not chosen.get(allowed):
                        raise PermissionError("the button does not offer that kind of chat")
                    query = chosen.get("query", "")
                elif "switch_inline_query" in found:
                    query = found["switch_inline_query"]
                else:
                    continue
                chat_type = where.type if where.is_group else "private"
                return await self.inline_query(resident, query, chat_type=chat_type)
        raise LookupError(f"no inline switch button {button!r} on that message")

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
