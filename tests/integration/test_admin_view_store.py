"""What an admin reads on the real stores (SQLite, then PostgreSQL): one wallet (holds,
PIN lockouts, masked identity) and the last 30 days by China's calendar day."""

from __future__ import annotations

import pytest

from bot.domain.adminview import ACTIVITY_DAYS, VIEW_USER
from bot.domain.holds import DAY_MS
from bot.domain.security_errors import PinLocked, PinWrong
from bot.security.cipher import Keyring
from bot.security.password_free import PasswordFree
from bot.security.pin import ScryptParams
from bot.security.pins import Pins
from bot.security.twofactor import TwoFactor
from bot.wallet.admin import Admin
from bot.wallet.adminview import AdminView
from bot.wallet.history import History
from tests.integration.test_payment_guard import (
    ALICE,
    BOB,
    CAROL,
    START_MS,
    TODAY,
    YUAN,
    World,
    held_payment,
)

CHEAP = ScryptParams(n=16, r=1, p=1)


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
async def world(store, ledger, clock, external) -> World:
    return World(store, ledger, clock, external)


def admin_view(world) -> AdminView:
    store = world.store
    keyring = world.identity.keyring
    return AdminView(
        store.adminview,
        Admin(store.admin, world.ledger, world.users, store.snapshot),
        world.ledger,
        History(store.history),
        world.identity,
        TwoFactor(store.identity, keyring),
        PasswordFree(store.identity),
    )


async def test_a_wallet_view_counts_holds_and_pin_lockouts_and_masks_identity(world):
    await held_payment(world)  # Alice's ¥20 to Bob waits for review
    await world.verify(ALICE)
    pins = Pins(world.store.security, Keyring(bytes(range(32))), params=CHEAP)
    await pins.set_pin(ALICE, "739201")
    for _ in range(5):
        try:
            await pins.verify(ALICE, "000000")
        except (PinWrong, PinLocked):
            pass
    view = await admin_view(world).view(9, await world.users.get(ALICE))

    assert (view.balance.available, view.balance.reserved) == (80 * YUAN, 20 * YUAN)
    assert not view.frozen and view.tier == 1
    assert view.real_name == "张*" and view.id_number.startswith("1101") and "*" in view.id_number
    assert view.card is None
    risk = view.risk
    assert (risk.holds_recent, risk.holds_open, risk.pin_lockouts_recent) == (1, 1, 1)
    assert risk.pin_locked_now and not risk.two_factor and risk.password_free_per_payment == 0
    assert [line.amount for line in view.transfers] == [20 * YUAN, 100 * YUAN]
    assert view.open_tickets == 0
    events = [(e.event, e.actor_id, e.subject_id) async for e in world.store.security.events()]
    assert events[-1] == (VIEW_USER, 9, ALICE)

    world.clock.now_ms = START_MS + 31 * DAY_MS  # a month on: the hold is old, still open
    view = await admin_view(world).view(9, await world.users.get(ALICE))
    risk = view.risk
    assert (risk.holds_recent, risk.holds_open, risk.pin_lockouts_recent) == (0, 1, 0)
    assert not risk.pin_locked_now


async def test_activity_counts_money_moved_per_china_day_by_kind_and_new_users(world):
    first_day = TODAY - (ACTIVITY_DAYS - 1) * DAY_MS
    await world.person(ALICE, at=first_day - 1, funds=100 * YUAN)  # the day before: unseen
    await world.person(BOB, at=first_day, funds=7 * YUAN)  # the first day shown
    await world.person(CAROL, at=TODAY - 1, funds=0)  # 23:59:59.999 yesterday, Beijing
    await world.pay(ALICE, BOB, 3 * YUAN)  # today (the clock stands at START_MS)
    reserved = await world.ledger.reserve(
        "r1", world.accounts[ALICE], world.accounts[BOB], 5 * YUAN, "transfer"
    )
    voided = await world.ledger.reserve(
        "r2", world.accounts[ALICE], world.accounts[BOB], 11 * YUAN, "transfer"
    )
    await world.ledger.post("p1", reserved.id)
    await world.ledger.void("v2", voided.id)

    activity = await admin_view(world).activity()

    days = activity.days
    assert len(days) == ACTIVITY_DAYS
    assert days[0].start_ms == first_day and days[-1].start_ms == TODAY
    assert [d.start_ms - first_day for d in days] == [i * DAY_MS for i in range(ACTIVITY_DAYS)]
    assert days[0].volume_by_kind == {"topup": 7 * YUAN} and days[0].new_users == 1
    assert days[-2].volume_by_kind == {} and days[-2].new_users == 1  # Carol, no money
    # a reservation counts once, when posted; a voided one never
    assert days[-1].volume_by_kind == {"transfer": 8 * YUAN} and days[-1].new_users == 0
    assert sum(d.volume for d in days) == 15 * YUAN
    assert sum(d.new_users for d in days) == 2


async def test_activity_of_an_empty_wallet_is_thirty_empty_days(store, ledger):
    from bot.wallet.users import Users

    users = Users(store.users, "CNY")
    view = AdminView(
        store.adminview,
        Admin(store.admin, ledger, users, store.snapshot),
        ledger,
        History(store.history),
        None,
        None,
        None,
    )
    activity = await view.activity()
    assert len(activity.days) == ACTIVITY_DAYS
    assert all(d.volume == 0 and d.new_users == 0 for d in activity.days)


async def test_a_wallet_view_counts_its_open_support_tickets_only(world):
    await world.person(ALICE)
    await world.person(BOB)
    store = world.store
    first = await store.support.open_ticket(ALICE, "where is my money?", ())
    await store.support.open_ticket(ALICE, "and the other payment?", ())
    await store.support.open_ticket(BOB, "hello", ())
    await store.support.close_ticket(first.id, 9, "admin.ticket_closed")
    view = await admin_view(world).view(9, await world.users.get(ALICE))
    assert view.open_tickets == 1
