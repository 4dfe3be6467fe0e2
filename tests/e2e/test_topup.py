"""Top-ups by Telegram Payments through the real application and the emulator."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.domain.model import SystemAccount
from bot.domain.topups import TopUpState
from bot.domain.users import Profile
from bot.wallet.audit import audit_ledger
from bot.wallet.topups import PAYMENT_FLAGGED
from tests.e2e.conftest import PROVIDER_TOKEN

ALICE, BOB = 100_002, 100_004  # Alice is the admin


@pytest.fixture
def provider_token() -> str | None:
    """Telegram Payments set up (unless a test says otherwise)."""
    return PROVIDER_TOKEN


async def available(wallet, telegram_id: int) -> int:
    user = await wallet.users.get(telegram_id)
    return (await wallet.ledger.balance(user.account_id)).available if user else 0


async def topup_transfers(wallet, telegram_id: int) -> list:
    user = await wallet.users.get(telegram_id)
    page = await wallet.ledger.history(user.account_id, limit=100)
    return [e.transfer for e in page.entries if e.transfer.kind == "topup"]


def invoices(emulator) -> list:
    return [e for e in emulator.bot_events("message") if e.message and e.message.invoice]


async def wait_for_invoice(emulator, user, *, since=None):
    chat_id = emulator.chat(user).id
    return await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == chat_id and e.message.invoice is not None,
        since=since,
    )


async def refusal_of(emulator, user, invoice) -> str:
    """Pay ``invoice`` as ``user``; the pre-checkout must be refused: its message."""
    payment = await emulator.pay_invoice(user, invoice)
    assert not payment.ok
    answer = emulator.bot_events("pre_checkout_answer")[-1]
    assert answer.data["ok"] is False
    return payment.error_message


def push_payment(emulator, user, payload: str, amount: int, currency: str = "CNY") -> str:
    """A successful_payment update as Telegram would send it; returns the charge id."""
    resident, chat = emulator.user(user), emulator.chat(user)
    charge = f"{uuid.uuid4().int % 10**9}_{uuid.uuid4().hex[:12]}"
    message = emulator.new_message(
        chat,
        resident,
        successful_payment={
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": f"ch_{uuid.uuid4().hex}",
        },
    )
    emulator.record("user_message", by_bot=False, message=message, user_id=resident.id)
    emulator.push_update("message", message.to_api())
    return charge


@pytest.mark.both_back_ends
async def test_an_invoice_is_paid_and_credited_once_with_a_receipt_showing_the_balance(
    emulator, wallet
):
    alice = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("fund-alice", external, alice.account_id, 10_00, "topup")

    await emulator.send_text("alice", "/topup 50")
    invoice = await wait_for_invoice(emulator, "alice")
    assert invoice.message.invoice["currency"] == "CNY"
    assert invoice.message.invoice["total_amount"] == 50_00
    assert invoice.message.invoice["title"] == "Wallet top-up"
    payload = invoice.data["invoice_payload"]
    pending = await wallet.store.topups.get_topup(payload)
    assert (pending.telegram_id, pending.amount, pending.state) == (ALICE, 50_00, TopUpState.OPEN)
    assert await available(wallet, ALICE) == 10_00  # nothing moves before the payment

    payment = await emulator.pay_invoice("alice", invoice)
    assert payment.ok
    assert emulator.bot_events("pre_checkout_answer")[-1].data["ok"] is True
    receipt = await emulator.wait_for_message("alice", text="Top-up received")
    assert receipt.text == "✅ Top-up received: ¥50.00.\nBalance: ¥60.00"
    assert await available(wallet, ALICE) == 60_00

    paid = await wallet.store.topups.get_topup(payload)
    assert paid.state is TopUpState.PAID
    assert paid.telegram_charge_id == payment.telegram_payment_charge_id
    assert paid.provider_charge_id == payment.provider_payment_charge_id
    (credited,) = [t for t in await topup_transfers(wallet, ALICE) if t.key != "fund-alice"]
    assert credited.id == paid.transfer_id
    assert (credited.debit_account_id, credited.amount) == (external, 50_00)
    async with wallet.store.snapshot() as snapshot:
        assert (await audit_ledger(snapshot)).ok


async def test_a_replayed_successful_payment_credits_nothing(emulator, wallet):
    await emulator.send_text("bob", "/topup 20")
    invoice = await wait_for_invoice(emulator, "bob")
    payment = await emulator.pay_invoice("bob", invoice)
    await emulator.wait_for_message("bob", text="Top-up received")
    assert await available(wallet, BOB) == 20_00

    for _ in range(2):  # the same update again, as after a lost confirmation
        mark = emulator.mark()
        emulator.push_update("message", payment.message.to_api())
        again = await emulator.wait_for_message("bob", since=mark)
        assert again.text == "✅ Top-up received: ¥20.00.\nBalance: ¥20.00"
    assert await available(wallet, BOB) == 20_00
    assert len(await topup_transfers(wallet, BOB)) == 1


async def test_a_tampered_amount_or_currency_is_refused_at_checkout_and_charges_nothing(
    emulator, wallet
):
    await emulator.send_text("alice", "/topup 100")
    invoice = await wait_for_invoice(emulator, "alice")
    invoice.message.invoice["total_amount"] = 1_00
    error = await refusal_of(emulator, "alice", invoice)
    assert error == "The amount ¥1.00 does not match the invoice (¥100.00). Nothing was charged."

    invoice.message.invoice.update(total_amount=100_00, currency="USD")
    error = await refusal_of(emulator, "alice", invoice)
    assert "currency does not match" in error
    assert await available(wallet, ALICE) == 0
    assert (await wallet.store.topups.get_topup(invoice.data["invoice_payload"])).state == "open"


async def test_an_unknown_or_foreign_payload_is_refused_at_checkout(emulator, wallet):
    await emulator.send_text("alice", "/topup 30")
    invoice = await wait_for_invoice(emulator, "alice")
    error = await refusal_of(emulator, "bob", invoice)  # Bob pays Alice's invoice
    assert "belongs to someone else" in error

    invoice.message.invoice_payload = "forged-or-from-another-bot"
    error = await refusal_of(emulator, "alice", invoice)
    assert "not one of this wallet's" in error
    await emulator.send_text("wangfang", "/topup 30")
    await wait_for_invoice(emulator, "wangfang")
    invoice.message.invoice_payload = ""
    assert "未扣款" in await refusal_of(emulator, "wangfang", invoice)  # in the payer's language
    assert await available(wallet, ALICE) == await available(wallet, BOB) == 0


async def test_a_paid_invoice_cannot_be_paid_again_and_an_expired_one_not_at_all(emulator, wallet):
    await emulator.send_text("alice", "/topup 10")
    invoice = await wait_for_invoice(emulator, "alice")
    assert (await emulator.pay_invoice("alice", invoice)).ok
    await emulator.wait_for_message("alice", text="Top-up received")
    invoice.message.paid = False  # a client that offers the paid invoice once more
    assert "paid already" in await refusal_of(emulator, "alice", invoice)
    assert await available(wallet, ALICE) == 10_00

    wallet.topups.ttl_s = 1
    await emulator.send_text("alice", "/topup 10")
    invoice = await wait_for_invoice(emulator, "alice")
    await asyncio.sleep(1.05)
    assert "has expired" in await refusal_of(emulator, "alice", invoice)
    assert (await wallet.store.topups.get_topup(invoice.data["invoice_payload"])).state == "expired"
    assert await available(wallet, ALICE) == 10_00


async def test_money_taken_for_an_expired_or_unknown_invoice_is_credited_and_reported(
    emulator, wallet
):
    await emulator.send_text("alice", "/start")  # the admin opened the private chat
    await emulator.wait_for_message("alice")
    wallet.topups.ttl_s = 1
    await emulator.send_text("bob", "/topup 25")
    invoice = await wait_for_invoice(emulator, "bob")
    await asyncio.sleep(1.05)

    charge = push_payment(emulator, "bob", invoice.data["invoice_payload"], 25_00)
    receipt = await emulator.wait_for_message("bob", text="Top-up received")
    assert receipt.text.endswith("Balance: ¥25.00")
    topup = await wallet.store.topups.get_topup(invoice.data["invoice_payload"])
    assert (topup.state, topup.telegram_charge_id) == (TopUpState.PAID, charge)
    report = await emulator.wait_for_message("alice", since=0, text="Top-up to check")
    assert "Bob (100004) paid ¥25.00" in report.text and "topup_expired" in report.text

    push_payment(emulator, "bob", "no-such-invoice", 7_50)
    await emulator.wait_for_message("bob", text="Top-up received")
    assert await available(wallet, BOB) == 32_50
    await emulator.wait_for_message("alice", text="topup_not_found")
    flagged = [e async for e in wallet.store.security.events() if e.event == PAYMENT_FLAGGED]
    assert [e.details["problem"] for e in flagged] == ["topup_expired", "topup_not_found"]


async def test_the_admins_report_says_what_was_wrong_in_words_in_their_language(emulator, wallet):
    await emulator.send_text("alice", "/start")  # the admin opened the private chat
    await emulator.wait_for_message("alice")
    wallet.topups.ttl_s = 1
    await emulator.send_text("bob", "/topup 25")
    invoice = await wait_for_invoice(emulator, "bob")
    await asyncio.sleep(1.05)

    push_payment(emulator, "bob", invoice.data["invoice_payload"], 25_00)
    report = await emulator.wait_for_message("alice", since=0, text="Top-up to check")
    assert "Problem: the invoice had expired (topup_expired)." in report.text

    await wallet.users.set_language(ALICE, "zh")
    mark = emulator.mark()
    push_payment(emulator, "bob", "no-such-invoice", 7_50)
    report = await emulator.wait_for_message("alice", since=mark, text="需核查的充值")
    assert "问题：本钱包没有这张账单（topup_not_found）。" in report.text
    mark = emulator.mark()
    push_payment(emulator, "bob", "some-invoice", 3_00, currency="USD")
    report = await emulator.wait_for_message("alice", since=mark, text="充值未入账")
    assert "问题：币种不是本钱包使用的币种（topup_currency_mismatch）。" in report.text


@pytest.mark.parametrize("provider_token", [None])
async def test_without_a_provider_token_top_up_says_it_is_not_configured(emulator, wallet):
    for command in ("/topup 50", "/topup"):
        await emulator.send_text("alice", command)
        reply = await emulator.wait_for_message("alice")
        assert "Top-up is not configured" in reply.text
        assert not reply.buttons()
    assert not invoices(emulator)
    await emulator.send_text("alice", "/start")  # and the menu offers no Top up button
    menu = await emulator.wait_for_message("alice")
    labels = [button["text"] for button in menu.buttons()]
    assert "💰 Balance" in labels and "➕ Top up" not in labels


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/topup 0", "more than ¥0.00"),
        ("/topup -5", "cannot be negative"),
        ("/topup 12.345", "at most two decimals"),
        ("/topup 5000.01", "the most is ¥5,000.00"),
        ("/topup 99999999999", "too much"),
        ("/topup 1e5", "plain digits"),
        ("/topup NaN", "is not an amount"),
        ("/topup fifty", "is not an amount"),
    ],
)
async def test_bad_amounts_are_refused_with_the_reason_and_no_invoice(
    emulator, wallet, command, words
):
    await emulator.send_text("alice", command)
    reply = await emulator.wait_for_message("alice")
    assert words in reply.text
    assert "Write /topup 50" in reply.text
    assert not invoices(emulator)


async def test_the_largest_allowed_top_up_and_full_width_digits_are_invoiced(emulator, wallet):
    await emulator.send_text("alice", "/topup ¥5,000")
    assert (await wait_for_invoice(emulator, "alice")).message.invoice["total_amount"] == 5_000_00
    await emulator.send_text("alice", "/topup １２．５")
    assert (await wait_for_invoice(emulator, "alice")).message.invoice["total_amount"] == 12_50


async def test_the_preset_buttons_send_one_invoice_that_credits(emulator, wallet):
    await emulator.send_text("alice", "/topup")
    menu = await emulator.wait_for_message("alice")
    # read like the quick picks of the guided flows: "¥10", not "¥10.00"
    assert [b["text"] for b in menu.buttons()] == ["¥10", "¥50", "¥100", "¥200"]
    data = next(b["callback_data"] for b in menu.buttons() if b["text"] == "¥100")
    mark = emulator.mark()
    query_id = await emulator.tap("alice", menu, "¥100")
    await emulator.wait_for_answer(query_id, since=mark)
    edited = await emulator.wait_for_edit(menu, since=mark)
    assert edited.text == "Here is your invoice for ¥100.00: tap Pay to top up."
    invoice = await wait_for_invoice(emulator, "alice", since=mark)
    assert invoice.message.invoice["total_amount"] == 100_00

    message = emulator.last_message("alice")
    message.reply_markup = menu.reply_markup  # a second tap on the same menu
    again = await emulator.tap("alice", message, data=data)
    assert "already done" in (await emulator.wait_for_answer(again)).text
    assert len(invoices(emulator)) == 1

    assert (await emulator.pay_invoice("alice", invoice)).ok
    receipt = await emulator.wait_for_message("alice", text="Top-up received")
    assert receipt.text.endswith("Balance: ¥100.00")


async def test_chinese_users_get_a_chinese_invoice_and_receipt(emulator, wallet):
    await emulator.send_text("xiaoming", "/topup 10")
    invoice = await wait_for_invoice(emulator, "xiaoming")
    assert invoice.message.invoice["title"] == "钱包充值"
    assert (await emulator.pay_invoice("xiaoming", invoice)).ok
    receipt = await emulator.wait_for_message("xiaoming", text="充值到账")
    assert receipt.text == "✅ 充值到账：¥10.00。\n余额：¥10.00"


async def test_top_up_happens_in_the_private_chat_only(emulator, wallet):
    await emulator.send_text("alice", "/topup@wallet_sandbox_bot 50", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert "private chat" in reply.text
    assert not invoices(emulator)


async def test_a_payment_in_a_currency_the_wallet_does_not_keep_is_reported_not_dropped(
    emulator, wallet
):
    for name in ("alice", "bob"):  # the admin, and the payer, opened the private chat
        await emulator.send_text(name, "/start")
        await emulator.wait_for_message(name)
    charge = push_payment(emulator, "bob", "some-invoice", 3_00, currency="USD")
    told = await emulator.wait_for_message("bob")
    assert "could not be added to your wallet automatically" in told.text and charge in told.text
    report = await emulator.wait_for_message("alice", since=0, text="NOT credited")
    assert "300 minor units of USD" in report.text and charge in report.text
    assert await available(wallet, BOB) == 0


async def test_a_tip_short_of_money_in_the_group_points_to_topping_up(emulator, wallet):
    """Where top-ups are set up, the tipper is told in private that topping up would do;
    the group reads only that the reason went to the private chat."""
    said = await emulator.send_text("bob", "hello", emulator.group)
    await emulator.send_text("alice", "/send 5", emulator.group, reply_to=said)
    short = await emulator.wait_for_message(emulator.group)
    assert short.text == "📩 I could not do that for you. Open our private chat to see why."
    await emulator.send_text("alice", "/start")  # kept for her: she never opened the chat
    told = await emulator.wait_for_message("alice", text="Not enough money")
    assert told.text.endswith("this needs ¥5.00.\nTop up with /topup, then try again.")
