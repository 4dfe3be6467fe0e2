"""The HTTP payout gateway against a bank on 127.0.0.1 that pays, declines, stalls, loses
requests, fails, and signs wrongly on purpose; then withdrawals end to end over it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.gateways.http import HttpGateway, UntrustedMessage, sign, verify_callback
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import (
    NOT_RECEIVED,
    GatewayTimeout,
    GatewayUnavailable,
    PayoutResult,
    PayoutStatus,
)
from tests.cluster import free_port
from tests.fakebank import FakeBank, signature

SECRET = b"a-secret-the-wallet-and-the-bank-share"
CARD = "4111111111111111"
ALICE = 100_002
DOCS = Path(__file__).resolve().parents[2] / "docs" / "payouts.md"
PAID = PayoutResult("wd-1", PayoutStatus.SUCCEEDED)
DECLINED = PayoutResult("wd-1", PayoutStatus.FAILED, "card_declined")
CLOSED = PayoutResult("wd-1", PayoutStatus.FAILED, NOT_RECEIVED)


@pytest.fixture
async def bank():
    bank = await FakeBank(SECRET).start()
    yield bank
    await bank.stop()


@pytest.fixture
async def gateway(bank):
    async with HttpGateway(bank.url, SECRET, timeout_s=5) as gateway:
        yield gateway


@pytest.fixture
async def impatient(bank):
    """A gateway that gives up after 0.3 s."""
    async with HttpGateway(bank.url, SECRET, timeout_s=0.3) as gateway:
        yield gateway


# Paying ---------------------------------------------------------------------------------


async def test_a_payout_is_paid_and_sent_as_the_contract_says(bank, gateway):
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == PAID
    assert bank.paid == ["wd-1"]
    (sent,) = bank.received
    assert (sent.method, sent.path) == ("POST", "/bank/v1/payouts")
    assert json.loads(sent.body) == {
        "request_id": "wd-1",
        "card_number": CARD,
        "amount": 3000,
        "currency": "CNY",
    }
    assert b'"amount":3000,' in sent.body  # an integer of fen, not "30.00"
    assert sent.headers["Idempotency-Key"] == "wd-1"
    assert sent.headers["Content-Type"] == "application/json"
    stamp = int(sent.headers["X-Wallet-Timestamp"])
    assert abs(time.time() - stamp) < 5
    expected = signature(SECRET, stamp, "POST", "/bank/v1/payouts", sent.body)
    assert sent.headers["X-Wallet-Signature"] == expected
    assert bank.refused == []


async def test_a_declined_card_fails_with_its_reason_and_stays_failed(bank, gateway):
    bank.declined_cards.add(CARD)
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == DECLINED  # a 402
    assert await gateway.status("wd-1") == DECLINED
    bank.declined_cards.clear()
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == DECLINED  # closed by failing
    assert bank.paid == []


async def test_asking_twice_with_one_request_id_pays_once(bank, gateway):
    first = await gateway.payout("wd-1", CARD, 30_00, "CNY")
    again = await gateway.payout("wd-1", CARD, 30_00, "CNY")
    together = await asyncio.gather(*(gateway.payout("wd-2", CARD, 40_00, "CNY") for _ in range(5)))
    assert first == again == PAID
    assert {r.status for r in together} == {PayoutStatus.SUCCEEDED}
    assert bank.paid == ["wd-1", "wd-2"]


async def test_a_request_id_reused_for_another_payout_is_not_read_as_a_failure(bank, gateway):
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    with pytest.raises(GatewayUnavailable, match="409"):
        await gateway.payout("wd-1", CARD, 40_00, "CNY")
    assert bank.paid == ["wd-1"]
    assert await gateway.status("wd-1") == PAID


async def test_a_pending_payout_is_final_once_the_bank_decides(bank, gateway):
    bank.pending = True
    pending = PayoutResult("wd-1", PayoutStatus.PENDING)
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == pending
    assert await gateway.status("wd-1") == pending
    bank.finish()
    assert await gateway.status("wd-1") == PAID
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == PAID
    assert bank.paid == ["wd-1"]


async def test_status_of_an_unknown_request_id_closes_it(bank, gateway):
    assert await gateway.status("wd-1") == CLOSED
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == CLOSED  # refused, not paid
    assert bank.paid == []


# When the answer is lost -----------------------------------------------------------------


async def test_a_timeout_after_the_bank_paid_raises_and_status_finds_it_paid(bank, impatient):
    bank.stall = True  # the bank pays, its answer does not come in time
    with pytest.raises(GatewayTimeout):
        await impatient.payout("wd-1", CARD, 30_00, "CNY")
    assert bank.paid == ["wd-1"]
    assert await impatient.status("wd-1") == PAID


async def test_a_request_lost_on_the_way_is_closed_by_status_and_refused_when_late(bank, impatient):
    bank.on_the_way = True  # the request reaches the bank only when delivered
    with pytest.raises(GatewayTimeout):
        await impatient.payout("wd-1", CARD, 30_00, "CNY")
    assert await impatient.status("wd-1") == CLOSED
    bank.deliver()  # the lost request arrives at last
    await asyncio.wait_for(bank.handled.wait(), 5)
    assert bank.paid == []
    assert bank.payouts["wd-1"].status == "failed"


@pytest.mark.parametrize("after_processing", [False, True])
@pytest.mark.parametrize("code", [500, 502, 503])
async def test_a_5xx_is_unavailable_and_status_tells_what_happened(
    bank, gateway, code, after_processing
):
    bank.error_status, bank.error_after_processing = code, after_processing
    with pytest.raises(GatewayUnavailable, match=str(code)):
        await gateway.payout("wd-1", CARD, 30_00, "CNY")
    with pytest.raises(GatewayUnavailable, match=str(code)):
        await gateway.status("wd-1")
    bank.error_status = None
    assert await gateway.status("wd-1") == (PAID if after_processing else CLOSED)
    assert bank.paid == (["wd-1"] if after_processing else [])


async def test_a_bank_that_cannot_be_reached_is_unavailable():
    port = free_port()  # a port nobody listens on
    async with HttpGateway(f"http://127.0.0.1:{port}/bank/v1", SECRET) as gateway:
        with pytest.raises(GatewayUnavailable) as raised:
            await gateway.payout("wd-1", CARD, 30_00, "CNY")
    assert not isinstance(raised.value, GatewayTimeout)


# Answers that are not believed ----------------------------------------------------------

NOT_BELIEVED = {
    "signed with another secret": {"answer_secret": b"another secret"},
    "unsigned": {"unsigned": True},
    "changed after signing": {"tamper": True},
    "signed too long ago": {"answer_timestamp_shift_s": -301},
    "signed in the future": {"answer_timestamp_shift_s": 301},
    "about another request id": {"answer_request_id": "wd-2"},
    "not JSON": {"answer_body": b"<html>OK</html>"},
    "not an object": {"answer_body": b'["wd-1", "succeeded"]'},
    "an unknown status": {"answer_body": b'{"request_id": "wd-1", "status": "done"}'},
    "no request id": {"answer_body": b'{"status": "succeeded"}'},
    "a reason that is no string": {
        "answer_body": b'{"request_id": "wd-1", "status": "failed", "reason": 5}'
    },
    "a 402 that says succeeded": {"answer_status": 402},
}


@pytest.mark.parametrize("knobs", NOT_BELIEVED.values(), ids=NOT_BELIEVED.keys())
async def test_an_answer_that_does_not_verify_is_not_believed(bank, gateway, knobs):
    for name, value in knobs.items():
        setattr(bank, name, value)
    with pytest.raises(UntrustedMessage):
        await gateway.payout("wd-1", CARD, 30_00, "CNY")
    with pytest.raises(UntrustedMessage):
        await gateway.status("wd-1")
    bank.behave()
    assert await gateway.status("wd-1") == PAID  # the bank did pay
    assert bank.paid == ["wd-1"]


@pytest.mark.parametrize("code", [400, 402, 404, 422])
async def test_a_signed_refusal_fails_with_its_reason(bank, gateway, code):
    bank.declined_cards.add(CARD)
    bank.answer_status = code
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == DECLINED


@pytest.mark.parametrize("code", [307, 401, 403, 409, 429])
async def test_an_answer_the_bank_did_not_act_on_is_unavailable_even_if_it_says_failed(
    bank, gateway, code
):
    bank.declined_cards.add(CARD)
    bank.answer_status = code
    with pytest.raises(GatewayUnavailable, match=str(code)):
        await gateway.payout("wd-1", CARD, 30_00, "CNY")


async def test_the_bank_refuses_a_request_signed_with_another_secret(bank):
    async with HttpGateway(bank.url, b"not the shared secret") as stranger:
        with pytest.raises(GatewayUnavailable, match="401"):
            await stranger.payout("wd-1", CARD, 30_00, "CNY")
        with pytest.raises(GatewayUnavailable, match="401"):
            await stranger.status("wd-1")
    assert bank.refused == ["bad signature", "bad signature"]
    assert bank.payouts == {} and bank.paid == []  # nothing paid, nothing closed


# The client itself ------------------------------------------------------------------------


async def test_the_gateway_opens_its_session_again_after_close(bank):
    gateway = HttpGateway(bank.url + "/", SECRET)  # a trailing slash is the same base
    await gateway.close()  # closing an unused gateway is fine
    assert await gateway.payout("wd-1", CARD, 30_00, "CNY") == PAID
    await gateway.close()
    assert await gateway.status("wd-1") == PAID
    await gateway.close()
    await gateway.close()
    assert [r.path for r in bank.received] == ["/bank/v1/payouts", "/bank/v1/payouts/wd-1"]


@pytest.mark.parametrize(
    ("url", "secret", "timeout_s"),
    [
        ("ftp://bank.example", SECRET, 10),
        ("bank.example/payouts", SECRET, 10),
        ("https://bank.example/v1?key=1", SECRET, 10),
        ("https://bank.example", b"", 10),
        ("https://bank.example", "a text secret", 10),
        ("https://bank.example", SECRET, 0),
    ],
)
def test_a_gateway_is_not_made_of_a_wrong_url_secret_or_timeout(url, secret, timeout_s):
    with pytest.raises(ValueError):
        HttpGateway(url, secret, timeout_s=timeout_s)


@pytest.mark.parametrize(
    ("request_id", "amount"),
    [("wd-1", 0), ("wd-1", -1), ("wd-1", 30.0), ("wd-1", True), ("wd/1", 1), ("..", 1), ("", 1)],
)
async def test_a_payout_of_a_wrong_amount_or_request_id_is_not_sent(
    bank, gateway, request_id, amount
):
    with pytest.raises(ValueError):
        await gateway.payout(request_id, CARD, amount, "CNY")
    assert bank.received == []


# Callbacks ------------------------------------------------------------------------------


async def test_a_signed_callback_says_the_result_however_often_it_comes(bank, gateway):
    bank.pending = True
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    bank.finish()
    headers, body = bank.callback("wd-1")
    first = verify_callback(SECRET, headers, body, now=time.time())
    again = verify_callback(SECRET, headers, body, now=time.time() + 10)
    assert first == again == PAID
    lower = {name.lower(): value for name, value in headers.items()}
    assert verify_callback(SECRET, lower, body, now=time.time()) == PAID


async def test_a_callback_at_the_edge_of_the_window_is_accepted(bank, gateway):
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    headers, body = bank.callback("wd-1", at=1_700_000_000)
    for now in (1_699_999_700, 1_700_000_300):
        assert verify_callback(SECRET, headers, body, now=now) == PAID


def _without(headers: dict, name: str) -> dict:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    "forge",
    [
        lambda h, b: (h, b.replace(b"succeeded", b"failed")),
        lambda h, b: (_without(h, "X-Wallet-Signature"), b),
        lambda h, b: (_without(h, "X-Wallet-Timestamp"), b),
        lambda h, b: ({**h, "X-Wallet-Timestamp": str(int(h["X-Wallet-Timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "X-Wallet-Signature": h["X-Wallet-Signature"].upper()}, b),
        lambda h, b: ({**h, "X-Wallet-Signature": h["X-Wallet-Signature"][7:]}, b),
    ],
    ids=[
        "changed body",
        "no signature",
        "no timestamp",
        "another timestamp",
        "upper-case hex",
        "no sha256= prefix",
    ],
)
async def test_a_forged_callback_is_refused(bank, gateway, forge):
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    headers, body = forge(*bank.callback("wd-1", at=1_700_000_000))
    with pytest.raises(UntrustedMessage):
        verify_callback(SECRET, headers, body, now=1_700_000_000)


async def test_a_callback_is_refused_out_of_its_window_for_another_path_or_secret(bank, gateway):
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    headers, body = bank.callback("wd-1", at=1_700_000_000)
    for now in (1_699_999_699, 1_700_000_301):
        with pytest.raises(UntrustedMessage, match="window"):
            verify_callback(SECRET, headers, body, now=now)
    with pytest.raises(UntrustedMessage):
        verify_callback(SECRET, headers, body, now=1_700_000_000, path="/elsewhere")
    with pytest.raises(UntrustedMessage):
        verify_callback(b"another secret", headers, body, now=1_700_000_000)
    headers, body = bank.callback("wd-1", path="/elsewhere", at=1_700_000_000)
    assert verify_callback(SECRET, headers, body, now=1_700_000_000, path="/elsewhere") == PAID


# The document --------------------------------------------------------------------------


def test_the_worked_example_of_the_contract_is_what_the_code_signs():
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"### Worked example\s+```text\n(.*?)```", text, re.S).group(1)
    example = dict(line.split(maxsplit=1) for line in block.splitlines())
    assert set(example) == {"secret", "timestamp", "method", "path", "body", "signature"}
    args = (
        example["secret"].encode(),
        int(example["timestamp"]),
        example["method"],
        example["path"],
        example["body"].encode(),
    )
    assert sign(*args) == example["signature"]
    assert signature(*args) == example["signature"]  # as a bank computes it from the text
    assert json.loads(example["body"])["amount"] == 3000
    assert example["body"] in text.partition("openssl")[0].rpartition("printf")[2]


# Withdrawals end to end ------------------------------------------------------------------


@pytest.fixture
async def wallet(tmp_path, bank, database_url):
    """A wallet whose withdrawals go to the fake bank; Alice has ¥5,000 and a card."""
    gateway = HttpGateway(bank.url, SECRET, timeout_s=1.0)
    wallet = await open_wallet(
        Settings(database_url=database_url, data_dir=tmp_path),
        gateway=gateway,
    )
    user = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("fund", external, user.account_id, 5_000_00, "topup")
    await wallet.identity.verify(ALICE, "张三", "11010519491231002X")
    await wallet.identity.bind_card(ALICE, CARD)
    yield wallet
    await wallet.close()
    await gateway.close()
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems


async def money(wallet) -> tuple[int, int, int]:
    """Alice's available and reserved fen, and what left through the external account."""
    user = await wallet.users.get(ALICE)
    balance = await wallet.ledger.balance(user.account_id)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    left = 5_000_00 + (await wallet.ledger.account(external)).balance
    return balance.available, balance.reserved, left


async def withdraw(wallet, key: str = "confirm-1", amount: str = "30"):
    order = await wallet.withdrawals.order(await wallet.users.get(ALICE), amount)
    return await wallet.withdrawals.settle(key, order)


async def test_a_withdrawal_the_bank_pays_is_posted(bank, wallet):
    outcome = await withdraw(wallet)
    assert (outcome.status, outcome.withdrawal.state) == ("paid", WithdrawalState.PAID)
    assert bank.paid == [outcome.withdrawal.request_id]
    assert await money(wallet) == (4_970_00, 0, 30_00)


async def test_a_declined_withdrawal_gives_the_money_back(bank, wallet):
    bank.declined_cards.add(CARD)
    outcome = await withdraw(wallet)
    assert (outcome.status, outcome.withdrawal.reason) == ("failed", "card_declined")
    assert bank.paid == []
    assert await money(wallet) == (5_000_00, 0, 0)
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # nothing left open


async def test_a_timeout_after_the_bank_paid_is_posted_by_the_sweep(bank, wallet):
    bank.stall = True
    outcome = await withdraw(wallet)
    assert (outcome.status, outcome.withdrawal.state) == ("unknown", WithdrawalState.UNKNOWN)
    assert await money(wallet) == (4_970_00, 30_00, 0)  # reserved, not lost

    bank.stall = False
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert (settled.id, settled.state) == (outcome.withdrawal.id, WithdrawalState.PAID)
    assert await money(wallet) == (4_970_00, 0, 30_00)
    assert bank.paid == [settled.request_id]
    assert await wallet.withdrawals.recover(min_age_s=0) == []


async def test_a_withdrawal_lost_on_the_way_is_voided_by_the_sweep_and_never_paid(bank, wallet):
    bank.on_the_way = True
    outcome = await withdraw(wallet)
    assert outcome.status == "unknown"
    assert await money(wallet) == (4_970_00, 30_00, 0)

    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert (settled.state, settled.reason) == (WithdrawalState.FAILED, NOT_RECEIVED)
    assert await money(wallet) == (5_000_00, 0, 0)
    bank.deliver()  # the request arrives after the money was given back: refused
    await asyncio.wait_for(bank.handled.wait(), 5)
    assert bank.paid == []


async def test_a_5xx_keeps_the_money_reserved_until_the_bank_answers(bank, wallet):
    bank.error_status, bank.error_after_processing = 502, True
    outcome = await withdraw(wallet)
    assert outcome.status == "unknown"
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # status is a 502 too
    assert await money(wallet) == (4_970_00, 30_00, 0)

    bank.error_status = None
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert settled.state is WithdrawalState.PAID
    assert await money(wallet) == (4_970_00, 0, 30_00)


async def test_a_forged_failure_does_not_give_back_money_the_bank_paid(bank, wallet):
    bank.tamper = True  # "succeeded" changed to "failed" on the way, signature kept
    outcome = await withdraw(wallet)
    assert outcome.status == "unknown"
    assert await money(wallet) == (4_970_00, 30_00, 0)

    bank.tamper = False
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert settled.state is WithdrawalState.PAID
    assert await money(wallet) == (4_970_00, 0, 30_00)


async def test_duplicate_confirmations_answers_and_sweeps_move_the_money_once(bank, wallet):
    first = await withdraw(wallet, "confirm-1")
    again = await withdraw(wallet, "confirm-1")  # the same confirmation replayed
    assert first.status == again.status == "paid"
    assert first.withdrawal.id == again.withdrawal.id
    request_id = first.withdrawal.request_id
    gateway = wallet.withdrawals.gateway
    assert await gateway.payout(request_id, CARD, 30_00, "CNY") == PayoutResult(
        request_id, PayoutStatus.SUCCEEDED
    )  # the bank asked twice answers the first outcome again and pays nothing more
    assert bank.paid == [request_id]
    assert await money(wallet) == (4_970_00, 0, 30_00)

    bank.stall = True  # a second withdrawal whose answer is lost
    second = await withdraw(wallet, "confirm-2")
    assert second.status == "unknown"
    bank.stall = False
    a, b = await asyncio.gather(  # two sweeps at once, both told "succeeded"
        wallet.withdrawals.recover(min_age_s=0), wallet.withdrawals.recover(min_age_s=0)
    )
    assert [w.id for w in a + b] == [second.withdrawal.id]
    assert bank.paid == [request_id, second.withdrawal.request_id]
    assert await money(wallet) == (4_940_00, 0, 60_00)
