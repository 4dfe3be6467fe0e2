"""The in-memory Telegram world the sandbox serves: the bot, residents, chats, updates.

Tests and the sandbox page act as residents through :class:`Emulator` (see
:mod:`bot.sandbox.actions` for sending, tapping, paying), and watch what the bot did through
the event log::

    emulator = Emulator()
    await emulator.send_text("alice", "/start")
    reply = await emulator.wait_for_message("alice", text="Welcome")
    await emulator.tap("alice", reply, "Balance")
    answer = await emulator.wait_for(lambda e: e.kind == "callback_answer")

``wait_for`` looks only at the bot's events recorded after the latest resident action (or
after ``since``), so an older reply never satisfies it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bot.sandbox.actions import UserActions
from bot.sandbox.faults import Faults
from bot.sandbox.models import PRIVATE, SUPERGROUP, BotEvent, Chat, Message, StoredFile, User

__all__ = ["DEFAULT_ALLOWED_UPDATES", "Emulator", "Pulse"]

# what getUpdates delivers when allowed_updates is empty or was never given
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)
UserRef = int | str | User
ChatRef = int | str | Chat | User | None


class Pulse:
    """Wakes every waiter when something changed."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, seconds: float) -> None:
        """Return when fired, or after ``seconds``."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


class Emulator(UserActions):
    """The world behind the emulated Bot API; every mutation fires a pulse.

    ``group_rate_limit`` messages per ``rate_window`` seconds may go to one group (``None``
    turns the limit off); ``privacy_mode`` decides which group messages the bot receives.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "wallet_sandbox_bot",
        bot_first_name: str = "Wallet Sandbox",
        residents: bool = True,
        group_rate_limit: int | None = 20,
        rate_window: float = 60.0,
        privacy_mode: bool = True,
        callback_timeout: float = 15.0,
        pre_checkout_timeout: float = 10.0,
        inline_timeout: float = 10.0,
    ) -> None:
        bot_id = int(token.split(":", 1)[0]) if token else 7_000_000_001
        self.token = token or f"{bot_id}:{secrets.token_urlsafe(26)[:35]}"
        self.bot = User(id=bot_id, first_name=bot_first_name, username=bot_username, is_bot=True)
        self.group_rate_limit = group_rate_limit
        self.rate_window = rate_window
        self.privacy_mode = privacy_mode
        self.callback_timeout = callback_timeout
        self.pre_checkout_timeout = pre_checkout_timeout
        self.inline_timeout = inline_timeout
        self.faults = Faults()  # what the Bot API should get wrong (see faults.py)

        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[dict]] = {}  # a photo's file_id -> all its sizes
        self.events: list[BotEvent] = []
        self.commands: dict[str, list[dict]] = {}
        # setMyDescription / setMyShortDescription: (which, language_code or "") -> text
        self.descriptions: dict[tuple[str, str], str] = {}
        # setChatMenuButton: chat id (None: every private chat's default) -> MenuButton
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.webhook: dict[str, Any] = {}
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self.poll_generation = 0
        self.closed = False
        self.update_pulse = Pulse()
        self.event_pulse = Pulse()

        self.callbacks: dict[str, dict[str, Any]] = {}
        self.pre_checkouts: dict[str, asyncio.Future[tuple[bool, str | None]]] = {}
        self.inline_queries: dict[str, dict[str, Any]] = {}
        self.inline_messages: dict[str, Message] = {}

        # what the harness waits for before it reads what a bot left (``settled``)
        self.settle_hooks: list[Callable[[], Awaitable[None]]] = []
        self._updates: deque[dict] = deque()
        self._next_update_id = 1
        self._mark = 0
        self._ids = 0
        self._sent_to_group: dict[int, deque[float]] = {}
        self.default_group: Chat | None = None
        if residents:
            self.populate()

    # -- the world -------------------------------------------------------------------------

    def populate(self) -> None:
        """The default neighbourhood: four residents and their group."""
        xiaoming = self.add_user("小明", "xiaoming", "zh-hans", user_id=100_001)
        alice = self.add_user("Alice", "alice", "en", user_id=100_002, last_name="Smith")
        fang = self.add_user("王芳", "wangfang", "zh-hans", user_id=100_003)
        bob = self.add_user("Bob", "bob", "en", user_id=100_004)
        self.add_group(
            "Neighbourhood",
            [xiaoming, alice, fang, bob],
            chat_id=-1_001_000_000_001,
            owner=xiaoming,
            admins=[alice],
        )

    def add_user(
        self,
        first_name: str,
        username: str | None = None,
        language_code: str | None = "en",
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        started: bool = False,
    ) -> User:
        """A new resident with their (still unopened) private chat with the bot."""
        user_id = user_id or 200_000 + len(self.users) + 1
        if user_id in self.users:
            raise ValueError(f"user {user_id} exists")
        user = User(user_id, first_name, username, language_code, last_name, started=started)
        self.users[user_id] = user
        self.chats[user_id] = Chat(id=user_id, type=PRIVATE, user=user, member_ids=[user_id])
        return user

    def add_group(
        self,
        title: str,
        members: Iterable[UserRef],
        *,
        chat_id: int | None = None,
        owner: UserRef | None = None,
        admins: Iterable[UserRef] = (),
        bot_is_admin: bool = False,
        chat_type: str = SUPERGROUP,
    ) -> Chat:
        chat_id = chat_id or -1_001_000_000_000 - len(self.chats) - 1
        chat = Chat(
            id=chat_id,
            type=chat_type,
            title=title,
            member_ids=[self.user(m).id for m in members],
            owner_id=self.user(owner).id if owner is not None else None,
            admin_ids={self.user(a).id for a in admins},
            bot_is_admin=bot_is_admin,
        )
        self.chats[chat_id] = chat
        if self.default_group is None:
            self.default_group = chat
        return chat

    @property
    def group(self) -> Chat:
        """The first group (the "Neighbourhood" of the default world)."""
        if self.default_group is None:
            raise LookupError("the emulator has no group")
        return self.default_group

    def user(self, ref: UserRef) -> User:
        """A user by id, @username, username or first name."""
        if isinstance(ref, User):
            return ref
        if isinstance(ref, int):
            if ref in self.users:
                return self.users[ref]
        else:
            name = ref.removeprefix("@").lower()
            for user in self.users.values():
                if (user.username or "").lower() == name or user.first_name.lower() == name:
                    return user
        raise LookupError(f"no user {ref!r}")

    def chat(self, ref: ChatRef, user: UserRef | None = None) -> Chat:
        """A chat by id or object; a user (or None with ``user``) means their private chat."""
        if ref is None:
            if user is None:
                raise LookupError("name a chat or a user")
            return self.chats[self.user(user).id]
        if isinstance(ref, Chat):
            return ref
        if isinstance(ref, User):
            return self.chats[ref.id]
        if isinstance(ref, int) and ref in self.chats:
            return self.chats[ref]
        if isinstance(ref, str):
            for chat in self.chats.values():
                if chat.title and chat.title.lower() == ref.lower():
                    return chat
            return self.chats[self.user(ref).id]
        raise LookupError(f"no chat {ref!r}")

    def chat_instance(self, chat: Chat) -> str:
        digest = hashlib.sha256(f"{self.token}:{chat.id}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big") >> 1)

    def new_id(self) -> str:
        """A fresh numeric string id (callback, pre-checkout and inline query ids)."""
        self._ids += 1
        return str(4_000_000_000_000_000_000 + self._ids * 7919 + secrets.randbelow(7919))

    def new_message(self, chat: Chat, sender: User, **fields: Any) -> Message:
        message = Message(chat=chat, message_id=chat.next_message_id, sender=sender, **fields)
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        return message

    def store_file(self, stored: StoredFile) -> StoredFile:
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def bot_sees(self, message: Message) -> bool:
        """Whether the bot receives ``message`` as an update (Telegram's privacy mode)."""
        chat = message.chat
        if chat.type == PRIVATE:
            return True
        if not chat.bot_is_member:
            return False
        if not self.privacy_mode or chat.bot_is_admin or message.successful_payment:
            return True
        if message.via_bot is not None and message.via_bot.id == self.bot.id:
            return True
        if message.reply_to is not None and message.reply_to.sender.id == self.bot.id:
            return True
        text = message.text if message.text is not None else message.caption or ""
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            _, at, name = command.partition("@")
            return not at or name.lower() == (self.bot.username or "").lower()
        return False

    # -- rate limits -----------------------------------------------------------------------

    def take_group_slot(self, chat: Chat) -> int | None:
        """Count one bot message to a group; the seconds to wait when over the limit."""
        if not chat.is_group or self.group_rate_limit is None:
            return None
        now = time.monotonic()
        sent = self._sent_to_group.setdefault(chat.id, deque())
        while sent and sent[0] <= now - self.rate_window:
            sent.popleft()
        if len(sent) >= self.group_rate_limit:
            oldest = sent[0] if sent else now
            return max(1, int(oldest + self.rate_window - now + 0.999))
        sent.append(now)
        return None

    # -- updates ---------------------------------------------------------------------------

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict | None:
        """Queue an update for the bot, unless its allowed_updates leave this kind out."""
        if kind not in self.allowed_updates:
            return None
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self.update_pulse.fire()
        return update

    def resend_update(self, update: dict) -> dict | None:
        """Deliver a copy of an earlier update again (as after a lost confirmation)."""
        kind = next(key for key in update if key != "update_id")
        return self.push_update(kind, update[kind])

    def set_allowed_updates(self, kinds: list[str] | None) -> None:
        if kinds is not None:
            self.allowed_updates = frozenset(kinds) if kinds else DEFAULT_ALLOWED_UPDATES

    def confirm_updates(self, offset: int | None) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last ones."""
        if offset is None:
            return
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            return
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def pending_updates(self, limit: int = 100, offset: int | None = None) -> list[dict]:
        start = offset if offset is not None and offset > 0 else 0
        return [u for u in self._updates if u["update_id"] >= start][: max(1, min(limit, 100))]

    @property
    def update_log_size(self) -> int:
        return len(self._updates)

    # -- events ----------------------------------------------------------------------------

    def record(self, kind: str, *, by_bot: bool, **fields: Any) -> BotEvent:
        message: Message | None = fields.get("message")
        if message is not None:
            fields.setdefault("chat_id", message.chat_id)
            fields.setdefault("message_id", message.message_id)
            fields.setdefault("inline_message_id", message.inline_message_id)
            if fields.get("text") is None:
                fields["text"] = message.text if message.text is not None else message.caption
            data = fields.setdefault("data", {})
            data.setdefault("reply_markup", message.reply_markup)
        event = BotEvent(seq=len(self.events) + 1, kind=kind, by_bot=by_bot, **fields)
        self.events.append(event)
        if not by_bot:
            self._mark = event.seq
        self.event_pulse.fire()
        return event

    def mark(self) -> int:
        """The sequence number of the latest event; pass it as ``since`` to wait after it."""
        return len(self.events)

    async def wait_for(
        self,
        predicate: Callable[[BotEvent], bool],
        timeout: float = 5.0,  # noqa: ASYNC109  (tests read better with a plain timeout)
        *,
        since: int | None = None,
    ) -> BotEvent:
        """The first bot event after ``since`` (default: the latest user action) matching."""
        index = self._mark if since is None else since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if event.by_bot and predicate(event):
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_report(timeout, since))
            await self.event_pulse.wait(remaining)

    def _timeout_report(self, timeout: float, since: int | None) -> str:
        start = self._mark if since is None else since
        seen = [
            f"{e.kind} chat={e.chat_id} text={(e.text or '')[:60]!r}"
            + (f" ({e.data.get('description')})" if e.kind == "error" else "")
            for e in self.events[start:]
            if e.by_bot
        ]
        return f"no matching bot event within {timeout} s; the bot did: " + (
            "; ".join(seen[-8:]) or "nothing"
        )

    async def wait_for_message(
        self,
        chat: ChatRef = None,
        *,
        text: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int | None = None,
    ) -> BotEvent:
        """The bot's next new message (in ``chat``, a user meaning their private chat)."""
        chat_id = self.chat(chat).id if chat is not None else None
        return await self.wait_for(
            lambda e: (
                e.kind == "message"
                and (chat_id is None or e.chat_id == chat_id)
                and (text is None or text in (e.text or ""))
            ),
            timeout,
            since=since,
        )

    async def wait_for_edit(
        self,
        message: Message | BotEvent,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int | None = None,
    ) -> BotEvent:
        """The bot's next edit of ``message``."""
        chat_id, message_id = message.chat_id, message.message_id
        return await self.wait_for(
            lambda e: e.kind == "edit" and e.chat_id == chat_id and e.message_id == message_id,
            timeout,
            since=since,
        )

    async def wait_for_answer(
        self,
        callback_query_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int | None = None,
    ) -> BotEvent:
        """The bot's answer to one callback query (``data`` has text and show_alert)."""
        return await self.wait_for(
            lambda e: (
                e.kind == "callback_answer" and e.data.get("callback_query_id") == callback_query_id
            ),
            timeout,
            since=since,
        )

    async def settled(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until the bots under test have done what they owe for the updates they
        took (a PIN keypad's last redraw, which its tap's answer does not wait for): each
        of ``settle_hooks``, which the harness that runs a bot registers. TimeoutError
        after ``timeout`` seconds (an update still being handled)."""
        async with asyncio.timeout(timeout):
            for hook in list(self.settle_hooks):
                await hook()

    def bot_events(self, kind: str | None = None) -> list[BotEvent]:
        return [e for e in self.events if e.by_bot and (kind is None or e.kind == kind)]

    def errors(self) -> list[BotEvent]:
        """The Bot API calls refused so far (method and description in ``data``)."""
        return self.bot_events("error")

    def messages(self, chat: ChatRef, *, include_deleted: bool = False) -> list[Message]:
        found = self.chat(chat).messages.values()
        return [m for m in found if include_deleted or not m.deleted]

    def last_message(self, chat: ChatRef, *, from_bot: bool = True) -> Message | None:
        """The latest message in ``chat`` (by the bot unless ``from_bot`` is False)."""
        for message in reversed(self.messages(chat)):
            if not from_bot or message.sender.id == self.bot.id:
                return message
        return None

    def close(self) -> None:
        """Release every waiter (long polls, pending payments) before a shutdown."""
        self.closed = True
        self.update_pulse.fire()
        self.event_pulse.fire()
