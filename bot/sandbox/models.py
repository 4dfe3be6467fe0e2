"""The objects of the emulated Telegram world and their Bot API JSON shapes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BotEvent", "Chat", "Message", "Payment", "StoredFile", "User"]

PRIVATE, GROUP, SUPERGROUP = "private", "group", "supergroup"


@dataclass
class User:
    """A Telegram account: a resident, or the bot itself (``is_bot``)."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    last_name: str | None = None
    is_bot: bool = False
    started: bool = False  # has opened the bot's private chat (so the bot may write)
    blocked: bool = False  # has blocked the bot

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class Chat:
    """A private chat (id = the user's id) or a group (negative id)."""

    id: int
    type: str
    title: str | None = None
    user: User | None = None  # the other side of a private chat
    member_ids: list[int] = field(default_factory=list)
    admin_ids: set[int] = field(default_factory=set)
    owner_id: int | None = None
    username: str | None = None
    bot_is_member: bool = True
    bot_is_admin: bool = False
    messages: dict[int, Message] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict | None = None  # the ReplyKeyboardMarkup a client would show

    @property
    def is_group(self) -> bool:
        return self.type in (GROUP, SUPERGROUP)

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title
            if self.username:
                data["username"] = self.username
        return data

    def full_info(self) -> dict[str, Any]:
        """``ChatFullInfo`` as getChat answers it."""
        return {
            **self.to_api(),
            "accent_color_id": abs(self.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }


@dataclass
class Message:
    """A message in a chat; edits change it in place, ``deleted`` hides it."""

    chat: Chat
    message_id: int
    sender: User
    date: int = field(default_factory=lambda: int(time.time()))
    text: str | None = None
    entities: list[dict] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict] = field(default_factory=list)
    reply_to: Message | None = None
    reply_markup: dict | None = None
    photo: list[dict] | None = None
    document: dict | None = None
    invoice: dict | None = None
    successful_payment: dict | None = None
    users_shared: dict | None = None  # people picked with a request_users button
    via_bot: User | None = None
    edit_date: int | None = None
    inline_message_id: str | None = None
    deleted: bool = False
    invoice_payload: str | None = None  # kept by Telegram, shown to the bot only when paid
    paid: bool = False  # an invoice that has been paid

    @property
    def chat_id(self) -> int:
        return self.chat.id

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender.to_api(),
            "chat": self.chat.to_api(),
            "date": self.date,
        }
        if self.reply_to is not None and with_reply:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.via_bot is not None:
            data["via_bot"] = self.via_bot.to_api()
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        for name in ("photo", "document", "invoice", "successful_payment", "users_shared"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        return data


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file; ``file_path`` is where the download route serves ``content``."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str = "application/octet-stream"
    file_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass(frozen=True)
class BotEvent:
    """One thing that happened, in order; ``by_bot`` tells the bot's actions from users'.

    Kinds done by the bot: ``message`` (sent: text, photo, document or invoice), ``edit``,
    ``delete``, ``callback_answer``, ``pre_checkout_answer``, ``inline_answer``,
    ``chat_action``, ``error`` (a refused Bot API call: ``data`` has method and description).
    Kinds done by users: ``user_message``, ``tap``, ``pre_checkout``, ``payment_failed``,
    ``inline_query``.
    """

    seq: int
    kind: str
    by_bot: bool
    chat_id: int | None = None
    message_id: int | None = None
    user_id: int | None = None
    text: str | None = None
    message: Message | None = None
    inline_message_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def reply_markup(self) -> dict | None:
        return self.data.get("reply_markup")

    def buttons(self) -> list[dict]:
        """The inline keyboard's buttons, row by row, flattened."""
        markup = self.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass(frozen=True)
class Payment:
    """How paying an invoice ended."""

    ok: bool
    error_message: str | None = None
    message: Message | None = None  # the successful_payment message
    telegram_payment_charge_id: str | None = None
    provider_payment_charge_id: str | None = None
