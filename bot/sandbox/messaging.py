"""Bot API methods that send, edit and delete messages and answer callback queries."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bot.sandbox.errors import ApiError, bad_request, forbidden
from bot.sandbox.formatting import EntityParseError, parse_text, strip_text
from bot.sandbox.models import Chat, Message
from bot.sandbox.params import Params, method

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

__all__ = ["check_markup", "read_text", "record_sent", "reply_target", "sendable_chat"]

TEXT_LIMIT, CAPTION_LIMIT, CALLBACK_TEXT_LIMIT, CALLBACK_DATA_LIMIT = 4096, 1024, 200, 64
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_URL_SCHEMES = ("http://", "https://", "tg://")
_TEXT_BUTTON = (
    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
)
_NOT_ARRAYS = 'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'


def find_chat(emulator: Emulator, params: Params) -> Chat:
    raw = params.raw("chat_id")
    if raw is None or raw == "":
        raise bad_request("chat_id is empty")
    if isinstance(raw, str) and raw.startswith("@"):
        for chat in emulator.chats.values():
            if chat.username and chat.username.lower() == raw[1:].lower():
                return chat
        raise bad_request("chat not found")
    chat = emulator.chats.get(params.int("chat_id") or 0)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def sendable_chat(emulator: Emulator, params: Params) -> Chat:
    """The target chat, if the bot may write there (Telegram's 403s otherwise)."""
    chat = find_chat(emulator, params)
    if chat.user is not None:
        if chat.user.blocked:
            raise forbidden("bot was blocked by the user")
        if not chat.user.started:
            raise forbidden("bot can't initiate conversation with a user")
    elif not chat.bot_is_member:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat


def take_slot(emulator: Emulator, chat: Chat) -> None:
    wait = emulator.take_group_slot(chat)
    if wait is not None:
        raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)


def read_text(
    params: Params,
    name: str = "text",
    *,
    entities_name: str = "entities",
    limit: int = TEXT_LIMIT,
    required: bool = True,
) -> tuple[str | None, list[dict]]:
    """Text after parse_mode and stripping, checked against Telegram's length limits."""
    raw = params.str(name)
    is_caption = name == "caption"
    if raw is None or raw == "":
        if required:
            raise bad_request("message text is empty")
        return None, []
    parse_mode = params.str("parse_mode")
    entities = [] if parse_mode else params.json(entities_name) or []
    try:
        text, parsed = parse_text(raw, parse_mode)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    text, entities = strip_text(text, parsed if parse_mode else entities)
    if not text:
        if required:
            raise bad_request("message text is empty")
        return None, []
    if len(text) > limit:
        raise bad_request("message caption is too long" if is_caption else "message is too long")
    return text, entities


def check_markup(markup: Any, *, allow_reply_keyboard: bool = True) -> dict | None:
    """Validate reply_markup; inline keyboards are checked button by button."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(_NOT_ARRAYS)
        for row in rows:
            for button in row:
                _check_button(button)
        return markup
    if not allow_reply_keyboard:
        raise bad_request("inline keyboard expected")
    if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request(_TEXT_BUTTON)
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")
    elif "url" in button:
        if not str(button["url"]).startswith(_URL_SCHEMES):
            raise bad_request(
                f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL"
            )
    elif not any(
        key in button
        for key in (
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "pay",
            "login_url",
            "web_app",
            "callback_game",
            "copy_text",
        )
    ):
        raise bad_request(_TEXT_BUTTON)


def reply_target(chat: Chat, params: Params) -> Message | None:
    """The message replied to (reply_parameters or the older reply_to_message_id)."""
    reply = params.json("reply_parameters") or {}
    message_id = reply.get("message_id") if reply else params.int("reply_to_message_id")
    if message_id is None:
        return None
    allow = reply.get("allow_sending_without_reply", params.bool("allow_sending_without_reply"))
    original = chat.messages.get(int(message_id))
    if original is None or original.deleted:
        if allow:
            return None
        raise bad_request("message to be replied not found")
    return original


def apply_reply_keyboard(chat: Chat, markup: dict | None) -> dict | None:
    """Keep a reply keyboard on the chat (clients show it); only inline ones stay on messages."""
    if markup is None or "inline_keyboard" in markup:
        return markup
    if "keyboard" in markup:
        chat.reply_keyboard = markup
    elif markup.get("remove_keyboard"):
        chat.reply_keyboard = None
    return None


def record_sent(emulator: Emulator, message: Message, **data: Any) -> dict:
    emulator.record("message", by_bot=True, message=message, data=data)
    return message.to_api()


@method("sendMessage")
async def send_message(emulator: Emulator, params: Params) -> dict:
    chat = sendable_chat(emulator, params)
    text, entities = read_text(params)
    markup = check_markup(params.json("reply_markup"))
    reply_to = reply_target(chat, params)
    take_slot(emulator, chat)
    message = emulator.new_message(
        chat,
        emulator.bot,
        text=text,
        entities=entities,
        reply_to=reply_to,
        reply_markup=apply_reply_keyboard(chat, markup),
    )
    # a reply keyboard or force_reply is the chat's, not the message's: kept as asked
    return record_sent(emulator, message, asked_markup=markup)


def editable_message(emulator: Emulator, params: Params) -> Message:
    inline_id = params.str("inline_message_id")
    if inline_id:
        message = emulator.inline_messages.get(inline_id)
        if message is None:
            raise bad_request("MESSAGE_ID_INVALID")
        return message
    chat = find_chat(emulator, params)
    message = chat.messages.get(params.int("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request("message to edit not found")
    if message.sender.id != emulator.bot.id:
        raise bad_request("message can't be edited")
    return message


def _finish_edit(emulator: Emulator, message: Message, changes: dict[str, Any]) -> dict | bool:
    if all(getattr(message, key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    if message.inline_message_id is None:
        take_slot(emulator, message.chat)
    for key, value in changes.items():
        setattr(message, key, value)
    message.edit_date = int(time.time())
    emulator.record("edit", by_bot=True, message=message)
    return True if message.inline_message_id else message.to_api()


@method("editMessageText")
async def edit_message_text(emulator: Emulator, params: Params) -> dict | bool:
    message = editable_message(emulator, params)
    text, entities = read_text(params)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    markup = check_markup(params.json("reply_markup"), allow_reply_keyboard=False)
    return _finish_edit(
        emulator, message, {"text": text, "entities": entities, "reply_markup": markup}
    )


@method("editMessageCaption")
async def edit_message_caption(emulator: Emulator, params: Params) -> dict | bool:
    message = editable_message(emulator, params)
    if message.photo is None and message.document is None:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = read_text(
        params, "caption", entities_name="caption_entities", limit=CAPTION_LIMIT, required=False
    )
    markup = check_markup(params.json("reply_markup"), allow_reply_keyboard=False)
    return _finish_edit(
        emulator,
        message,
        {"caption": caption, "caption_entities": entities, "reply_markup": markup},
    )


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emulator: Emulator, params: Params) -> dict | bool:
    message = editable_message(emulator, params)
    markup = check_markup(params.json("reply_markup"), allow_reply_keyboard=False)
    return _finish_edit(emulator, message, {"reply_markup": markup})


@method("deleteMessage")
async def delete_message(emulator: Emulator, params: Params) -> bool:
    chat = find_chat(emulator, params)
    message = chat.messages.get(params.int("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request("message to delete not found")
    mine = message.sender.id == emulator.bot.id
    if chat.is_group and not mine and not chat.bot_is_admin:
        raise bad_request("message can't be deleted")
    message.deleted = True
    emulator.record(
        "delete", by_bot=True, chat_id=chat.id, message_id=message.message_id, text=message.text
    )
    return True


@method("deleteMessages")
async def delete_messages(emulator: Emulator, params: Params) -> bool:
    ids = params.json("message_ids") or []
    for message_id in ids:
        try:
            await delete_message(
                emulator, Params({"chat_id": params.raw("chat_id"), "message_id": message_id})
            )
        except ApiError:
            continue
    return True


@method("answerCallbackQuery")
async def answer_callback_query(emulator: Emulator, params: Params) -> bool:
    query_id = params.str("callback_query_id", required=True) or ""
    state = emulator.callbacks.get(query_id)
    too_old = state is not None and time.monotonic() - state["at"] > emulator.callback_timeout
    if state is None or state["answered"] or too_old:
        raise bad_request(QUERY_TOO_OLD)
    text = params.str("text")
    if text is not None and len(text) > CALLBACK_TEXT_LIMIT:
        raise bad_request("MESSAGE_TOO_LONG")
    state["answered"] = True
    state["answered_at"] = time.monotonic()
    emulator.record(
        "callback_answer",
        by_bot=True,
        user_id=state["user_id"],
        text=text,
        data={
            "callback_query_id": query_id,
            "show_alert": params.bool("show_alert"),
            "url": params.str("url"),
        },
    )
    return True


@method("sendChatAction")
async def send_chat_action(emulator: Emulator, params: Params) -> bool:
    chat = sendable_chat(emulator, params)
    action = params.str("action", required=True)
    emulator.record("chat_action", by_bot=True, chat_id=chat.id, text=action)
    return True
