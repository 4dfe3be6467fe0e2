"""Withdrawals to the bound bank card through the real application, the emulator and the
sandbox payout gateway."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import open_wallet
from bot.domain.events import verify_events
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.gateways.sandbox import SandboxGateway
from bot.handlers import withdraw
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import GatewayTimeout
from tests.e2e.test_resident_walk import handler_errors
from tests.e2e.test_send import lock_pin

XIAOMING, ALICE, BOB = 100_001, 100_002, 100_004  # Alice is the admin
PROFILES = {
    XIAOMING: Profile(XIAOMING, "xiaoming", "小明", "zh-hans"),
    ALICE: Profile(ALICE, "alice", "Alice", "en"),
    BOB: Profile(BOB, "bob", "Bob", "en"),
}
PIN = "739201"
ID_NUMBER = "11010519491231002X"
CARD = "4111111111111111"
SANDBOX = "\n🧪 Sandbox: no real money is paid out; nothing reaches a bank card."
SANDBOX_ZH = "\n🧪 沙盒模式：不会支付真实的钱，银行卡不会收到任何款项。"


class LostAnswerGateway(SandboxGateway):
    """Pays, then the answer is lost on the way back (as in a network timeout)."""

    async def payout(self, request_id, card_number, amount, currency):
        await super().payout(request_id, card_number, amount, currency)
        raise GatewayTimeout("the answer was lost")


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway(seed=7)


@pytest.fixture
async def wallet(settings, gateway):
    """The wallet over the test's gateway; afterwards its ledger must still audit clean."""
    opened = await open_wallet(settings, gateway=gateway)
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    await opened.close()
    gateway.close()
    assert report.ok and not event_problems, report.problems + event_problems


async def fund(wallet, telegram_id: int, fen: int, *, verified=True, card=True, pin=True):
    user = await wallet.users.seen(PROFILES[telegram_id], private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer(f"fund-{telegram_id}", external, user.account_id, fen, "topup")
    if pin:
        await wallet.pins.set_pin(telegram_id, PIN)
    if verified:
        await wallet.identity.verify(telegram_id, "张三", ID_NUMBER)
    if card:
        await wallet.identity.bind_card(telegram_id, CARD)


async def balance(wallet, telegram_id: int) -> tuple[int, int]:
    user = await wallet.users.get(telegram_id)
    money = await wallet.ledger.balance(user.account_id)
    return money.available, money.reserved


async def external_balance(wallet) -> int:
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    return (await wallet.ledger.account(external)).balance


async def tap_and_wait(emulator, user, message, label):
    query_id = await emulator.tap(user, message, label)
    await emulator.wait_for_answer(query_id)
    return await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == message.message_id
    )


async def enter_pin(emulator, user, message):
    mark = emulator.mark()
    for digit in PIN:
        await emulator.tap(user, message, digit)
    return await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == message.message_id and "○" not in e.text,
        since=mark,
    )


async def withdraw_with_pin(emulator, user: str, amount: str):
    await emulator.send_text(user, f"/withdraw {amount}")
    card = await emulator.wait_for_message(user)
    keypad = await tap_and_wait(emulator, user, card, "Confirm")
    assert "Enter your payment PIN" in keypad.text
    return card, await enter_pin(emulator, user, card)


async def run_sweep(running, emulator, user: str, text: str):
    """Run the recovery job now (as at start-up) and wait for the owner's message."""
    mark = emulator.mark()
    running.job_queue.run_once(withdraw.sweep, 0, data=0)
    return await emulator.wait_for_message(user, since=mark, text=text)


async def eventually(read, expected, timeout_s: float = 5.0) -> bool:
    """Whether ``await read()`` equals ``expected`` within the time (jobs run on their own)."""
    for _ in range(int(timeout_s / 0.02)):
        if await read() == expected:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_an_unverified_user_is_told_to_verify_first(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00, verified=False, card=False)
    await emulator.send_text("alice", "/withdraw 10")
    reply = await emulator.wait_for_message("alice")
    assert "verify your real name first with /verify" in reply.text
    assert await balance(wallet, ALICE) == (100_00, 0)
    assert gateway.payout_calls == 0


@pytest.mark.parametrize(
    ("who", "telegram_id", "command", "told"),
    [
        (
            "alice",
            ALICE,
            "/withdraw abc",
            '“abc” is not an amount. Write it like 12 or 12.50.\n'
            "Write /withdraw <amount>, for example /withdraw 100.",
        ),
        (
            "xiaoming",
            XIAOMING,
            "/withdraw abc",
            "「abc」不是金额。请写成 12 或 12.50 这样。\n"
            "请这样写：/withdraw <金额>，例如 /withdraw 100。",
        ),
        ("alice", ALICE, "/withdraw 10", "Please verify your real name first with /verify."),
        ("xiaoming", XIAOMING, "/withdraw 10", "请先用 /verify 完成实名认证。"),
    ],
)
async def test_a_bad_amount_is_told_as_one_before_asking_an_unverified_user_to_verify(
    emulator, wallet, gateway, who, telegram_id, command, told
):
    await fund(wallet, telegram_id, 100_00, verified=False, card=False)
    await emulator.send_text(who, command)
    reply = await emulator.wait_for_message(who)
    assert reply.text.startswith(told)
    assert not reply.buttons()
    assert await balance(wallet, telegram_id) == (100_00, 0)
    assert gateway.payout_calls == 0


async def test_a_verified_user_without_a_card_is_told_to_bind_one(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00, card=False)
    await emulator.send_text("alice", "/withdraw 10")
    reply = await emulator.wait_for_message("alice")
    assert reply.text == "Bind a bank card first: /bindcard <card number>."
    assert await balance(wallet, ALICE) == (100_00, 0)


@pytest.mark.both_back_ends
async def test_a_withdrawal_is_confirmed_with_the_pin_and_paid_out_once(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/withdraw 30")
    card = await emulator.wait_for_message("alice")
    assert card.text == "Withdraw ¥30.00 to your bank card **** 1111?" + SANDBOX
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "Enter your payment PIN" in keypad.text
    assert await balance(wallet, ALICE) == (100_00, 0)  # nothing moves before the PIN

    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ ¥30.00 is on its way to your bank card **** 1111." + SANDBOX
    assert await balance(wallet, ALICE) == (70_00, 0)
    assert await external_balance(wallet) == -70_00  # 100 came in from outside, 30 went out
    (paid,) = gateway.paid()
    assert (paid.amount, paid.currency, paid.card_last4) == (30_00, "CNY", "1111")
    assert gateway.payout_calls == 1


@pytest.mark.parametrize("gateway", [SandboxGateway(failure_rate=1.0)])
async def test_a_withdrawal_the_bank_declines_gives_the_money_back(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00)
    _, done = await withdraw_with_pin(emulator, "alice", "40")
    assert done.text == (
        "❌ The bank did not accept the withdrawal of ¥40.00 to **** 1111."
        " The money is back in your wallet." + SANDBOX
    )
    assert await balance(wallet, ALICE) == (100_00, 0)
    assert gateway.paid() == []
    assert gateway.payout_calls == 1


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/withdraw 0", "more than ¥0.00"),
        ("/withdraw -5", "cannot be negative"),
        ("/withdraw 12.345", "at most two decimals"),
        ("/withdraw 1e5", "plain digits"),
        ("/withdraw abc", "is not an amount"),
        ("/withdraw 100.01", "Not enough money"),
        ("/withdraw", "Write /withdraw <amount>"),
        ("/withdraw 5 6", "Write /withdraw <amount>"),
    ],
)
async def test_bad_amounts_are_refused_and_move_nothing(emulator, wallet, gateway, command, words):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", command)
    reply = await emulator.wait_for_message("alice")
    assert words in reply.text
    assert not reply.buttons()
    assert await balance(wallet, ALICE) == (100_00, 0)
    assert gateway.payout_calls == 0


@pytest.mark.parametrize(
    ("who", "telegram_id", "confirm", "told"),
    [
        (
            "alice",
            ALICE,
            "Confirm",
            "⛔ Your withdrawal of ¥50,000.01 was refused because it is above your limit of"
            " ¥50,000.00 per payment; this is a large amount for a new wallet. No money moved.",
        ),
        (
            "xiaoming",
            XIAOMING,
            "确认",
            "⛔ 你的 ¥50,000.01 提现被拒绝，原因：超过单笔限额 ¥50,000.00；新钱包的大额付款。"
            "没有资金变动。",
        ),
    ],
)
async def test_a_withdrawal_above_the_top_limit_is_refused_without_a_hint_to_verify_again(
    emulator, wallet, gateway, who, telegram_id, confirm, told
):
    """A person verified with a card has the highest limits already: the refusal lists
    its reasons in the person's language and sends them to no /verify."""
    await fund(wallet, telegram_id, 60_000_00)
    await emulator.send_text(who, "/withdraw 50000.01")
    card = await emulator.wait_for_message(who)
    refused = await tap_and_wait(emulator, who, card, confirm)
    assert refused.text == told
    assert await balance(wallet, telegram_id) == (60_000_00, 0)
    assert gateway.payout_calls == 0


async def test_a_frozen_wallet_cannot_withdraw_and_a_group_is_sent_to_private(emulator, wallet):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/withdraw 10", emulator.group)
    assert "private chat" in (await emulator.wait_for_message(emulator.group)).text
    alice = await wallet.users.get(ALICE)
    await wallet.ledger.freeze(alice.account_id)
    await emulator.send_text("alice", "/withdraw 10")
    assert "frozen" in (await emulator.wait_for_message("alice")).text
    assert await balance(wallet, ALICE) == (100_00, 0)


async def test_a_frozen_wallet_is_told_it_is_frozen_before_being_asked_to_verify(emulator, wallet):
    await fund(wallet, ALICE, 100_00, verified=False, card=False)
    alice = await wallet.users.get(ALICE)
    await wallet.ledger.freeze(alice.account_id)
    await emulator.send_text("alice", "/withdraw 10")
    reply = await emulator.wait_for_message("alice")
    assert reply.text.startswith("This wallet is frozen"), reply.text
    assert "verify" not in reply.text.lower()
    await emulator.send_text("alice", "/withdraw 1e5")  # a bad amount is still told first
    assert "frozen" not in (await emulator.wait_for_message("alice")).text
    assert await balance(wallet, ALICE) == (100_00, 0)


@pytest.mark.parametrize("gateway", [LostAnswerGateway(seed=1)])
async def test_a_lost_answer_keeps_the_money_reserved_until_the_sweep_settles_it(
    emulator, running, wallet, gateway
):
    await fund(wallet, ALICE, 100_00)
    _, done = await withdraw_with_pin(emulator, "alice", "25")
    assert done.text.startswith("⏳ The bank has not confirmed the withdrawal of ¥25.00")
    assert await balance(wallet, ALICE) == (75_00, 25_00)  # reserved, not lost

    told = await run_sweep(running, emulator, "alice", "went through")
    assert told.text == (
        "✅ Your withdrawal of ¥25.00 to **** 1111 went through:"
        " the money is on its way to your bank card." + SANDBOX
    )
    assert await balance(wallet, ALICE) == (75_00, 0)
    assert len(gateway.paid()) == 1
    assert await eventually(lambda: wallet.withdrawals.untold(), []), "marked told once sent"


async def test_a_held_withdrawal_is_paid_out_after_an_admin_approves_it(
    emulator, running, wallet, gateway
):
    await fund(wallet, XIAOMING, 3_000_00)  # a new wallet moving a large amount: held
    await emulator.send_text("alice", "/start")  # the admin can be told
    await emulator.wait_for_message("alice")
    await emulator.send_text("xiaoming", "/withdraw 1500")
    card = await emulator.wait_for_message("xiaoming")
    assert card.text == "提现 ¥1,500.00 到你的银行卡 **** 1111？" + SANDBOX_ZH
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    held = await enter_pin(emulator, "xiaoming", card)
    assert held.text.startswith("⏳ 你的 ¥1,500.00 提现需要审核")
    assert await balance(wallet, XIAOMING) == (1_500_00, 1_500_00)
    assert gateway.payout_calls == 0

    review = await emulator.wait_for_message("alice", since=0, text="Held payment")
    await tap_and_wait(emulator, "alice", review, "Approve")
    told = await run_sweep(running, emulator, "xiaoming", "提现已成功")
    assert "¥1,500.00" in told.text and "**** 1111" in told.text
    assert await balance(wallet, XIAOMING) == (1_500_00, 0)
    assert [p.amount for p in gateway.paid()] == [1_500_00]


async def test_a_held_withdrawal_the_admin_rejects_gives_the_money_back(emulator, wallet, gateway):
    await fund(wallet, XIAOMING, 3_000_00)
    await emulator.send_text("alice", "/start")
    await emulator.wait_for_message("alice")
    await emulator.send_text("xiaoming", "/withdraw 1500")
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    await enter_pin(emulator, "xiaoming", card)
    review = await emulator.wait_for_message("alice", since=0, text="Held payment")
    await tap_and_wait(emulator, "alice", review, "Reject")
    await emulator.wait_for_message("xiaoming", since=0, text="未获批准")
    assert await balance(wallet, XIAOMING) == (3_000_00, 0)

    assert await wallet.withdrawals.recover(min_age_s=0) == []  # the review told them
    settled = await wallet.withdrawals.get(1)
    assert (settled.state, settled.reason, settled.told) == (
        WithdrawalState.FAILED,
        "rejected_in_review",
        True,
    )
    assert gateway.payout_calls == 0


async def test_cancel_moves_nothing(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/withdraw 10")
    card = await emulator.wait_for_message("alice")
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Cancelled. No money was withdrawn."
    assert await balance(wallet, ALICE) == (100_00, 0)


async def test_a_wallet_without_a_pin_is_asked_to_set_one(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00, pin=False)
    await emulator.send_text("alice", "/withdraw 10")
    card = await emulator.wait_for_message("alice")
    told = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "no payment PIN yet" in told.text
    assert await balance(wallet, ALICE) == (100_00, 0)
    assert gateway.payout_calls == 0


@pytest.mark.parametrize("gateway", [SandboxGateway(latency_s=1.5)])
async def test_the_last_pin_tap_is_answered_at_once_while_a_slow_bank_works(
    emulator, wallet, gateway
):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/withdraw 10")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    ids = [await emulator.tap("alice", card, digit) for digit in PIN]
    loop = asyncio.get_running_loop()
    tapped_at = loop.time()
    last = await emulator.wait_for_answer(ids[-1], since=mark)
    assert loop.time() - tapped_at < 1.2  # answered before the bank's 1.5 s
    assert last.text == "⏳ Working on it…"
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "on its way" in (e.text or ""), since=mark
    )
    assert done.text.startswith("✅ ¥10.00")
    assert await balance(wallet, ALICE) == (90_00, 0)


NEW_CARD = "5500000000000004"


async def test_replacing_the_bound_card_needs_the_pin_and_nothing_changes_before_it(
    emulator, wallet, gateway, caplog
):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", f"/bindcard {NEW_CARD}")
    card = await emulator.wait_for_message("alice")
    assert "Replace the card **** 1111 with **** 0004?" in card.text
    assert "Enter your payment PIN" in card.text
    assert await wallet.identity.card_number(ALICE) == CARD  # not before the PIN

    done = await enter_pin(emulator, "alice", card)
    assert done.text.startswith("✅ Card **** 0004 is bound for withdrawals now")
    assert await wallet.identity.card_number(ALICE) == NEW_CARD
    await emulator.send_text("alice", "/withdraw 10")
    asked = await emulator.wait_for_message("alice")
    assert asked.text.startswith("Withdraw ¥10.00 to your bank card **** 0004?")
    assert handler_errors(caplog) == []


async def test_a_wrong_pin_leaves_the_bound_card_as_it_was(emulator, wallet, gateway):
    await fund(wallet, XIAOMING, 100_00)
    await emulator.send_text("xiaoming", f"/bindcard {NEW_CARD}")
    card = await emulator.wait_for_message("xiaoming")
    assert "要把银行卡 **** 1111 换成 **** 0004 吗？" in card.text
    mark = emulator.mark()
    for digit in "111111":
        await emulator.tap("xiaoming", card, digit)
    told = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "密码错误" in e.text,
        since=mark,
    )
    assert "4 次" in told.text
    assert await wallet.identity.card_number(XIAOMING) == CARD


async def test_without_a_pin_the_card_is_not_replaced_and_the_way_is_named(
    emulator, wallet, gateway
):
    await fund(wallet, ALICE, 100_00, pin=False)
    await emulator.send_text("alice", f"/bindcard {NEW_CARD}")
    told = await emulator.wait_for_message("alice")
    assert "no payment PIN yet" in told.text and not told.buttons()
    assert await wallet.identity.card_number(ALICE) == CARD


async def test_binding_the_same_card_again_needs_no_pin(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", f"/bindcard {CARD}")
    told = await emulator.wait_for_message("alice")
    assert told.text.startswith("✅") and "1111" in told.text and not told.buttons()
    assert await wallet.identity.card_number(ALICE) == CARD


async def test_a_locked_pin_replaces_no_card_and_says_until_when(emulator, wallet, gateway):
    await fund(wallet, ALICE, 100_00)
    await lock_pin(wallet, ALICE)
    await emulator.send_text("alice", f"/bindcard {NEW_CARD}")
    told = await emulator.wait_for_message("alice")
    assert "your PIN is locked for now" in told.text and not told.buttons()
    assert await wallet.identity.card_number(ALICE) == CARD
