"""A person's history and monthly statements, read from the in-memory stores."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.domain.errors import MonthInvalid, TransferIdInvalid, TransferNotFound
from bot.domain.history import EntryState
from bot.domain.model import AccountKind, SystemAccount
from bot.wallet.statements import CHINA, Month
from tests.fakes.wallet import FakeWallet

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def test_a_page_shows_moved_money_and_the_viewers_own_reservations(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    pay = await wallet.ledger.transfer("pay", alice.account_id, bob.account_id, 100, "transfer")
    held = await wallet.ledger.reserve("hold", alice.account_id, bob.account_id, 50, "transfer")
    released = await wallet.ledger.void("void", held.id)
    holding = await wallet.ledger.reserve("h2", alice.account_id, bob.account_id, 20, "transfer")

    mine = await wallet.history.page(alice.account_id)
    theirs = await wallet.history.page(bob.account_id)

    assert [(line.transfer_id, line.state, line.amount) for line in mine.lines] == [
        (holding.id, EntryState.RESERVED, 20),  # a hold shows while it holds
        (released.id, EntryState.RELEASED, 50),  # once resolved, its resolution stands for it
        (pay.id, EntryState.MOVED, -100),
        (1, EntryState.MOVED, 1_000),
    ]
    assert [line.transfer_id for line in theirs.lines] == [pay.id]  # a reservation reached nobody
    assert mine.lines[2].counterparty.person == "U2"
    assert mine.lines[3].counterparty.kind is AccountKind.SYSTEM
    shown = await wallet.history.detail(alice.account_id, held.id)  # still there by its number
    assert shown.resolution.id == released.id


async def test_pages_go_back_and_forth_without_gaps_or_repeats(wallet):
    alice = await wallet.person(ALICE, funds=10_000)
    bob = await wallet.person(BOB)
    for n in range(24):
        await wallet.ledger.transfer(f"p{n}", alice.account_id, bob.account_id, n + 1, "tip")

    first = await wallet.history.page(bob.account_id)
    second = await wallet.history.page(bob.account_id, before=first.older)
    third = await wallet.history.page(bob.account_id, before=second.older)
    back = await wallet.history.newer_page(bob.account_id, after=second.newer)

    amounts = [line.amount for page in (first, second, third) for line in page.lines]
    assert amounts == list(range(24, 0, -1))
    assert (first.newer, third.older) == (None, None)
    assert back == first


async def test_a_transfer_in_full_is_shown_only_to_its_parties(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    carol = await wallet.person(CAROL)
    held = await wallet.ledger.reserve(
        "hold", alice.account_id, bob.account_id, 70, "transfer", memo="rent"
    )
    posted = await wallet.ledger.post("post", held.id)

    for_bob = await wallet.history.detail(bob.account_id, f"#{posted.id}")
    for_alice = await wallet.history.detail(alice.account_id, held.id)
    with pytest.raises(TransferNotFound):
        await wallet.history.detail(carol.account_id, posted.id)
    with pytest.raises(TransferNotFound):  # the reservation itself never reached Bob
        await wallet.history.detail(bob.account_id, held.id)
    with pytest.raises(TransferIdInvalid):
        await wallet.history.detail(bob.account_id, "latest")

    assert (for_bob.memo, for_bob.reservation, for_bob.line.amount) == ("rent", held, 70)
    assert (for_bob.debit.person, for_bob.credit.person) == ("U1", "U2")
    assert for_alice.resolution == posted and for_alice.line.state is EntryState.RESERVED


async def test_a_shop_is_shown_by_its_owners_name(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    await wallet.person(BOB)
    shop = await wallet.ledger.open_merchant_account(BOB)
    await wallet.ledger.transfer("buy", alice.account_id, shop.id, 30, "merchant_payment")

    (line, _) = (await wallet.history.page(alice.account_id)).lines

    assert (line.counterparty.name, line.counterparty.person) == (f"merchant:{BOB}", "U2")


def at(year: int, month: int, day: int, hour: int = 12) -> int:
    return int(datetime(year, month, day, hour, tzinfo=CHINA).timestamp()) * 1000


async def test_a_statement_lists_the_months_moved_money_with_its_running_balance(wallet):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    moves = [
        (at(2026, 1, 31, 23), external, alice, 1_000),  # January, Beijing time
        (at(2026, 2, 1, 0), alice, bob, 300),
        (at(2026, 2, 14), bob, alice, 50),
        (at(2026, 3, 1, 0), alice, bob, 1),  # March
    ]
    for n, (when, debit, credit, amount) in enumerate(moves):
        wallet.clock.now_ms = when
        debit_id = debit if isinstance(debit, int) else debit.account_id
        await wallet.ledger.transfer(f"m{n}", debit_id, credit.account_id, amount, "transfer")
    await wallet.ledger.reserve("held", alice.account_id, bob.account_id, 5, "transfer")

    february = await wallet.statements.for_month(alice.account_id, Month(2026, 2))

    assert february.opening_balance == 1_000
    assert [(r.amount, r.balance_after) for r in february.rows] == [(-300, 700), (50, 750)]
    assert february.closing_balance == 750 and february.as_of_ms is None
    assert (february.money_in, february.money_out) == (50, 300)
    assert [r.counterparty.person for r in february.rows] == ["U2", "U2"]


async def test_this_months_statement_is_as_of_now_and_a_future_month_is_refused(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    wallet.clock.now_ms = at(2026, 5, 10)

    current = await wallet.statements.statement(alice.account_id, "")
    with pytest.raises(MonthInvalid) as refused:
        await wallet.statements.statement(alice.account_id, "2026-06")

    assert current.month == Month(2026, 5) and current.as_of_ms == wallet.clock()
    assert current.opening_balance == current.closing_balance == 1_000
    assert refused.value.code == "month_in_future"


async def test_the_transfer_that_paid_a_request_reads_as_the_request_on_both_sides(wallet):
    """Under a request's key (``request:<token>``) a ``transfer`` is a paid request to
    the payer and to the requester, in the list, the detail and the statement; the same
    kind under any other key stays a transfer."""
    from bot.domain.history import REQUEST_PAID
    from bot.domain.requests import request_key
    from bot.render.labels import kind_label

    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    paid = await wallet.ledger.transfer(
        request_key("tok1"), alice.account_id, bob.account_id, 300, "transfer"
    )
    sent = await wallet.ledger.transfer("send-1", alice.account_id, bob.account_id, 100, "transfer")
    for account in (alice.account_id, bob.account_id):
        page = await wallet.history.page(account)
        kinds = {line.transfer_id: line.kind for line in page.lines}
        assert (kinds[paid.id], kinds[sent.id]) == (REQUEST_PAID, "transfer")
        detail = await wallet.history.detail(account, paid.id)
        assert detail.line.kind == REQUEST_PAID
        statement = await wallet.statements.statement(account, "")
        rows = {row.transfer_id: row.kind for row in statement.rows}
        assert (rows[paid.id], rows[sent.id]) == (REQUEST_PAID, "transfer")
    assert kind_label("en", REQUEST_PAID) == "Payment request"
    assert kind_label("zh", REQUEST_PAID) == "收款请求"
