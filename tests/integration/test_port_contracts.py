"""Each storage port keeps one contract, on SQLite and in memory.

The service tests in ``tests/unit`` run on the in-memory stores of ``tests.fakes``; these
tests keep those stores honest. Two kinds:

- scenarios with the answers written down, run against every back end (the ``db``
  fixture is parametrized over ``SqliteDatabase``, ``MemoryDatabase`` and
  ``PgDatabase``, whose ports not yet written are listed in ``MISSING_PORTS``);
- stories told to both back ends on clocks that move alike, whose every answer, refusal,
  journal row (hashes included), account and security event must come out the same
  (``twins``; the stories of the other ports are in ``test_port_stories``).
"""

from __future__ import annotations

import pytest

from bot.domain.admin import AdminStore
from bot.domain.admin_copies import AdminCopyStore
from bot.domain.adminview import AdminViewStore
from bot.domain.broadcasts import BroadcastStore
from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
    StorageError,
    UserNotFound,
)
from bot.domain.followups import FollowUpStore
from bot.domain.guided import FlowStore
from bot.domain.history import HistoryStore, StatementStore
from bot.domain.holds import GuardStore
from bot.domain.model import AccountKind, AccountStatus, TransferFlag, TransferSpec
from bot.domain.notices import NoticeStore
from bot.domain.offer_store import OfferStore
from bot.domain.payouts import PayoutQueueStore
from bot.domain.ports import Database, LedgerStore, UserStore
from bot.domain.redpackets import RedPacketStore
from bot.domain.refunds import RefundStore
from bot.domain.requests import RequestStore
from bot.domain.security_ports import (
    IdentityStore,
    PasswordFreeStore,
    RotationStore,
    SecurityStore,
    TwoFactorStore,
)
from bot.domain.topups import TopUpStore
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalStore
from bot.storage.postgres import MISSING_PORTS, PgDatabase
from bot.storage.sqlite import SqliteDatabase
from bot.storage.sqlite.port import PortStore
from tests.fakes import ManualClock
from tests.integration.twins import Told, assert_told_alike, spec, tell

PORTS = {
    "ledger": (LedgerStore,),
    "users": (UserStore,),
    "security": (SecurityStore,),
    "identity": (IdentityStore, TwoFactorStore, PasswordFreeStore),
    "holds": (GuardStore,),
    "requests": (RequestStore,),
    "topups": (TopUpStore,),
    "redpackets": (RedPacketStore,),
    "withdrawals": (WithdrawalStore,),
    "admin": (AdminStore,),
    "history": (HistoryStore, StatementStore),
    "rotation": (RotationStore,),
    "offers": (OfferStore,),
    "payouts": (PayoutQueueStore,),
    "refunds": (RefundStore,),
    "broadcasts": (BroadcastStore,),
    "adminview": (AdminViewStore,),
    "followups": (FollowUpStore,),
    "flows": (FlowStore,),
    "notices": (NoticeStore,),
    "copies": (AdminCopyStore,),
}


@pytest.fixture
def clock(manual_clock) -> ManualClock:
    return manual_clock  # the clock of ``db``


@pytest.fixture
async def people(db) -> dict[str, int]:
    """Three registered people (ids 1-3), the gateway's account, and their account ids."""
    found = {}
    for telegram_id, name in ((1, "alice"), (2, "bob"), (3, "carol")):
        user = await db.users.upsert_user(Profile(telegram_id, name, name.title()), "CNY", True)
        found[name] = user.account_id
    external = await db.ledger.open_account("external", AccountKind.SYSTEM, "CNY")
    found["external"] = external.id
    return found


async def available(db, *account_ids: int) -> list[int]:
    return [(await db.ledger.get_account(a)).available for a in account_ids]


async def journal(db) -> list:
    async with db.snapshot() as snapshot:
        return [t async for t in snapshot.transfers()]


def _implemented(store: object, name: str) -> bool:
    owner = next((cls for cls in type(store).__mro__ if name in vars(cls)), None)
    return owner is not None and not getattr(owner, "_is_protocol", False)


# Both back ends implement every port -------------------------------------------------


@pytest.mark.parametrize(("attribute", "ports"), PORTS.items(), ids=PORTS)
def test_each_store_defines_every_member_of_its_ports(db, attribute, ports):
    if isinstance(db, PgDatabase) and attribute in MISSING_PORTS:
        assert not hasattr(db, attribute)  # and open_store refuses PostgreSQL until it has
        return
    store = getattr(db, attribute)
    for port in ports:
        members = {m for m in vars(port) if not m.startswith("_")}
        missing = sorted(m for m in members if not _implemented(store, m))
        assert missing == [], f"db.{attribute} lacks {port.__name__}: {missing}"
    assert all(_implemented(db, m) for m in vars(Database) if not m.startswith("_"))


async def test_postgres_lists_every_port_it_lacks(tmp_path):
    sqlite = await SqliteDatabase.open(tmp_path / "wallet.db")
    await sqlite.close()
    stores = {name for name, value in vars(sqlite).items() if isinstance(value, PortStore)}

    assert set(PgDatabase.STORES).isdisjoint(MISSING_PORTS)
    assert set(PgDatabase.STORES) | set(MISSING_PORTS) == stores


# Ledger: accounts ---------------------------------------------------------------------


async def test_an_account_is_opened_once_and_its_name_keeps_its_kind(db, clock):
    first = await db.ledger.open_account("user:7", AccountKind.USER, "CNY")
    clock.advance(seconds=1)
    again = await db.ledger.open_account("user:7", AccountKind.USER, "CNY")
    dollars = await db.ledger.open_account("user:7", AccountKind.USER, "USD")

    assert again == first
    assert (first.balance, first.status, first.created_at) == (
        0,
        AccountStatus.ACTIVE,
        clock() - 1000,
    )
    assert dollars.id != first.id and dollars.currency == "USD"
    with pytest.raises(LedgerError):
        await db.ledger.open_account("user:7", AccountKind.SYSTEM, "CNY")
    assert await db.ledger.find_account("user:7", "CNY") == first
    assert await db.ledger.find_account("user:8", "CNY") is None


async def test_an_unknown_account_is_not_found(db):
    with pytest.raises(AccountNotFound) as read:
        await db.ledger.get_account(404)
    with pytest.raises(AccountNotFound) as frozen:
        await db.ledger.set_account_status(404, AccountStatus.FROZEN)

    assert read.value.params == frozen.value.params == {"account_id": 404}


# Ledger: transfers --------------------------------------------------------------------


async def test_a_transfer_moves_money_and_joins_the_hash_chain(db, people, clock):
    alice, bob, external = people["alice"], people["bob"], people["external"]

    (top_up,) = await db.ledger.create_transfers("top-up", [spec(external, alice, 500)])
    clock.advance(ms=5)
    (paid,) = await db.ledger.create_transfers("pay", [spec(alice, bob, 200, memo="tea")])

    assert await available(db, alice, bob, external) == [300, 200, -500]
    assert (paid.id, paid.key, paid.amount, paid.currency, paid.memo) == (
        2,
        "pay",
        200,
        "CNY",
        "tea",
    )
    assert paid.flag is TransferFlag.POSTED and paid.created_at == clock()
    assert paid.prev_hash == top_up.hash != paid.hash
    assert await db.ledger.get_transfer(paid.id) == paid
    assert await db.ledger.get_transfer(99) is None


@pytest.mark.parametrize(
    ("debit", "credit", "amount", "refusal", "params"),
    [
        ("nobody", "bob", 1, AccountNotFound, {"account_id": "nobody"}),
        ("alice", "nobody", 1, AccountNotFound, {"account_id": "nobody"}),
        (
            "alice",
            "dollars",
            1,
            CurrencyMismatch,
            {"account_id": "dollars", "expected": "CNY", "actual": "USD"},
        ),
        ("frozen", "alice", 1, AccountFrozen, {"account_id": "frozen"}),
        (
            "alice",
            "bob",
            101,
            InsufficientFunds,
            {"account_id": "alice", "available": 100, "amount": 101},
        ),
    ],
)
async def test_the_ledger_refuses_in_its_order_and_moves_nothing(
    db, people, debit, credit, amount, refusal, params
):
    accounts = dict(people, nobody=404)
    accounts["dollars"] = (await db.ledger.open_account("d", AccountKind.USER, "USD")).id
    accounts["frozen"] = people["carol"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], people["alice"], 100)])
    await db.ledger.create_transfers("top-up-c", [spec(people["external"], people["carol"], 100)])
    await db.ledger.set_account_status(people["carol"], AccountStatus.FROZEN)
    before = await journal(db)

    with pytest.raises(refusal) as refused:
        await db.ledger.create_transfers("k", [spec(accounts[debit], accounts[credit], amount)])

    expected = {k: accounts[v] if k == "account_id" else v for k, v in params.items()}
    assert refused.value.params == expected
    assert await journal(db) == before
    assert await available(db, people["alice"], people["carol"]) == [100, 100]


async def test_a_frozen_account_receives_but_does_not_send(db, people):
    alice, bob = people["alice"], people["bob"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], alice, 100)])
    await db.ledger.set_account_status(bob, AccountStatus.FROZEN)

    await db.ledger.create_transfers("to-frozen", [spec(alice, bob, 40)])
    with pytest.raises(AccountFrozen):
        await db.ledger.create_transfers("from-frozen", [spec(bob, alice, 1)])

    assert await available(db, alice, bob) == [60, 40]


async def test_an_operation_moves_all_its_transfers_or_none(db, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], alice, 100)])

    # the second transfer spends what the first brought
    done = await db.ledger.create_transfers("chain", [spec(alice, bob, 60), spec(bob, carol, 60)])
    with pytest.raises(InsufficientFunds) as refused:
        await db.ledger.create_transfers("half", [spec(alice, carol, 40), spec(bob, carol, 1)])

    assert [t.key for t in done] == ["chain", "chain#1"]
    assert refused.value.params == {"account_id": bob, "available": 0, "amount": 1}
    assert await available(db, alice, bob, carol) == [40, 0, 60]
    assert [t.key for t in await journal(db)] == ["top-up", "chain", "chain#1"]


async def test_a_replayed_key_answers_the_first_result_and_moves_nothing(db, people):
    alice, bob = people["alice"], people["bob"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], alice, 100)])
    first = await db.ledger.create_transfers("pay", [spec(alice, bob, 70), spec(alice, bob, 30)])
    await db.ledger.set_account_status(alice, AccountStatus.FROZEN)  # now it would be refused

    again = await db.ledger.create_transfers("pay", [spec(alice, bob, 70), spec(alice, bob, 30)])

    assert again == first
    assert await available(db, alice, bob) == [0, 100]
    for other in (
        [spec(alice, bob, 71), spec(alice, bob, 30)],  # another amount
        [spec(alice, bob, 70)],  # fewer transfers than the first
        [spec(alice, bob, 70), spec(alice, bob, 30), spec(alice, bob, 1)],  # more
    ):
        with pytest.raises(IdempotencyConflict) as conflict:
            await db.ledger.create_transfers("pay", other)
        assert conflict.value.params == {"key": "pay"}
    assert len(await journal(db)) == 3


async def test_a_reservation_is_posted_or_voided_once(db, people, clock):
    alice, bob = people["alice"], people["bob"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], alice, 100)])

    (held,) = await db.ledger.create_transfers(
        "hold", [spec(alice, bob, 60, flag=TransferFlag.PENDING)]
    )
    assert await available(db, alice, bob) == [40, 0]
    assert (await db.ledger.get_account(alice)).debits_pending == 60
    with pytest.raises(InsufficientFunds):  # reserved money is not available
        await db.ledger.create_transfers("more", [spec(alice, bob, 41)])
    post = TransferSpec.resolving(held.id, TransferFlag.POST_PENDING, memo="done")
    (posted,) = await db.ledger.create_transfers("post", [post])
    void = TransferSpec.resolving(held.id, TransferFlag.VOID_PENDING)
    with pytest.raises(PendingTransferAlreadyResolved):
        await db.ledger.create_transfers("void", [void])
    with pytest.raises(PendingTransferNotFound):  # a posted transfer is no reservation
        await db.ledger.create_transfers("void-2", [TransferSpec.resolving(posted.id, void.flag)])
    with pytest.raises(PendingTransferNotFound):
        await db.ledger.create_transfers("void-3", [TransferSpec.resolving(999, void.flag)])

    assert (posted.amount, posted.pending_id, posted.kind, posted.memo) == (
        60,
        held.id,
        "transfer",
        "done",
    )
    assert (posted.debit_account_id, posted.credit_account_id) == (alice, bob)
    assert await available(db, alice, bob) == [40, 60]
    assert (await db.ledger.get_account(alice)).debits_pending == 0


async def test_a_reservation_past_its_timeout_expires_and_can_no_longer_be_posted(
    db, people, clock
):
    alice, bob = people["alice"], people["bob"]
    await db.ledger.create_transfers("top-up", [spec(people["external"], alice, 100)])
    (held,) = await db.ledger.create_transfers(
        "hold", [spec(alice, bob, 60, flag=TransferFlag.PENDING, timeout_ms=60_000)]
    )
    expire = TransferSpec.resolving(held.id, TransferFlag.EXPIRE_PENDING)
    post = TransferSpec.resolving(held.id, TransferFlag.POST_PENDING)

    clock.advance(ms=59_999)
    assert await db.ledger.due_pending(clock(), 10) == []
    with pytest.raises(PendingTransferNotExpired):
        await db.ledger.create_transfers("expire", [expire])
    clock.advance(ms=1)
    assert await db.ledger.due_pending(clock(), 10) == [held]
    with pytest.raises(PendingTransferExpired):
        await db.ledger.create_transfers("post", [post])
    await db.ledger.create_transfers("expire", [expire])

    assert await db.ledger.due_pending(clock(), 10) == []
    assert await available(db, alice, bob) == [100, 0]


async def test_history_is_newest_first_below_a_cursor(db, people):
    alice, bob, external = people["alice"], people["bob"], people["external"]
    await db.ledger.create_transfers("top-up", [spec(external, alice, 100)])
    for n in range(4):
        await db.ledger.create_transfers(f"pay-{n}", [spec(alice, bob, 1)])
    await db.ledger.create_transfers("other", [spec(external, bob, 5)])

    newest = await db.ledger.history(alice, None, 3)
    older = await db.ledger.history(alice, newest[-1].id, 3)

    assert [t.key for t in newest] == ["pay-3", "pay-2", "pay-1"]
    assert [t.key for t in older] == ["pay-0", "top-up"]


# Users --------------------------------------------------------------------------------


async def test_a_person_is_registered_once_with_an_account(db):
    first = await db.users.upsert_user(Profile(5, "Eve", "Eve", "zh-hans"), "CNY", False)
    again = await db.users.upsert_user(Profile(5, "Eve2", "Evelyn"), "CNY", True)
    later = await db.users.upsert_user(Profile(5, "Eve2", "Evelyn"), "CNY", False)

    account = await db.ledger.get_account(first.account_id)
    assert (account.name, account.kind) == ("user:5", AccountKind.USER)
    assert again.account_id == first.account_id
    assert (again.username, again.first_name, again.language_code) == ("Eve2", "Evelyn", "")
    assert (first.private_chat, again.private_chat, later.private_chat) == (False, True, True)
    assert await db.users.get_user(5) == later
    assert await db.users.get_user(6) is None


async def test_a_username_belongs_to_whoever_claimed_it_last(db):
    await db.users.upsert_user(Profile(1, "Shared", "A"), "CNY", False)
    await db.users.upsert_user(Profile(2, "sHARED", "B"), "CNY", False)

    assert (await db.users.get_user(1)).username is None
    assert (await db.users.find_user_by_username("SHARED")).telegram_id == 2
    assert await db.users.find_user_by_username("nobody") is None


async def test_a_person_keeps_the_account_they_were_registered_with(db):
    first = await db.users.upsert_user(Profile(5, None, "E"), "CNY", False)
    again = await db.users.upsert_user(Profile(5, None, "E"), "USD", False)

    assert again.account_id == first.account_id
    assert (await db.ledger.find_account("user:5", "USD")) is not None


async def test_a_language_is_set_for_a_known_person_only(db):
    await db.users.upsert_user(Profile(5, None, "E"), "CNY", False)

    chosen = await db.users.set_user_language(5, "en")
    with pytest.raises(UserNotFound):
        await db.users.set_user_language(6, "en")

    assert chosen.language == "en" and (await db.users.get_user(5)).language == "en"


async def test_credentials_of_an_unknown_person_are_refused_as_storage_errors(db):
    with pytest.raises(StorageError):
        await db.security.set_pin(77, "hash", "key")
    assert (await db.security.get_pin(77)).pin_hash is None


async def test_a_closed_database_refuses_reads_and_writes(db):
    await db.close()
    await db.close()  # twice is harmless

    with pytest.raises(StorageError):
        await db.ledger.open_account("x", AccountKind.USER, "CNY")
    with pytest.raises(StorageError):
        await db.users.get_user(1)


# Top-ups: the inbox of payments ------------------------------------------------------


async def test_a_kept_payment_is_kept_once_until_it_is_handled(db):
    assert await db.topups.kept_payments() == []
    await db.topups.keep_payments([(7, '{"update_id": 7}'), (3, '{"update_id": 3}')])
    await db.topups.keep_payments([(7, "again"), (9, '{"update_id": 9}')])  # 7: the first stays
    await db.topups.keep_payments([])

    assert await db.topups.kept_payments() == [
        (3, '{"update_id": 3}'),
        (7, '{"update_id": 7}'),
        (9, '{"update_id": 9}'),
    ]
    await db.topups.payment_handled(7)
    await db.topups.payment_handled(7)  # twice is harmless
    await db.topups.payment_handled(100)  # never kept: nothing happens
    assert [update_id for update_id, _ in await db.topups.kept_payments()] == [3, 9]


# Stories told to both back ends -------------------------------------------------------


async def ledger_story(db, clock: ManualClock, told: Told) -> None:
    ask = told.ask
    alice = (await ask(db.users.upsert_user(Profile(1, "alice", "A"), "CNY", True))).account_id
    bob = (await ask(db.users.upsert_user(Profile(2, "bob", "B"), "CNY", False))).account_id
    external = (await ask(db.ledger.open_account("external", AccountKind.SYSTEM, "CNY"))).id
    dollars = (await ask(db.ledger.open_account("usd", AccountKind.USER, "USD"))).id
    await ask(db.ledger.create_transfers("t1", [spec(external, alice, 1_000)]))
    clock.advance(ms=3)
    for n, (debit, credit, amount) in enumerate(
        [
            (alice, bob, 300),
            (alice, bob, 5_000),
            (alice, 99, 1),
            (99, alice, 1),
            (alice, dollars, 1),
        ]
    ):
        await ask(db.ledger.create_transfers(f"p{n}", [spec(debit, credit, amount, memo="m")]))
    await ask(db.ledger.set_account_status(bob, AccountStatus.FROZEN))
    await ask(db.ledger.create_transfers("f1", [spec(bob, alice, 1)]))
    await ask(db.ledger.create_transfers("f2", [spec(alice, bob, 1)]))
    await ask(db.ledger.set_account_status(bob, AccountStatus.ACTIVE))
    await ask(db.ledger.create_transfers("m1", [spec(alice, bob, 10), spec(bob, alice, 311)]))
    await ask(db.ledger.create_transfers("m2", [spec(alice, bob, 10), spec(bob, alice, 312)]))
    await ask(db.ledger.create_transfers("m1", [spec(alice, bob, 10), spec(bob, alice, 311)]))
    await ask(db.ledger.create_transfers("m1", [spec(alice, bob, 10)]))
    held = await ask(
        db.ledger.create_transfers("r1", [spec(alice, bob, 100, flag=TransferFlag.PENDING)])
    )
    timed = await ask(
        db.ledger.create_transfers(
            "r2", [spec(alice, external, 50, flag=TransferFlag.PENDING, timeout_ms=1_000)]
        )
    )
    await ask(
        db.ledger.create_transfers("r3", [spec(alice, bob, 10_000, flag=TransferFlag.PENDING)])
    )
    post = TransferSpec.resolving(held[0].id, TransferFlag.POST_PENDING, ref="x")
    await ask(db.ledger.create_transfers("post", [post]))
    await ask(db.ledger.create_transfers("post-2", [post]))
    clock.advance(seconds=2)
    await ask(db.ledger.due_pending(clock(), 10))
    expire = TransferSpec.resolving(timed[0].id, TransferFlag.EXPIRE_PENDING)
    await ask(db.ledger.create_transfers("expire", [expire]))
    await ask(db.ledger.history(alice, None, 100))
    await ask(db.ledger.history(bob, 5, 2))
    await ask(db.users.upsert_user(Profile(3, "ALICE", "C"), "CNY", False))
    await ask(db.users.get_user(1))
    await ask(db.users.find_user_by_username("Alice"))
    await ask(db.users.set_user_language(2, "zh"))
    await ask(db.users.set_user_language(9, "zh"))
    await ask(db.security.set_pin(9, "hash", "key"))


async def test_the_ledger_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, ledger_story, twin_back_ends))
