"""The Bot API methods, independent of HTTP: ``await call_method(emulator, name, params)``.

Sending and editing live in :mod:`bot.sandbox.messaging`, files in :mod:`bot.sandbox.files`,
payments and inline mode in :mod:`bot.sandbox.payments`; this module has the rest (identity,
updates, webhooks, commands, chat information) and the dispatcher.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.sandbox import files, messaging, payments  # noqa: F401  (they register methods)
from bot.sandbox.errors import ApiError, bad_request
from bot.sandbox.messaging import find_chat
from bot.sandbox.params import METHODS, Params, method
from bot.sandbox.webhook import LOOPBACK_HOSTS

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

__all__ = ["call_method"]

LONG_POLL_LIMIT = 50.0
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


# real methods the sandbox does not emulate: a clear 400 rather than Telegram's 404 for typos
NOT_EMULATED = frozenset(
    name.lower()
    for name in (
        "forwardMessage",
        "forwardMessages",
        "copyMessage",
        "copyMessages",
        "sendMediaGroup",
        "sendAnimation",
        "sendVideo",
        "sendVideoNote",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "editMessageMedia",
        "stopPoll",
        "setMessageReaction",
        "banChatMember",
        "unbanChatMember",
        "restrictChatMember",
        "promoteChatMember",
        "answerShippingQuery",
        "createInvoiceLink",
        "refundStarPayment",
        "sendPaidMedia",
        "setChatPermissions",
        "exportChatInviteLink",
    )
)


async def call_method(emulator: Emulator, name: str, params: Params) -> Any:
    """Run one Bot API method; raise :class:`ApiError` as Telegram would refuse it."""
    handler = METHODS.get(name.lower())
    if handler is None:
        if name.lower() in NOT_EMULATED:
            error = bad_request(f"the sandbox does not emulate {name}")
            emulator.record(
                "error",
                by_bot=True,
                data={"method": name, "code": 400, "description": error.description},
            )
            raise error
        raise ApiError(404, "Not Found")
    try:
        return await handler(emulator, params)
    except ApiError as exc:
        emulator.record(
            "error",
            by_bot=True,
            data={"method": name, "code": exc.code, "description": exc.description},
        )
        raise


@method("getMe")
async def get_me(emulator: Emulator, params: Params) -> dict:
    return {
        **emulator.bot.to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": not emulator.privacy_mode,
        "supports_inline_queries": True,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@method("logOut", "close")
async def log_out(emulator: Emulator, params: Params) -> bool:
    return True


@method("getUpdates")
async def get_updates(emulator: Emulator, params: Params) -> list[dict]:
    """Long polling: wait up to ``timeout`` s for updates at or above ``offset``.

    A newer getUpdates call ends an older one waiting with 409, as on Telegram.
    """
    if emulator.webhook.get("url"):
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active;"
            " use deleteWebhook to delete the webhook first",
        )
    emulator.poll_generation += 1
    generation = emulator.poll_generation
    emulator.update_pulse.fire()
    allowed = params.json("allowed_updates")
    emulator.set_allowed_updates(allowed if isinstance(allowed, list) else None)
    offset = params.int("offset")
    emulator.confirm_updates(offset)
    limit = params.int("limit") or 100
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(params.float("timeout") or 0.0, 0.0), LONG_POLL_LIMIT)
    while True:
        if emulator.poll_generation != generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request;"
                " make sure that only one bot instance is running",
            )
        updates = emulator.pending_updates(limit, offset)
        remaining = deadline - loop.time()
        if updates or remaining <= 0 or emulator.closed:
            return updates
        await emulator.update_pulse.wait(remaining)


@method("setWebhook")
async def set_webhook(emulator: Emulator, params: Params) -> bool:
    url = params.str("url") or ""
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if url and urlsplit(url).hostname not in LOOPBACK_HOSTS:
        raise bad_request("bad webhook: the sandbox delivers updates only to this machine")
    if params.bool("drop_pending_updates"):
        emulator.confirm_updates(10**12)
    allowed = params.json("allowed_updates")
    emulator.set_allowed_updates(allowed if isinstance(allowed, list) else None)
    emulator.webhook = {"url": url, "secret_token": params.str("secret_token")} if url else {}
    emulator.update_pulse.fire()
    return True


@method("deleteWebhook")
async def delete_webhook(emulator: Emulator, params: Params) -> bool:
    if params.bool("drop_pending_updates"):
        emulator.confirm_updates(10**12)
    emulator.webhook = {}
    return True


@method("getWebhookInfo")
async def get_webhook_info(emulator: Emulator, params: Params) -> dict:
    return {
        "url": emulator.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": emulator.update_log_size,
    }


def _commands_key(params: Params) -> str:
    scope = params.json("scope") or {"type": "default"}
    return json.dumps([scope, params.str("language_code") or ""], sort_keys=True)


@method("setMyCommands")
async def set_my_commands(emulator: Emulator, params: Params) -> bool:
    commands = params.json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    for command in commands:
        name = str(command.get("command", "")) if isinstance(command, dict) else ""
        description = str(command.get("description", "")) if isinstance(command, dict) else ""
        if not _COMMAND.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    emulator.commands[_commands_key(params)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(emulator: Emulator, params: Params) -> list[dict]:
    return emulator.commands.get(_commands_key(params), [])


@method("deleteMyCommands")
async def delete_my_commands(emulator: Emulator, params: Params) -> bool:
    emulator.commands.pop(_commands_key(params), None)
    return True


_DESCRIPTION_LIMITS = {"description": 512, "short_description": 120}  # Telegram's


def _set_description(emulator: Emulator, params: Params, which: str) -> bool:
    text = params.str(which) or ""
    if len(text) > _DESCRIPTION_LIMITS[which]:
        raise bad_request(f"{which.upper()}_INVALID")
    key = (which, params.str("language_code") or "")
    if text:
        emulator.descriptions[key] = text
    else:  # an empty text removes the one of that language
        emulator.descriptions.pop(key, None)
    return True


def _get_description(emulator: Emulator, params: Params, which: str) -> dict:
    language = params.str("language_code") or ""
    text = emulator.descriptions.get((which, language))
    if text is None:
        text = emulator.descriptions.get((which, ""), "")
    return {which: text}


@method("setMyDescription")
async def set_my_description(emulator: Emulator, params: Params) -> bool:
    return _set_description(emulator, params, "description")


@method("setMyShortDescription")
async def set_my_short_description(emulator: Emulator, params: Params) -> bool:
    return _set_description(emulator, params, "short_description")


@method("getMyDescription")
async def get_my_description(emulator: Emulator, params: Params) -> dict:
    return _get_description(emulator, params, "description")


@method("getMyShortDescription")
async def get_my_short_description(emulator: Emulator, params: Params) -> dict:
    return _get_description(emulator, params, "short_description")


_MENU_BUTTONS = {"commands", "default", "web_app"}


@method("setChatMenuButton")
async def set_chat_menu_button(emulator: Emulator, params: Params) -> bool:
    button = params.json("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in _MENU_BUTTONS:
        raise bad_request("can't parse menu button")
    chat_id = params.int("chat_id")
    if chat_id is not None and chat_id not in emulator.chats:
        raise bad_request("chat not found")
    emulator.menu_buttons[chat_id] = button
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(emulator: Emulator, params: Params) -> dict:
    chat_id = params.int("chat_id")
    found = emulator.menu_buttons.get(chat_id) or emulator.menu_buttons.get(None)
    return found or {"type": "default"}


@method(
    "setMyName",
    "setMyDefaultAdministratorRights",
)
async def accept_setting(emulator: Emulator, params: Params) -> bool:
    return True


@method("getChat")
async def get_chat(emulator: Emulator, params: Params) -> dict:
    return find_chat(emulator, params).full_info()


def _member(emulator: Emulator, chat_id: int, user_id: int) -> dict:
    chat = emulator.chats[chat_id]
    if user_id == emulator.bot.id:
        user, is_admin = emulator.bot, chat.bot_is_admin
        present = chat.bot_is_member
    elif user_id in emulator.users:
        user, is_admin = emulator.users[user_id], user_id in chat.admin_ids
        present = user_id in chat.member_ids
    else:
        raise bad_request("user not found")
    if not present:
        return {"status": "left", "user": user.to_api()}
    if chat.is_group and user_id == chat.owner_id:
        return {"status": "creator", "user": user.to_api(), "is_anonymous": False}
    if chat.is_group and is_admin:
        rights = (
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_promote_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
        )
        return {
            "status": "administrator",
            "user": user.to_api(),
            "can_be_edited": False,
            "is_anonymous": False,
            **dict.fromkeys(rights, True),
        }
    return {"status": "member", "user": user.to_api()}


@method("getChatMember")
async def get_chat_member(emulator: Emulator, params: Params) -> dict:
    chat = find_chat(emulator, params)
    return _member(emulator, chat.id, params.int("user_id", required=True) or 0)


@method("getChatAdministrators")
async def get_chat_administrators(emulator: Emulator, params: Params) -> list[dict]:
    chat = find_chat(emulator, params)
    ids = [i for i in chat.member_ids if i in chat.admin_ids or i == chat.owner_id]
    if chat.bot_is_admin:
        ids.append(emulator.bot.id)
    return [_member(emulator, chat.id, user_id) for user_id in ids]


@method("getChatMemberCount")
async def get_chat_member_count(emulator: Emulator, params: Params) -> int:
    chat = find_chat(emulator, params)
    return len(chat.member_ids) + (1 if chat.bot_is_member else 0)


@method("pinChatMessage", "unpinChatMessage")
async def pin_chat_message(emulator: Emulator, params: Params) -> bool:
    chat = find_chat(emulator, params)
    if chat.is_group and not chat.bot_is_admin:
        raise bad_request("not enough rights to manage pinned messages in the chat")
    return True
