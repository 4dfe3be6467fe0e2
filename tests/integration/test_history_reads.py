"""History pages, single transfers and statements read from a real ledger (on SQLite,
then on PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest

from bot.domain.errors import TransferIdInvalid, TransferNotFound
from bot.domain.history import EntryState
from bot.domain.model import AccountKind, SystemAccount
from bot.domain.users import Profile
from bot.wallet.history import History, visible_to
from bot.wallet.statements import Month, Statements
from bot.wallet.users import Users

_keys = itertools.count(1)


def key() -> str:
    return f"op-{next(_keys)}"


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
async def people(store, ledger):
    users = Users(store.users, "CNY")
    return [
        await users.seen(Profile(1, "alice", "Alice")),
        await users.seen(Profile(2, "bob", "王芳")),
        await users.seen(Profile(3, None, "")),
    ]


async def visible_ids(store, account_id: int) -> list[int]:
    async with store.snapshot() as snapshot:
        return [t.id async for t in snapshot.transfers() if visible_to(t, account_id)][::-1]


async def listed_ids(store, account_id: int) -> list[int]:
    """What a page lists, newest first: the visible transfers less the holds resolved
    since (posted, voided or expired: the resolution's line stands for both)."""
    async with store.snapshot() as snapshot:
        every = [t async for t in snapshot.transfers()]
    resolved = {t.pending_id for t in every if t.pending_id is not None}
    return [t.id for t in every if visible_to(t, account_id) and t.id not in resolved][::-1]


async def test_paging_older_then_newer_shows_every_entry_once_in_order(
    store, ledger, external, people
):
    alice, bob, carol = (p.account_id for p in people)
    await ledger.transfer(key(), external, alice, 1_000_00, "topup")
    await ledger.transfer(key(), external, bob, 1_000_00, "topup")
    for i in range(1, 15):
        await ledger.transfer(key(), alice, bob, i, "transfer")
        await ledger.transfer(key(), bob, carol, i, "transfer")  # not Alice's
        if i % 4 == 0:
            await ledger.transfer(key(), bob, alice, 2 * i, "tip")
            held = await ledger.reserve(key(), bob, alice, 5, "transfer")  # Alice sees nothing
            await ledger.void(key(), held.id)
            mine = await ledger.reserve(key(), alice, external, 7, "withdraw")
            await ledger.post(key(), mine.id)
    expected = await listed_ids(store, alice)
    history = History(store.history)

    pages = [await history.page(alice)]
    while pages[-1].older is not None:
        pages.append(await history.page(alice, before=pages[-1].older))
    assert [t for page in pages for t in (line.transfer_id for line in page.lines)] == expected
    assert len(expected) == 1 + 14 + 3 * 2  # top-up, transfers, tips + posts (not their holds)
    assert len(await visible_ids(store, alice)) == len(expected) + 3  # the holds, by /history N
    assert [len(page.lines) for page in pages] == [10, 10, 1]
    assert pages[0].newer is None and all(page.newer is not None for page in pages[1:])

    back = [pages[-1]]
    while back[-1].newer is not None:
        back.append(await history.newer_page(alice, after=back[-1].newer))
    assert [page.lines for page in back] == [page.lines for page in reversed(pages)]

    lines = [line for page in pages for line in page.lines]
    moved = sum(line.amount for line in lines if line.state is EntryState.MOVED)
    assert moved == (await ledger.balance(alice)).available
    assert {line.counterparty.person for line in lines if line.kind == "tip"} == {"王芳"}


async def test_a_new_transfer_does_not_shift_the_pages_someone_is_reading(
    store, ledger, external, people
):
    alice = people[0].account_id
    for _ in range(25):
        await ledger.transfer(key(), external, alice, 1_00, "topup")
    history = History(store.history)
    first = await history.page(alice)
    second = await history.page(alice, before=first.older)
    await ledger.transfer(key(), external, alice, 9_00, "topup")  # arrives while reading

    again = await history.newer_page(alice, after=second.newer)
    assert again.lines == first.lines and again.newer is not None
    newest = await history.newer_page(alice, after=again.newer)
    assert newest.lines[0].amount == 9_00 and newest.newer is None


async def test_an_empty_history_is_one_empty_page(store, people):
    view = await History(store.history).page(people[2].account_id)
    assert (view.lines, view.older, view.newer) == ((), None, None)


async def test_one_transfer_in_full_only_for_a_party_to_it(store, ledger, external, people):
    alice, bob, carol = (p.account_id for p in people)
    await ledger.transfer(key(), external, alice, 100_00, "topup")
    sent = await ledger.transfer(key(), alice, bob, 12_50, "transfer", memo="lunch")
    history = History(store.history)

    mine = await history.detail(alice, str(sent.id))
    theirs = await history.detail(bob, f"#{sent.id}")
    assert (mine.line.amount, theirs.line.amount) == (-12_50, 12_50)
    assert (mine.debit.person, mine.credit.person, mine.memo) == ("Alice", "王芳", "lunch")
    with pytest.raises(TransferNotFound):
        await history.detail(carol, str(sent.id))
    with pytest.raises(TransferNotFound):
        await history.detail(alice, "999999")
    with pytest.raises(TransferIdInvalid):
        await history.detail(alice, "twelve")


async def test_a_reservation_says_how_it_ended(store, ledger, external, people):
    alice, bob = people[0].account_id, people[1].account_id
    await ledger.transfer(key(), external, alice, 100_00, "topup")
    held = await ledger.reserve(key(), alice, bob, 30_00, "transfer", memo="rent")
    history = History(store.history)

    assert (await history.detail(alice, held.id)).resolution is None
    with pytest.raises(TransferNotFound):  # nothing reached Bob yet
        await history.detail(bob, held.id)
    posted = await ledger.post(key(), held.id)

    detail = await history.detail(alice, held.id)
    assert detail.resolution == posted and detail.line.state is EntryState.RESERVED
    post = await history.detail(bob, posted.id)
    assert (post.reservation, post.memo, post.line.amount) == (held, "rent", 30_00)


async def test_parties_name_people_merchants_and_system_accounts(store, ledger, people):
    merchant = await ledger.open_merchant_account(2)
    escrow = await ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    ids = [p.account_id for p in people] + [merchant.id, escrow]

    parties = await store.history.parties(ids)

    assert [parties[i].person for i in ids] == ["Alice", "王芳", "3", "王芳", None]
    assert (
        parties[escrow].kind is AccountKind.SYSTEM and parties[escrow].name == "escrow:redpackets"
    )
    assert parties[merchant.id].kind is AccountKind.MERCHANT


async def test_a_statement_counts_money_when_it_moved_in_beijing_months(
    store, ledger, clock, external, people
):
    alice, bob = people[0].account_id, people[1].account_id
    december, january = Month(2025, 12), Month(2026, 1)
    clock.now_ms = january.start_ms - 1  # 23:59:59.999 on 31 December, Beijing
    await ledger.transfer(key(), external, alice, 50_00, "topup")
    held = await ledger.reserve(key(), alice, external, 20_00, "withdraw")
    clock.now_ms = january.start_ms  # midnight: January
    await ledger.transfer(key(), alice, bob, 5_00, "transfer", memo="红包")
    await ledger.post(key(), held.id)
    released = await ledger.reserve(key(), alice, external, 1_00, "withdraw")
    await ledger.void(key(), released.id)
    clock.advance(seconds=3600)
    statements = Statements(store.history)

    before = await statements.for_month(alice, december)
    assert [(r.amount, r.balance_after) for r in before.rows] == [(50_00, 50_00)]
    during = await statements.statement(alice, "2026-01")
    assert during.opening_balance == 50_00
    assert [(r.kind, r.amount, r.balance_after) for r in during.rows] == [
        ("transfer", -5_00, 45_00),
        ("withdraw", -20_00, 25_00),
    ]
    assert during.closing_balance == (await ledger.balance(alice)).available == 25_00
    assert during.rows[0].counterparty.person == "王芳"
    assert during.until_ms == clock.now_ms  # this month: up to now
    assert (await statements.statement(alice, "")).month == january
