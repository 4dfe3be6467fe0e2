"""People in memory (the ``UserStore`` of ``bot.domain.ports``), as ``users_ops`` keeps them.

Usernames are compared as SQLite's ``lower()`` compares them: ASCII letters ignore case,
other characters are taken as they are.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import UserNotFound
from bot.domain.model import AccountKind
from bot.domain.ports import UserStore
from bot.domain.users import Profile, User
from tests.fakes.ledger import new_account
from tests.fakes.port import MemoryPort
from tests.fakes.state import IntegrityError, MemoryState

__all__ = ["MemoryUsers", "fold_username", "upsert_user"]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_username(name: str) -> str:
    return name.translate(_ASCII_LOWER)


def upsert_user(state: MemoryState, profile: Profile, currency: str, private_chat: bool) -> User:
    """Create or update the person and open their account, inside the caller's write."""
    telegram_id = profile.telegram_id
    account = new_account(state, f"user:{telegram_id}", AccountKind.USER, currency)
    if profile.username:
        wanted = fold_username(profile.username)
        for other in list(state.users.values()):
            taken = other.username is not None and fold_username(other.username) == wanted
            if taken and other.telegram_id != telegram_id:
                state.users[other.telegram_id] = replace(other, username=None)
    known = state.users.get(telegram_id)
    if known is None:
        user = User(
            telegram_id,
            account.id,
            profile.username,
            profile.first_name,
            profile.language_code,
            None,
            private_chat,
        )
        if account.id in state.user_by_account:
            raise IntegrityError("UNIQUE constraint failed: users.account_id")
        state.user_by_account[account.id] = telegram_id
    else:  # the account stays the one the person was registered with
        user = replace(
            known,
            username=profile.username,
            first_name=profile.first_name,
            language_code=profile.language_code,
            private_chat=known.private_chat or private_chat,
        )
    if user.username is not None and any(
        other.username is not None and fold_username(other.username) == fold_username(user.username)
        for other in state.users.values()
        if other.telegram_id != telegram_id
    ):
        raise IntegrityError("UNIQUE constraint failed: users_by_username")
    state.users[telegram_id] = user
    return user


def set_language(state: MemoryState, telegram_id: int, language: str | None) -> User:
    user = state.users.get(telegram_id)
    if user is None:
        raise UserNotFound(telegram_id=telegram_id)
    state.users[telegram_id] = user = replace(user, language=language)
    return user


class MemoryUsers(MemoryPort, UserStore):
    async def upsert_user(self, profile: Profile, currency: str, private_chat: bool) -> User:
        return await self._state.write(upsert_user, self._state, profile, currency, private_chat)

    async def get_user(self, telegram_id: int) -> User | None:
        return self._db.users.get(telegram_id)

    async def find_user_by_username(self, username: str) -> User | None:
        wanted = fold_username(username)
        for user in self._db.users.values():
            if user.username is not None and fold_username(user.username) == wanted:
                return user
        return None

    async def set_user_language(self, telegram_id: int, language: str | None) -> User:
        return await self._state.write(set_language, self._state, telegram_id, language)
