"""The admins' /audit: the ledger and the security log verified as of one moment, read
only, while the wallet is open; what was tampered with is listed."""

from __future__ import annotations

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from tests.integration.raw import drop_triggers, execute

ADMIN = 1


@pytest.fixture
async def wallet(tmp_path, database_url):
    opened = await open_wallet(Settings(database_url=database_url, data_dir=tmp_path))
    yield opened
    await opened.close()


async def some_business(wallet) -> None:
    alice = await wallet.users.seen(Profile(2, "alice", "Alice", "en"))
    bob = await wallet.users.seen(Profile(3, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("topup-1", external, alice.account_id, 50_00, "topup")
    await wallet.ledger.transfer("p2p-1", alice.account_id, bob.account_id, 12_34, "p2p")
    await wallet.admin.set_frozen(ADMIN, bob, True)  # a security event


async def tamper(database_url: str, *sql: str) -> None:
    """What someone with the file (or the server) could do: drop the guards, change rows."""
    await drop_triggers(
        database_url, "transfers", "transfers_are_immutable", "transfers_are_permanent"
    )
    await drop_triggers(database_url, "security_events", "security_events_are_immutable")
    await execute(database_url, *sql)


async def test_a_whole_wallet_passes_with_its_counts(wallet):
    await some_business(wallet)
    result = await wallet.admin.audit()
    assert result.ok and result.problems == () and result.problem_count == 0
    assert result.transfers == 2
    assert result.events >= 1


async def test_a_changed_transfer_and_a_changed_event_are_both_listed(wallet, database_url):
    await some_business(wallet)
    await tamper(
        database_url,
        "UPDATE transfers SET amount = 99999 WHERE key = 'p2p-1'",
        "UPDATE security_events SET subject_id = 666 WHERE event = 'admin.freeze'",
    )
    result = await wallet.admin.audit()
    assert not result.ok
    assert result.problem_count == len(result.problems) >= 2
    assert any(p.startswith("transfer 2: hash does not match") for p in result.problems)
    assert any(p.startswith("security event ") for p in result.problems)
    assert result.problems[-1].startswith("security event ")  # the ledger's come first


async def test_a_status_change_says_whether_it_changed_and_refuses_no_account(wallet):
    from bot.domain.errors import AccountNotFound
    from bot.domain.model import AccountStatus

    bob = await wallet.users.seen(Profile(3, "bob", "Bob", "en"))
    store = wallet.ledger.store
    assert await store.change_account_status(bob.account_id, AccountStatus.FROZEN) is True
    assert await store.change_account_status(bob.account_id, AccountStatus.FROZEN) is False
    assert await store.change_account_status(bob.account_id, AccountStatus.ACTIVE) is True
    for missing in (10**6, 2**63, -(2**63) - 1):
        with pytest.raises(AccountNotFound):
            await store.change_account_status(missing, AccountStatus.FROZEN)


async def test_admins_freezing_at_once_change_it_once_and_log_each_change_once(wallet):
    """Twenty freezes at once: one changes the wallet and is logged, the rest find it so;
    then freezes and unfreezes at once: the log holds exactly the changes made, and they
    add up to the wallet's state."""
    import asyncio

    from bot.domain.model import AccountStatus

    bob = await wallet.users.seen(Profile(3, "bob", "Bob", "en"))
    done = await asyncio.gather(*(wallet.admin.set_frozen(ADMIN, bob, True) for _ in range(20)))
    assert sum(d.changed for d in done) == 1
    assert (await wallet.ledger.account(bob.account_id)).status is AccountStatus.FROZEN
    mixed = await asyncio.gather(
        *(wallet.admin.set_frozen(ADMIN, bob, n % 2 == 0) for n in range(30))
    )
    events = [
        e.event async for e in wallet.store.security.events() if e.event.startswith("admin.")
    ]
    changes = [d for d in [*done, *mixed] if d.changed]
    assert len(events) == len(changes)  # each change logged once, no change logged
    # each change flips the wallet: as many freezes as unfreezes, and one more if frozen
    frozen = (await wallet.ledger.account(bob.account_id)).status is AccountStatus.FROZEN
    assert events.count("admin.freeze") - events.count("admin.unfreeze") == int(frozen)


async def test_a_freeze_whose_audit_event_cannot_be_written_changes_nothing(wallet, database_url):
    """The status change and its event are one write: when the security log refuses the
    event, the wallet stays as it was; once the log takes it, the same freeze goes
    through and is logged once."""
    from bot.domain.errors import StorageError
    from bot.domain.model import AccountStatus
    from bot.storage import is_postgres_url

    bob = await wallet.users.seen(Profile(3, "bob", "Bob", "en"))
    if is_postgres_url(database_url):
        await execute(
            database_url,
            "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the log is unavailable'; END $$",
            "CREATE TRIGGER no_events BEFORE INSERT ON security_events"
            " FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        )
    else:
        await execute(
            database_url,
            "CREATE TRIGGER no_events BEFORE INSERT ON security_events"
            " BEGIN SELECT RAISE(ABORT, 'the log is unavailable'); END",
        )
    with pytest.raises(StorageError):
        await wallet.admin.set_frozen(ADMIN, bob, True)
    assert (await wallet.ledger.account(bob.account_id)).status is AccountStatus.ACTIVE
    await drop_triggers(database_url, "security_events", "no_events")
    done = await wallet.admin.set_frozen(ADMIN, bob, True)
    assert done.changed
    assert (await wallet.ledger.account(bob.account_id)).status is AccountStatus.FROZEN
    events = [
        (e.event, e.actor_id, e.subject_id)
        async for e in wallet.store.security.events()
        if e.event.startswith("admin.")
    ]
    assert events == [("admin.freeze", ADMIN, 3)]
