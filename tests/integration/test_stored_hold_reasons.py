"""A hold opened by an earlier version kept the step-up its payer went through (the PIN,
2FA) among its reasons: read back, it lists only the rules that held the payment, an
unknown code as it is (on SQLite, then on PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.domain.holds import HOLD_OPENED, HOLD_REJECTED
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.domain.users import Profile
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users

ADMIN, PAYER, PAYEE = 1, 101, 202
STORED = ["new_account_large_amount", "pin_required", "above_2fa_threshold", "a_rule_retired"]
HOLDING = ("new_account_large_amount", "a_rule_retired")


@pytest.fixture
def store(both_store):
    return both_store


async def test_a_hold_stored_with_its_step_up_lists_only_the_rules_that_held_it(store):
    ledger = Ledger(store.ledger, "CNY")
    await ledger.open_system_accounts()
    users = Users(store.users, "CNY")
    payer = await users.seen(Profile(PAYER, "ming", "小明"))
    payee = await users.seen(Profile(PAYEE, "bob", "Bob"))
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("fund", external, payer.account_id, 50_00, "topup")
    spec = TransferSpec(
        payer.account_id, payee.account_id, 20_00, "transfer", flag=TransferFlag.PENDING
    )

    opened = await store.holds.open_hold("old-hold", spec, STORED, HOLD_OPENED)

    assert opened.reasons == HOLDING
    assert (await store.holds.get_hold(opened.id)).reasons == HOLDING
    assert [held.reasons for held in await store.holds.open_holds(10)] == [HOLDING]
    rejected = await store.holds.decide_hold(opened.id, False, ADMIN, HOLD_REJECTED)
    assert rejected.reasons == HOLDING
    assert (await ledger.balance(payer.account_id)).available == 50_00
