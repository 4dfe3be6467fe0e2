"""Transfers and tips through the real application and the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain.model import SystemAccount
from bot.domain.security_errors import PinLocked, PinWrong
from bot.domain.users import Profile

XIAOMING, ALICE, WANGFANG, BOB = 100_001, 100_002, 100_003, 100_004  # Alice is the admin
PROFILES = {
    XIAOMING: Profile(XIAOMING, "xiaoming", "小明", "zh-hans"),
    ALICE: Profile(ALICE, "alice", "Alice", "en"),
    WANGFANG: Profile(WANGFANG, "wangfang", "王芳", "zh-hans"),
    BOB: Profile(BOB, "bob", "Bob", "en"),
}
PIN = "739201"


async def fund(wallet, telegram_id: int, fen: int, *, pin: bool = True) -> None:
    user = await wallet.users.seen(PROFILES[telegram_id])
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer(f"fund-{telegram_id}", external, user.account_id, fen, "topup")
    if pin:
        await wallet.pins.set_pin(telegram_id, PIN)


async def available(wallet, telegram_id: int) -> int:
    user = await wallet.users.get(telegram_id)
    return (await wallet.ledger.balance(user.account_id)).available if user else 0


async def tap_and_wait(emulator, user, message, label, *, since=None):
    query_id = await emulator.tap(user, message, label)
    await emulator.wait_for_answer(query_id, since=since)
    return await emulator.wait_for_edit(message, since=since)


async def enter_pin(emulator, user, message) -> object:
    mark = emulator.mark()
    for digit in PIN:
        await emulator.tap(user, message, digit)
    where = (message.chat_id, message.message_id)
    return await emulator.wait_for(
        lambda e: e.kind == "edit" and (e.chat_id, e.message_id) == where and "○" not in e.text,
        since=mark,
    )


async def start_private(emulator, user) -> None:
    await emulator.send_text(user, "/start")
    await emulator.wait_for_message(user)


async def test_a_currency_written_apart_is_the_amounts_not_the_memos(emulator, wallet):
    await fund(wallet, XIAOMING, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    for command, card in (
        ("/send @bob 5 元 午饭", "向 Bob 转账 ¥5.00？\n备注：午饭"),
        ("/send @bob ¥ 6", "向 Bob 转账 ¥6.00？"),
    ):
        mark = emulator.mark()
        await emulator.send_text("xiaoming", command)
        shown = await emulator.wait_for_message("xiaoming", since=mark)
        assert shown.text == card, (command, shown.text)


async def test_digits_grouped_by_spaces_are_refused_in_each_language_and_nothing_is_asked(
    emulator, wallet
):
    """"/send @bob 1 000" is not ¥1 with the memo "000": the person is told how to write it,
    and no card is shown."""
    await fund(wallet, XIAOMING, 5_000_00)
    await fund(wallet, ALICE, 5_000_00)
    await wallet.users.seen(PROFILES[BOB])
    for who, command, said in (
        ("alice", "/send @bob 1 000", "“1 000”: is that 1000, or 1 with the note “000”?"),
        ("xiaoming", "/send @bob 1 000元 房租", "「1 000元」是 1000，还是 1 加备注「000」？"),
    ):
        mark = emulator.mark()
        await emulator.send_text(who, command)
        shown = await emulator.wait_for_message(who, since=mark)
        assert shown.text.startswith(said), shown.text
        assert not shown.buttons()
    mark = emulator.mark()
    await emulator.send_text("alice", "/send @bob 5 lunch 000")  # after a word: the memo's
    card = await emulator.wait_for_message("alice", since=mark)
    assert card.text == "Send ¥5.00 to Bob?\nMemo: lunch 000"


@pytest.mark.both_back_ends
async def test_a_transfer_is_confirmed_with_the_pin_and_the_money_waits_for_the_recipient(
    emulator, wallet
):
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])  # Bob used the bot in a group, never in private
    await emulator.send_text("alice", "/send @bob 12.50 lunch at 老王")
    card = await emulator.wait_for_message("alice")
    assert card.text == "Send ¥12.50 to Bob?\nMemo: lunch at 老王"
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "Enter your payment PIN to confirm" in keypad.text
    assert await available(wallet, ALICE) == 100_00  # nothing moves before the PIN

    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥12.50 to Bob. Your balance: ¥87.50"
    assert await available(wallet, ALICE) == 87_50
    assert await available(wallet, BOB) == 12_50
    await emulator.settled()  # Bob's notice, tried from a task of its own
    assert any("can't initiate conversation" in e.data["description"] for e in emulator.errors())

    await emulator.send_text("bob", "/balance")
    assert (await emulator.wait_for_message("bob")).text == "余额 Balance: ¥12.50"


SLOW_NOTICE_S = 3.0


async def test_the_payer_hears_at_once_while_the_recipients_notice_is_slow(emulator, wallet):
    """The payer's receipt does not wait for the recipient's notice in the send queue."""
    await fund(wallet, ALICE, 100_00)
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/send @bob 12.50")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    emulator.faults.add("sendMessage", "slow", delay=SLOW_NOTICE_S)  # the next: Bob's notice
    started = time.monotonic()

    done = await enter_pin(emulator, "alice", card)

    assert done.text == "✅ Sent ¥12.50 to Bob. Your balance: ¥87.50"
    assert time.monotonic() - started < SLOW_NOTICE_S / 2
    told = await emulator.wait_for_message("bob", text="¥12.50")
    assert "Alice" in told.text and emulator.faults.hits == [("sendMessage", "slow")]


async def test_the_card_keeps_what_is_paid_above_the_keypad_while_the_pin_is_typed(
    emulator, wallet
):
    """Two cards open at once must not look alike: the summary stays as digits go in, a
    wrong PIN's line comes and goes below the dots, and the outcome replaces it all."""
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 6 tea")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    summary = "Send ¥6.00 to Bob?\nMemo: tea\n\nEnter your payment PIN to confirm:\n"
    mark = emulator.mark()
    await emulator.tap("alice", card, PIN[0])
    edited = await emulator.wait_for_edit(card, since=mark)
    assert edited.text == summary + "●○○○○○"
    for digit in "99999":  # a wrong PIN: the card says so below the dots, summary kept
        mark = emulator.mark()
        await emulator.tap("alice", card, digit)
        edited = await emulator.wait_for_edit(card, since=mark)
    assert edited.text.startswith(summary + "○○○○○○\n"), edited.text
    assert "wrong" in edited.text.lower()
    mark = emulator.mark()
    await emulator.tap("alice", card, PIN[0])
    edited = await emulator.wait_for_edit(card, since=mark)
    assert edited.text == summary + "●○○○○○"  # the error line gone with the next digit
    for digit in PIN[1:]:
        await emulator.tap("alice", card, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "○" not in e.text,
        since=mark,
    )
    assert done.text == "✅ Sent ¥6.00 to Bob. Your balance: ¥94.00"


async def test_the_recipient_who_opened_the_chat_is_told(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/send 100004 3")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    dm = await emulator.wait_for_message("bob", since=0, text="sent you")
    assert dm.text == "💰 Alice sent you ¥3.00. Your balance: ¥3.00"


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/send @bob 12.345", "at most two decimals"),
        ("/send @bob 0", "more than ¥0.00"),
        ("/send @bob -5", "cannot be negative"),
        ("/send @bob 1e5", "plain digits (like 100000)"),
        ("/send @bob NaN", "is not an amount"),
        ("/send @bob 99999999999", "too much"),
        ("/send @bob abc", "is not an amount"),
        ("/send @nobody_here 5", "don't know that person"),
        ("/send ² 5", "don't know that person"),
        ("/send 99999999999999999999 5", "don't know that person"),
        ("/send @alice 5", "cannot send money to yourself"),
        ("/send @bob 50.01", "Not enough money"),
        ("/send @bob", "Write /send @username 12.50"),
        ("/send", "Write /send @username 12.50"),
        (f"/send @bob 1 {'x' * 101}", "memo is too long"),
    ],
)
async def test_bad_input_is_refused_with_the_reason_and_moves_nothing(
    emulator, wallet, command, words
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", command)
    reply = await emulator.wait_for_message("alice")
    assert words in reply.text
    assert await available(wallet, ALICE) == 50_00
    assert await available(wallet, BOB) == 0


async def test_full_width_digits_are_read_as_an_amount(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob １２．５")
    assert (await emulator.wait_for_message("alice")).text == "Send ¥12.50 to Bob?"


async def test_a_frozen_wallet_or_a_missing_pin_cannot_send(emulator, wallet):
    await fund(wallet, ALICE, 50_00, pin=False)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 5")
    card = await emulator.wait_for_message("alice")
    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "no payment PIN yet" in done.text

    alice = await wallet.users.get(ALICE)
    await wallet.ledger.freeze(alice.account_id)
    await emulator.send_text("alice", "/send @bob 5")
    assert "frozen" in (await emulator.wait_for_message("alice")).text
    assert await available(wallet, ALICE) == 50_00


async def test_a_frozen_wallet_is_refused_without_a_usage_line(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    alice = await wallet.users.get(ALICE)
    await wallet.ledger.freeze(alice.account_id)
    await emulator.send_text("alice", "/send @bob 5")
    refused = await emulator.wait_for_message("alice")
    assert refused.text.startswith("This wallet is frozen") and "\n" not in refused.text
    assert not refused.buttons()
    mark = emulator.mark()
    await emulator.send_text("alice", "/redpacket 5 2", emulator.group)
    in_group = await emulator.wait_for_message(emulator.group, since=mark)
    # the group does not learn the wallet is frozen: the reason is said in private
    assert in_group.text == (
        "📩 I could not do that for you; I have sent you the reason in our private chat."
    )
    told = await emulator.wait_for_message("alice", since=mark)
    assert told.text.startswith("This wallet is frozen") and "\n" not in told.text
    await emulator.send_text("alice", "/send @bob 1e5")  # a bad amount keeps its usage line
    assert "Write /send" in (await emulator.wait_for_message("alice")).text
    assert await available(wallet, ALICE) == 50_00


async def test_a_frozen_tipper_who_never_opened_the_chat_reads_why_when_opening_it(
    emulator, wallet
):
    await fund(wallet, WANGFANG, 20_00)
    await wallet.ledger.freeze((await wallet.users.get(WANGFANG)).account_id)
    said = await emulator.send_text("bob", "hello", emulator.group)
    await emulator.send_text("wangfang", "/send 2 谢谢", emulator.group, reply_to=said)
    note = await emulator.wait_for_message(emulator.group)
    assert note.text == "📩 暂时无法为你办理，请打开与我的私聊查看原因。"
    assert [b["text"] for b in note.buttons()] == ["打开私聊"]
    assert "冻结" not in note.text and not emulator.messages("wangfang")

    await emulator.send_text("wangfang", "/start")
    told = await emulator.wait_for_message("wangfang", text="冻结")
    assert told.text.startswith("📬") and "\n此钱包已被冻结：" in told.text  # kept for them
    assert await available(wallet, WANGFANG) == 20_00


async def test_cancel_and_a_second_tap_move_nothing_more(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 5")
    card = await emulator.wait_for_message("alice")
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Cancelled. No money was sent."

    await emulator.send_text("alice", "/send @bob 5")
    card = await emulator.wait_for_message("alice")
    data = next(b["callback_data"] for b in card.buttons() if "Confirm" in b["text"])
    await tap_and_wait(emulator, "alice", card, "Confirm")
    message = emulator.last_message("alice")
    keypad = message.reply_markup
    message.reply_markup = {"inline_keyboard": [[{"text": "again", "callback_data": data}]]}
    again = await emulator.tap("alice", message, data=data)
    assert "already done" in (await emulator.wait_for_answer(again)).text
    message.reply_markup = keypad
    await enter_pin(emulator, "alice", card)
    assert await available(wallet, ALICE) == 45_00


async def test_a_tip_by_reply_in_a_group_is_confirmed_in_private_and_announced(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await start_private(emulator, "alice")
    said = await emulator.send_text("bob", "I fixed the gate 🔧", emulator.group)
    await emulator.send_text("alice", "/send 5 thanks!", emulator.group, reply_to=said)
    note = await emulator.wait_for_message(emulator.group)
    assert "confirm the payment in our private chat" in note.text
    card = await emulator.wait_for_message("alice", since=0, text="Tip Bob ¥5.00?")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    await enter_pin(emulator, "alice", card)
    announce = await emulator.wait_for_message(emulator.group, since=mark)
    assert announce.text == "🎉 Alice tipped Bob ¥5.00!"
    assert announce.message.reply_to.message_id == said.message_id
    assert await available(wallet, BOB) == 5_00


async def test_a_tipper_who_never_opened_the_private_chat_gets_a_link_to_it(emulator, wallet):
    await fund(wallet, WANGFANG, 20_00)
    said = await emulator.send_text("bob", "hello", emulator.group)
    await emulator.send_text("wangfang", "/send 2", emulator.group, reply_to=said)
    note = await emulator.wait_for_message(emulator.group)
    url = note.buttons()[0]["url"]
    assert url.startswith("https://t.me/wallet_sandbox_bot?start=confirm_")
    await emulator.send_text("wangfang", f"/start {url.split('start=')[1]}")
    card = await emulator.wait_for_message("wangfang")
    assert card.text == "打赏 Bob ¥2.00？"


async def test_a_reply_tip_needs_a_reply_and_an_amount(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await emulator.send_text("alice", "/send@wallet_sandbox_bot 5", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert "reply to their message with /send <amount>" in reply.text
    # a reply to the bot's own message: a bot is no one to tip, said so
    await emulator.send_text("alice", "/send 5", emulator.group, reply_to=reply)
    to_bot = await emulator.wait_for_message(emulator.group)
    assert to_bot.text.startswith("A bot cannot be tipped")
    assert await available(wallet, ALICE) == 50_00


async def test_over_the_limit_is_refused_and_a_new_wallet_moving_much_is_held(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("xiaoming", "/send @bob 600")
    card = await emulator.wait_for_message("xiaoming")
    blocked = await tap_and_wait(emulator, "xiaoming", card, "确认")
    assert blocked.text.startswith("⛔") and "¥500.00" in blocked.text
    assert await available(wallet, XIAOMING) == 3_000_00

    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")  # tier 1: ¥5,000
    await start_private(emulator, "alice")  # the admin can be told
    await emulator.send_text("xiaoming", "/send @bob 1500")
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    held = await enter_pin(emulator, "xiaoming", card)
    assert held.text.startswith("⏳") and "新钱包的大额付款" in held.text
    user = await wallet.users.get(XIAOMING)
    balance = await wallet.ledger.balance(user.account_id)
    assert (balance.available, balance.reserved) == (1_500_00, 1_500_00)
    assert await available(wallet, BOB) == 0

    review = await emulator.wait_for_message("alice", since=0, text="Held payment")
    assert "小明 → Bob, ¥1,500.00" in review.text
    decided = await tap_and_wait(emulator, "alice", review, "Approve")
    assert "Approved by Alice" in decided.text
    assert await available(wallet, BOB) == 1_500_00
    assert (await wallet.ledger.balance(user.account_id)).reserved == 0
    told = await emulator.wait_for_message("xiaoming", since=0, text="已获批准")
    assert "¥1,500.00" in told.text


async def test_password_free_small_payments_skip_the_keypad(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 20_00, 100_00)
    await emulator.send_text("alice", "/send @bob 10")
    card = await emulator.wait_for_message("alice")
    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert done.text == "✅ Sent ¥10.00 to Bob. Your balance: ¥40.00"
    await emulator.send_text("alice", "/send @bob 25")  # above the limit: the PIN again
    card = await emulator.wait_for_message("alice")
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "Enter your payment PIN" in keypad.text


async def test_a_large_payment_asks_for_a_2fa_code_after_the_pin(emulator, wallet):
    import time

    from bot.security import totp
    from bot.security.cipher import field_aad

    await fund(wallet, ALICE, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(ALICE, "Alice Smith", "11010519491231002X")
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    await emulator.send_text("alice", "/send @bob 2000")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    for digit in PIN:
        await emulator.tap("alice", card, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and "code from your authenticator app" in (e.text or ""),
        since=mark,
    )
    assert await available(wallet, ALICE) == 3_000_00
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", card, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "○" not in e.text,
        since=mark,
    )
    assert done.text.startswith("⏳")  # a new wallet moving this much also waits for review
    alice = await wallet.users.get(ALICE)
    assert (await wallet.ledger.balance(alice.account_id)).reserved == 2_000_00


async def test_not_enough_money_is_told_plainly_and_never_shows_a_balance_in_the_group(
    emulator, wallet
):
    await fund(wallet, ALICE, 20_00)
    await fund(wallet, XIAOMING, 20_00)
    await emulator.send_text("alice", "/send @xiaoming 25")
    reply = await emulator.wait_for_message("alice")
    assert reply.text == "Not enough money: you have ¥20.00, this needs ¥25.00."  # no usage line

    said = await emulator.send_text("bob", "I fixed the gate 🔧", emulator.group)
    await start_private(emulator, "xiaoming")
    for sender, neutral, why in (
        (
            "alice",
            "📩 I could not do that for you; I have sent you the reason in our private chat.",
            "Not enough money: you have ¥20.00, this needs ¥50.00.",
        ),
        ("xiaoming", "📩 暂时无法为你办理，原因已在私聊中告诉你。", "余额不足"),
    ):
        mark = emulator.mark()
        await emulator.send_text(sender, "/send 50", emulator.group, reply_to=said)
        reply = await emulator.wait_for_message(emulator.group, since=mark)
        assert reply.text == neutral  # the group learns nothing of the tipper's wallet
        told = await emulator.wait_for_message(sender, since=mark)
        assert why in told.text
    assert await available(wallet, ALICE) == await available(wallet, XIAOMING) == 20_00


async def test_a_payment_refused_after_its_pin_says_so_on_its_card_with_no_keys_left(
    emulator, wallet
):
    """Two cards confirmed one after the other with money for one: the second keypad's
    card becomes the reason, not a keypad whose keys all say "already done"."""
    await fund(wallet, ALICE, 30_00)
    await wallet.users.seen(PROFILES[BOB])
    cards = []
    for memo in ("first", "second"):
        await emulator.send_text("alice", f"/send @bob 20 {memo}")
        cards.append(await emulator.wait_for_message("alice", text=f"Memo: {memo}"))
    for card in cards:
        await tap_and_wait(emulator, "alice", card, "Confirm")
    sent = await enter_pin(emulator, "alice", cards[0])
    assert sent.text.startswith("✅ Sent ¥20.00 to Bob")

    refused = await enter_pin(emulator, "alice", cards[1])
    # what was refused stays above why (the card's summary), with no keys left
    assert refused.text.startswith("Send ¥20.00 to Bob?\nMemo: second\n")
    assert refused.text.endswith("\n\nNot enough money: you have ¥10.00, this needs ¥20.00.")
    assert not (refused.data.get("reply_markup") or {}).get("inline_keyboard")
    assert await available(wallet, ALICE) == 10_00
    assert await available(wallet, BOB) == 20_00


async def lock_pin(wallet, telegram_id: int) -> None:
    """Five wrong PINs, as a thief's guesses would be: the PIN locks."""
    for _ in range(5):
        with pytest.raises((PinWrong, PinLocked)):
            await wallet.pins.verify(telegram_id, "111112")


async def test_a_locked_pin_is_said_on_confirm_and_no_keypad_is_shown(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    await lock_pin(wallet, ALICE)
    await emulator.send_text("alice", "/send @bob 6 tea")
    card = await emulator.wait_for_message("alice")
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("alice", card, "Confirm"))
    assert answer.data["show_alert"] and "your PIN is locked for now" in answer.text
    await asyncio.sleep(0.2)
    assert [e for e in emulator.events[mark:] if e.kind == "edit"] == []  # the card is kept
    assert await available(wallet, ALICE) == 100_00
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_a_payment_whose_new_balance_cannot_be_read_still_says_it_was_sent(
    emulator, wallet, monkeypatch, caplog
):
    """The money moved: if the payer's balance cannot be read just after (the database
    busy, say), the card says "Sent" without it, never an error."""
    from bot.domain.errors import StorageError

    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 20_00, 100_00)
    alice = (await wallet.users.get(ALICE)).account_id
    read = wallet.ledger.balance

    async def balance(account_id: int):
        if account_id == alice:
            raise StorageError("the database is busy")
        return await read(account_id)

    monkeypatch.setattr(wallet.ledger, "balance", balance)
    await emulator.send_text("alice", "/send @bob 10")
    card = await emulator.wait_for_message("alice")
    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert done.text == "✅ Sent ¥10.00 to Bob."
    monkeypatch.undo()
    assert await available(wallet, ALICE) == 40_00 and await available(wallet, BOB) == 10_00
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
