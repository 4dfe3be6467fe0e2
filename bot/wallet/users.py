"""The people the wallet knows, each with an account.

A person is known once they used the bot in any chat (a command, a tap, a message the
bot can see); from then on money can be sent to them, and it waits in their wallet
until they open the bot's private chat.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import StorageError
from bot.domain.ports import UserStore
from bot.domain.users import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Profile,
    User,
    normalize_username,
    person_ref,
)

__all__ = [
    "Users",
]

_CACHE_LIMIT = 50_000


class Users:
    """Registers people as they appear and finds them by id or @username.

    ``seen`` is called for every update, so it writes only when something changed.
    Every user it answers with reads ``default_language`` (``WALLET_DEFAULT_LANGUAGE``)
    when their Telegram language is neither Chinese nor English.
    """

    def __init__(
        self, store: UserStore, currency: str, *, default_language: str = DEFAULT_LANGUAGE
    ) -> None:
        if default_language not in LANGUAGES:
            raise ValueError(f"the default language is one of {LANGUAGES}")
        self.store = store
        self.currency = currency
        self.default_language = default_language
        self._known: dict[int, User] = {}

    def _ours(self, user: User | None) -> User | None:
        """``user`` with this wallet's default language."""
        if user is None or user.default_language == self.default_language:
            return user
        return replace(user, default_language=self.default_language)

    async def seen(self, profile: Profile, *, private_chat: bool = False) -> User:
        """Record that this person used the bot; open their wallet the first time."""
        known = self.known_as(profile, private_chat=private_chat)
        if known is not None:
            return known
        try:
            stored = await self.store.upsert_user(profile, self.currency, private_chat)
        except StorageError:
            # The database takes no writes (a full disk, a read-only file): one it knows
            # may still read; their new name or private chat is saved by a later update.
            known = await self.get(profile.telegram_id)
            if known is None:
                raise
            return known
        user = self._ours(stored)
        self._remember(user)
        return user

    def known_as(self, profile: Profile, *, private_chat: bool = False) -> User | None:
        """The user, if the wallet knows them exactly as ``profile`` says (no write due)."""
        known = self._known.get(profile.telegram_id)
        if (
            known is not None
            and known.username == profile.username
            and known.first_name == profile.first_name
            and known.language_code == profile.language_code
            and (known.private_chat or not private_chat)
        ):
            return known
        return None

    def registered(self, user: User) -> None:
        """A write elsewhere (a grab that registered its grabber) stored ``user``."""
        self._remember(self._ours(user))

    async def get(self, telegram_id: int) -> User | None:
        user = self._known.get(telegram_id)
        if user is None:
            user = self._ours(await self.store.get_user(telegram_id))
            if user is not None:
                self._remember(user)
        return user

    async def by_username(self, text: str) -> User | None:
        name = normalize_username(text)
        if name is None:
            return None
        return self._ours(await self.store.find_user_by_username(name))

    async def find(self, text: str) -> User | None:
        """A known person by ``@username`` or numeric Telegram id (typed full-width too)."""
        text = person_ref(text)
        if text.isascii() and text.isdigit():
            number = int(text)
            return await self.get(number) if 0 < number < 2**63 else None
        return await self.by_username(text)

    async def set_language(self, telegram_id: int, language: str | None) -> User:
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language is one of {LANGUAGES} or None")
        user = self._ours(await self.store.set_user_language(telegram_id, language))
        self._remember(user)
        return user

    def _remember(self, user: User) -> None:
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        self._known[user.telegram_id] = user
