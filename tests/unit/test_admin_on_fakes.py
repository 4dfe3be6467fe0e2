"""What admins do, on the in-memory stores: freeze, count, audit; every action logged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.errors import AccountFrozen, UserNotFound
from bot.domain.holds import DAY_MS
from bot.domain.security_ports import Action
from bot.domain.users import Profile
from bot.wallet.admin import WalletStats
from tests.fakes.wallet import FakeWallet

ALICE, BOB, ADMIN = 1, 2, 9


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def test_an_admin_finds_people_by_username_or_id(wallet):
    alice = await wallet.person(ALICE, username="alice_w")

    assert await wallet.admin.find_user("@Alice_W") == alice
    assert await wallet.admin.find_user(str(ALICE)) == alice
    with pytest.raises(UserNotFound) as refused:
        await wallet.admin.find_user("@nobody")
    assert refused.value.params == {"who": "@nobody"}


async def test_a_frozen_wallet_cannot_pay_until_unfrozen_and_both_are_logged(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)

    await wallet.admin.set_frozen(ADMIN, alice, True)
    with pytest.raises(AccountFrozen):
        await wallet.transfers.order(alice, bob, "1")
    freeze = Action("a", ADMIN, "admin_freeze", {"target": ALICE, "frozen": False}, "open", 0, 0)
    answer = await wallet.admin.apply_freeze(freeze)
    order = await wallet.transfers.order(alice, bob, "1")

    assert answer.prompt == "admin.unfrozen" and order.amount == 100
    assert (answer.outcome.target.telegram_id, answer.outcome.changed) == (ALICE, True)
    again = await wallet.admin.set_frozen(ADMIN, alice, False)  # not frozen: nothing changes
    assert (again.frozen, again.changed) == (False, False)
    events = await wallet.events("admin.")
    assert [(e.event, e.actor_id, e.subject_id) for e in events] == [
        ("admin.freeze", ADMIN, ALICE),
        ("admin.unfreeze", ADMIN, ALICE),
    ]


async def test_the_figures_count_people_money_and_todays_transfers(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    await wallet.users.seen(Profile(ALICE, alice.username, alice.first_name), private_chat=True)
    wallet.clock.advance(ms=DAY_MS)  # a new day in Beijing: the top-up was yesterday
    await wallet.ledger.transfer("pay", alice.account_id, bob.account_id, 300, "transfer")
    await wallet.ledger.reserve("hold", alice.account_id, bob.account_id, 200, "transfer")
    await wallet.ledger.freeze(bob.account_id)

    stats = await wallet.admin.stats()

    assert stats == WalletStats(
        users=2,
        users_in_private_chat=1,
        frozen_accounts=1,
        transfers=3,
        transfers_today=2,
        money_held=1_000,
        open_reservations=1,
    )


async def test_the_audit_passes_on_honest_books(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    await wallet.ledger.transfer("pay", alice.account_id, bob.account_id, 300, "transfer")
    await wallet.admin.set_frozen(ADMIN, bob, True)

    result = await wallet.admin.audit()

    assert result.ok and (result.transfers, result.events) == (2, 1)


async def test_the_audit_names_a_changed_transfer_and_a_changed_event(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    await wallet.ledger.transfer("pay", alice.account_id, bob.account_id, 300, "transfer")
    await wallet.admin.set_frozen(ADMIN, bob, True)
    state = wallet.db.state
    state.transfers[1] = replace(state.transfers[1], amount=30)  # a row edited behind its back
    state.events[-1] = replace(state.events[-1], subject_id=ALICE)

    result = await wallet.admin.audit()

    assert not result.ok
    assert any(p.startswith("transfer 2: hash does not match") for p in result.problems)
    assert any("debits_posted 300 but its transfers debit 30" in p for p in result.problems)
    assert f"security event {len(state.events)}: hash does not match its contents" in (
        result.problems
    )
