"""The owner of a withdrawal settled after the fact is told of it once, also with two bot
processes on one PostgreSQL database: one telling them at an admin's decision (or the
bank's callback) while the other's sweep tells every owner not told yet. (Each process
guarded the telling with a lock of its own, so both could send it.)"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.handlers.context import WALLET_KEY
from bot.handlers.withdraw import tell_owner, tell_owners

ALICE, ADMIN = 100_002, 900_001


class Bot:
    """What Telegram received: each message to each chat (a send takes a round trip)."""

    def __init__(self, sent: list, blocked: frozenset[int] = frozenset()) -> None:
        self.sent, self.blocked = sent, blocked

    async def send_message(self, chat_id: int, text: str, **options) -> None:
        await asyncio.sleep(0.01)
        if chat_id in self.blocked:
            from telegram.error import Forbidden

            raise Forbidden("Forbidden: bot was blocked by the user")
        self.sent.append((chat_id, text))


@pytest.fixture
async def processes(tmp_path, pg_url):
    """Two bot processes' wallets on one PostgreSQL database (manual payouts), Alice in
    it with ¥500, verified, with a bank card."""
    settings = Settings(
        database_url=pg_url,
        data_dir=tmp_path,
        payout_gateway="manual",
        admin_ids=frozenset({ADMIN}),
    )
    first = await open_wallet(settings)
    second = await open_wallet(settings)
    user = await first.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    external = await first.ledger.system_account_id(SystemAccount.EXTERNAL)
    await first.ledger.transfer("fund", external, user.account_id, 500_00, "topup")
    await first.identity.verify(ALICE, "张三", "11010519491231002X")
    await first.identity.bind_card(ALICE, "4111111111111111")
    yield first, second
    await first.close()
    await second.close()


async def paid_by_admin(wallet, amount: str, key: str) -> int:
    """A withdrawal of Alice's, marked paid by the admin: settled, its owner not told."""
    order = await wallet.withdrawals.order(await wallet.users.get(ALICE), amount)
    outcome = await wallet.withdrawals.settle(key, order)
    (item,) = await wallet.payouts.queue()
    decision = await wallet.payouts.decide(item.payout.id, ADMIN, paid=True, note="ICBC 42")
    assert decision.withdrawal.state.final and not decision.withdrawal.told
    return outcome.withdrawal.id


async def send_due(application) -> None:
    """What a process's sender of notices does (nothing before there were notices)."""
    wallet = application.bot_data[WALLET_KEY]
    if getattr(wallet, "notices", None) is not None:
        from bot.handlers.notices import deliver

        await wallet.notices.run(deliver(application))


async def test_two_processes_tell_the_owner_of_a_settled_withdrawal_once(processes):
    sent: list = []
    apps = [SimpleNamespace(bot_data={WALLET_KEY: w}, bot=Bot(sent)) for w in processes]
    for n in range(5):
        withdrawal_id = await paid_by_admin(processes[0], "10", f"w{n}")

        # the admin's decision tells the owner in one process while the other sweeps
        await asyncio.gather(
            tell_owner(apps[0], withdrawal_id),
            tell_owners(apps[1]),
            send_due(apps[1]),
        )
        await asyncio.gather(send_due(apps[0]), send_due(apps[1]))

        told = [text for chat, text in sent if chat == ALICE and "ICBC 42" in text]
        assert len(told) == n + 1, told
    assert await processes[1].withdrawals.untold() == []


async def test_an_owner_who_blocked_the_bot_closes_the_notice_and_the_admin_hears(processes):
    sent: list = []
    app = SimpleNamespace(bot_data={WALLET_KEY: processes[0]}, bot=Bot(sent, frozenset({ALICE})))
    withdrawal_id = await paid_by_admin(processes[0], "10", "w1")

    told = await tell_owner(app, withdrawal_id)
    again = await tell_owner(app, withdrawal_id)

    assert (told.value, again, sent) == ("blocked", None, [])
    await send_due(app)
    assert sent == []  # closed: not tried again
