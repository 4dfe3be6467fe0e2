"""Each port has its own store on the database, and each store implements its whole port.

A store names its port as a base class where the port lives in ``bot.domain``; a method
the port declares and the store lacks would then be the port's empty stub, answering
``None``. So every member of every port must be defined by the store's own classes.
"""

from __future__ import annotations

import pytest

from bot.domain.admin import AdminStore
from bot.domain.history import HistoryStore, StatementStore
from bot.domain.holds import GuardStore
from bot.domain.merchants import MerchantStore
from bot.domain.payouts import PayoutQueueStore
from bot.domain.ports import Database, LedgerStore, UserStore
from bot.domain.redpackets import RedPacketStore
from bot.domain.requests import RequestStore
from bot.domain.security_ports import (
    IdentityStore,
    PasswordFreeStore,
    RotationStore,
    SecurityStore,
    TwoFactorStore,
)
from bot.domain.topups import TopUpStore
from bot.domain.withdrawals import WithdrawalStore

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
    "payouts": (PayoutQueueStore,),
    "merchants": (MerchantStore,),
}


def _members(port: type) -> set[str]:
    return {name for name in vars(port) if not name.startswith("_")}


def _implemented(store: object, name: str) -> bool:
    owner = next((cls for cls in type(store).__mro__ if name in vars(cls)), None)
    return owner is not None and not getattr(owner, "_is_protocol", False)


@pytest.mark.parametrize(("attribute", "ports"), PORTS.items(), ids=PORTS)
def test_each_store_implements_every_member_of_its_ports(store, attribute, ports):
    port_store = getattr(store, attribute)
    for port in ports:
        missing = sorted(m for m in _members(port) if not _implemented(port_store, m))
        assert missing == [], f"db.{attribute} lacks {port.__name__}: {missing}"


def test_the_database_keeps_only_what_belongs_to_the_whole_file(both_store):
    store = both_store
    assert all(_implemented(store, name) for name in _members(Database))
    port_methods = set().union(*(_members(p) for ports in PORTS.values() for p in ports))
    offered = {m for m in port_methods - _members(Database) if callable(getattr(store, m, None))}
    assert sorted(offered) == []  # (``history`` is the history's store, not the method)


async def test_the_stores_share_one_clock_and_one_security_log(both_store, clock):
    store = both_store
    clock.advance(seconds=5)
    now = store.now_ms()
    assert {getattr(store, attribute).now_ms() for attribute in PORTS} == {now}
    await store.admin.record_event(1, "admin.freeze", 2, {})
    await store.identity.record_event(2, "identity.verified", 2, {})
    await store.topups.record_event(None, "topup.flagged", 3, {})
    events = [e async for e in store.security.events()]
    assert [e.id for e in events] == [1, 2, 3]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
