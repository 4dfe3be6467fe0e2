"""The people the wallet knows, on the in-memory store: registered once, found by name or id."""

from __future__ import annotations

import pytest

from bot.domain.errors import UserNotFound
from bot.domain.users import Profile
from bot.wallet.users import Users
from tests.fakes import MemoryDatabase


class CountingUsers:
    """The in-memory user store, counting the writes ``Users`` asks of it."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._store = db.users
        self.writes = 0

    async def upsert_user(self, profile, currency, private_chat):
        self.writes += 1
        return await self._store.upsert_user(profile, currency, private_chat)

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def store(db) -> CountingUsers:
    return CountingUsers(db)


@pytest.fixture
def users(store) -> Users:
    return Users(store, "CNY")


async def test_a_newcomer_gets_a_wallet_the_first_time_they_are_seen(users, db):
    user = await users.seen(Profile(42, "Alice", "Alice", "zh-hans"))

    account = await db.ledger.get_account(user.account_id)
    assert account.name == "user:42" and account.currency == "CNY"
    assert (user.username, user.effective_language, user.private_chat) == ("Alice", "zh", False)


async def test_seeing_someone_again_as_they_were_writes_nothing(users, store):
    profile = Profile(42, "Alice", "Alice")
    first = await users.seen(profile)
    again = await users.seen(profile)
    renamed = await users.seen(Profile(42, "Alice", "Ally"))
    opened = await users.seen(Profile(42, "Alice", "Ally"), private_chat=True)
    back_in_a_group = await users.seen(Profile(42, "Alice", "Ally"))

    assert again == first
    assert renamed.first_name == "Ally" and renamed.account_id == first.account_id
    assert opened.private_chat and back_in_a_group.private_chat
    assert store.writes == 3  # first sight, the new name, the private chat


async def test_a_person_is_found_by_username_any_case_or_by_id(users):
    alice = await users.seen(Profile(42, "Alice_W", "Alice"))

    assert await users.find("@alice_w") == alice
    assert await users.find(" ALICE_W ") == alice
    assert await users.find("42") == alice
    assert await users.find("43") is None
    assert await users.find("@x") is None  # cannot be a username: not even looked up
    assert await users.find("0") is None


async def test_a_name_or_id_typed_full_width_finds_the_same_person(users):
    """A Chinese keyboard types ＠ and digits full-width: they mean @ and the digits."""
    alice = await users.seen(Profile(42, "Alice_W", "Alice"))

    assert await users.find("＠alice_w") == alice
    assert await users.find("＠ＡＬＩＣＥ＿Ｗ") == alice
    assert await users.find("４２") == alice
    assert await users.find("＠ｘ") is None


async def test_a_username_moves_to_whoever_has_it_now(users):
    await users.seen(Profile(1, "shop", "Old owner"))
    new_owner = await users.seen(Profile(2, "Shop", "New owner"))

    assert await users.find("@shop") == new_owner
    assert (await users.store.get_user(1)).username is None


async def test_the_chosen_language_is_kept_and_checked(users):
    await users.seen(Profile(42, "alice", "Alice", "zh"))

    chosen = await users.set_language(42, "en")
    with pytest.raises(ValueError):
        await users.set_language(42, "fr")
    with pytest.raises(UserNotFound):
        await users.set_language(43, "en")

    assert chosen.effective_language == "en"
    assert (await users.get(42)).language == "en"
