"""Tap, don't type: every journey from the /start menu, with no command typed after it.

The journeys count their taps (a tap on a button, a person picked in the contact picker,
a chat picked for inline mode; the six PIN digits are counted apart) and print them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest

from bot.app import publish_commands, publish_descriptions
from bot.handlers import guided
from tests.e2e.database import rows
from tests.e2e.test_forged_buttons import forged_tap
from tests.e2e.test_redpacket import escrow, fen_of
from tests.e2e.test_refund import again
from tests.e2e.test_send import ALICE, BOB, PROFILES, XIAOMING, available, enter_pin, fund
from tests.e2e.test_withdraw import fund as withdraw_fund

LAOLI = 100_005  # a neighbour with no Telegram username, who never opened the bot


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


class Taps:
    """Counts what a person does with their thumb."""

    def __init__(self, emulator, who: str) -> None:
        self.emulator, self.who, self.count = emulator, who, 0

    async def tap(self, message, label):
        """Tap ``label`` on ``message``; the bot's answer, then its next message or edit."""
        self.count += 1
        mark = self.emulator.mark()
        query_id = await self.emulator.tap(self.who, message, label)
        await self.emulator.wait_for_answer(query_id, since=mark)
        return await self.emulator.wait_for(
            lambda e: e.kind in ("message", "edit") and e.chat_id == message.chat_id, since=mark
        )

    async def pick(self, people, button="Choose a contact"):
        """Tap the picker's button and pick ``people``; the bot's next message."""
        self.count += 1 + len(people)
        mark = self.emulator.mark()
        await self.emulator.share_users(self.who, None, button, people)
        return await self.emulator.wait_for_message(self.who, since=mark)


@pytest.fixture
def laoli(emulator):
    neighbour = emulator.add_user("老李", None, "zh-hans", user_id=LAOLI)
    emulator.group.member_ids.append(neighbour.id)
    return neighbour


async def menu(emulator, who: str):
    await emulator.send_text(who, "/start")
    return await emulator.wait_for_message(who)


@pytest.mark.both_back_ends
async def test_a_neighbour_without_a_username_is_paid_by_the_contact_picker(
    emulator, wallet, laoli, caplog
):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    asked = await taps.tap(welcome, "Send")
    assert "Who to?" in asked.text
    assert any(
        "request_users" in b
        for row in emulator.chat("alice").reply_keyboard["keyboard"]
        for b in row
    )
    step = await taps.pick([LAOLI])
    assert "To: 老李" in step.text
    assert "has not opened the wallet yet: the money waits in their wallet" in step.text
    memo = await taps.tap(step, "¥20")
    assert "Add a note?" in memo.text
    card = await taps.tap(step, "Skip")
    assert card.text.startswith("Send ¥20.00 to 老李?")
    assert "money waits in their wallet" in card.text
    await taps.tap(step, "Confirm")
    done = await enter_pin(emulator, "alice", step)
    assert done.text.startswith("✅ Sent ¥20.00 to 老李")
    assert await available(wallet, ALICE) == 80_00 and await available(wallet, LAOLI) == 20_00
    print(f"\npay a neighbour without a username: {taps.count} taps + the PIN")
    assert taps.count <= 6

    # the next time, the neighbour is one of the people paid lately, on the keyboard
    again = await taps.tap(welcome, "Send")
    assert "Who to?" in again.text
    keyboard = emulator.chat("alice").reply_keyboard["keyboard"]
    labels = [b if isinstance(b, str) else b["text"] for row in keyboard for b in row]
    assert "👤 老李" in labels
    mark = emulator.mark()
    await emulator.send_text("alice", "👤 老李")
    step = await emulator.wait_for_message("alice", since=mark)
    assert "To: 老李" in step.text and "¥20" in str(step.reply_markup)
    assert handler_errors(caplog) == []


@pytest.mark.both_back_ends
async def test_a_random_packet_is_made_in_private_and_sent_into_the_group_by_inline_mode(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Red packet")
    await taps.tap(step, "Random")
    await taps.tap(step, "¥20")
    count = await taps.tap(step, "5")
    assert "Amount: ¥20.00" in count.text
    ready = await taps.tap(step, "Skip")
    assert "A random red packet of ¥20.00 in 5 shares" in ready.text
    taps.count += 2  # the switch button, then the group in the chat picker
    answer = await emulator.switch_inline("alice", step, "Send to a group", emulator.group)
    (offer,) = answer.results
    taps.count += 1  # the packet offered in the group
    posted = await emulator.choose_inline_result("alice", answer, offer["id"], emulator.group)
    card = await emulator.wait_for_message("alice", text="red packet")
    assert await available(wallet, ALICE) == 100_00  # nothing moves before the PIN
    await taps.tap(card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert "Your red packet of ¥20.00 is in the chat now" in done.text
    print(f"\nsend a random red packet into the group: {taps.count} taps + the PIN")
    assert taps.count <= 9
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.inline_message_id == posted.inline_message_id, since=0
    )
    got = fen_of((await emulator.wait_for_answer(await emulator.tap("bob", posted, "Grab"))).text)
    assert await available(wallet, BOB) == got and await escrow(wallet) == 20_00 - got
    assert handler_errors(caplog) == []


def requests_saved(settings) -> int:
    return rows(settings.database_url, "SELECT count(*) FROM payment_requests")[0][0]


async def test_money_is_requested_by_qr_and_history_and_statement_are_a_tap_away(
    emulator, wallet, settings, caplog
):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Request")
    await taps.tap(step, "¥20")
    mark = emulator.mark()
    await taps.tap(step, "Skip")
    qr = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo, since=mark)
    made = await emulator.wait_for_edit(step, since=mark)
    assert "Your request for ¥20.00 is ready" in made.text
    assert "?start=pay_" in qr.text and requests_saved(settings) == 1
    print(f"\nrequest money by QR: {taps.count} taps")
    assert taps.count <= 3

    taps = Taps(emulator, "alice")
    page = await taps.tap(welcome, "History")
    assert "¥100.00" in page.text
    mark = emulator.mark()
    await taps.tap(welcome, "Statement")
    sent = await emulator.wait_for(lambda e: e.kind == "message" and e.message.document, since=mark)
    assert sent.message.document["file_name"].startswith("statement-")
    print(f"check history and download a statement: {taps.count} taps")
    assert taps.count <= 2
    assert handler_errors(caplog) == []


async def test_a_request_with_a_typed_memo_is_told_without_pointing_at_the_wrong_message(
    emulator, wallet
):
    welcome = await menu(emulator, "xiaoming")
    await Taps(emulator, "xiaoming").tap(welcome, "收款码")
    await emulator.send_text("xiaoming", "12.5")
    await emulator.wait_for_message("xiaoming")
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "午饭")  # the memo typed: the QR code comes first
    qr = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo, since=mark)
    made = await emulator.wait_for_message("xiaoming", text="收款码已生成", since=mark)
    assert made.seq > qr.seq
    assert made.text == "📥 ¥12.50 的收款码已生成：出示收款二维码，或转发给付款人。"  # not "下方"


async def test_a_digit_the_number_pad_cannot_take_is_said_not_dropped(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    taps = Taps(emulator, "alice")
    await taps.tap(await menu(emulator, "alice"), "Send")
    mark = emulator.mark()
    await emulator.send_text("alice", "@bob")
    step = await emulator.wait_for_message("alice", since=mark)
    for key in "00":  # a leading 0 twice: it is one 0, with no words about it
        mark = emulator.mark()
        answer = await emulator.wait_for_answer(await emulator.tap("alice", step, key), since=mark)
        assert not answer.text
    for key in "1.25":
        step = await taps.tap(step, key)
    assert "Amount: ¥1.25" in step.text, step.text
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("alice", step, "0"), since=mark)
    assert answer.text == "An amount has at most two decimals and 8 digits before the point."
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("alice", step, "⌫"), since=mark)
    assert not answer.text  # a key it takes: no words
    edited = await emulator.wait_for_edit(step, since=mark)
    assert "Amount: ¥1.2" in edited.text


async def test_every_step_refuses_bad_input_kindly_and_moves_nothing(emulator, wallet, caplog):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    await taps.tap(welcome, "Send")
    for typed, words in (
        ("@nobody_here", "don't know that person"),
        ("@alice", "cannot send money to yourself"),
    ):
        mark = emulator.mark()
        await emulator.send_text("alice", typed)
        assert words in (await emulator.wait_for_message("alice", since=mark)).text
    mark = emulator.mark()
    await emulator.send_text("alice", "@bob")
    step = await emulator.wait_for_message("alice", since=mark)
    assert "To: Bob" in step.text and "waits in their wallet" in step.text
    refused = await taps.tap(step, "OK")  # nothing on the pad yet
    assert "write an amount" in refused.text
    mark = emulator.mark()
    again = await emulator.tap("alice", step, "OK")  # the same refusal: nothing changes
    await emulator.wait_for_answer(again, since=mark)
    await taps.tap(step, "0")
    refused = await taps.tap(step, "OK")
    assert "more than ¥0.00" in refused.text
    for key in "999":
        await taps.tap(step, key)
    refused = await taps.tap(step, "OK")
    assert "Not enough money" in refused.text and "Amount: —" in refused.text
    mark = emulator.mark()
    await emulator.send_text("alice", "12.345")
    assert "at most two decimals" in (await emulator.wait_for_message("alice", since=mark)).text
    mark = emulator.mark()
    await emulator.send_text("alice", "5")
    memo = await emulator.wait_for_message("alice", since=mark)
    mark = emulator.mark()
    await emulator.send_text("alice", "x" * 101)
    again = await emulator.wait_for_message("alice", since=mark)
    assert "memo is too long" in again.text and "Add a note?" in again.text
    assert await available(wallet, ALICE) == 50_00 and await available(wallet, BOB) == 0
    stale = await taps.tap(memo, "Cancel")  # the step moved to the newer message
    assert "replaced by a newer one" in stale.text
    cancelled = await taps.tap(again, "Cancel")
    assert "Cancelled. Nothing was sent." in cancelled.text
    assert await wallet.guides.current(ALICE) is None

    # a frozen wallet and a wallet without a PIN cannot begin
    alice = await wallet.users.get(ALICE)
    await wallet.ledger.freeze(alice.account_id)
    refused = await taps.tap(welcome, "Send")
    assert "frozen" in refused.text
    await wallet.ledger.unfreeze(alice.account_id)
    await fund(wallet, BOB, 10_00, pin=False)
    bob_menu = await menu(emulator, "bob")
    refused = await Taps(emulator, "bob").tap(bob_menu, "Red packet")
    assert "no payment PIN yet" in refused.text and refused.buttons()
    keypad = await Taps(emulator, "bob").tap(refused, "Set my PIN")
    assert "PIN" in keypad.text
    assert await available(wallet, ALICE) == 50_00 and await available(wallet, BOB) == 10_00
    assert handler_errors(caplog) == []


async def test_back_goes_one_step_back_and_an_old_step_says_it_was_replaced(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 50_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    first = await taps.tap(welcome, "Red packet")
    await taps.tap(first, "Random")
    await taps.tap(first, "¥5")
    back = await taps.tap(first, "Back")
    assert "How much in the packet" in back.text
    assert "Amount: ¥5" in back.text  # the amount chosen stays on the pad, to keep or change
    again = await taps.tap(first, "OK")  # kept as it was: on to the count
    assert "Amount: ¥5.00" in again.text and again.buttons()[0]["text"] == "2", again.text
    await taps.tap(first, "Back")
    second = await taps.tap(welcome, "Red packet")  # a new flow replaces the first
    mark = emulator.mark()
    query_id = await emulator.tap("alice", first, "¥5")
    answer = await emulator.wait_for_answer(query_id, since=mark)
    assert "replaced by a newer one" in answer.text
    assert "replaced" in (await emulator.wait_for_edit(first, since=mark)).text
    menu_again = await taps.tap(second, "Back")
    assert "Cancelled" in menu_again.text and "Send" in str(menu_again.reply_markup)
    assert handler_errors(caplog) == []


async def test_a_flow_left_half_way_moves_nothing_and_expires_quietly(
    emulator, wallet, application, settings, caplog
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    await taps.tap(welcome, "Send")
    mark = emulator.mark()
    await emulator.send_text("alice", "@bob")
    step = await emulator.wait_for_message("alice", since=mark)
    for _ in range(500):  # the step is shown, then kept with its message
        if (await wallet.guides.current(ALICE)).message_id == step.message_id:
            break
        await asyncio.sleep(0.01)
    wallet.guides.ttl_s = 0  # the next touch leaves it due at once
    await taps.tap(step, "1")
    sweep = SimpleNamespace(application=application, bot=application.bot)
    mark = emulator.mark()
    await guided.sweep(sweep)
    expired = await emulator.wait_for_edit(step, since=mark)
    assert "expired" in expired.text and not expired.buttons()
    assert await wallet.guides.current(ALICE) is None
    mark = emulator.mark()
    await emulator.send_text("alice", "5")  # the step's question went with it
    assert "only understand commands" in (await emulator.wait_for_message("alice", since=mark)).text
    assert await available(wallet, ALICE) == 50_00 and await available(wallet, BOB) == 0

    # a step touched after its deadline, before any sweep, says so too
    step = await taps.tap(welcome, "Request")
    mark = emulator.mark()
    query_id = await emulator.tap("alice", step, "¥20")
    assert "expired" in (await emulator.wait_for_answer(query_id, since=mark)).text
    assert "expired" in (await emulator.wait_for_edit(step, since=mark)).text
    assert requests_saved(settings) == 0
    assert handler_errors(caplog) == []


async def test_hb_in_the_group_offers_to_make_the_packet_in_private(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/hb", emulator.group)
    usage = await emulator.wait_for_message(emulator.group)
    (button,) = usage.buttons()
    assert button["url"].endswith("?start=hb")
    await emulator.send_text("alice", "/start hb")  # what the button's link does
    step = await emulator.wait_for_message("alice")
    assert "How much in the packet" in step.text
    taps = Taps(emulator, "alice")
    await taps.tap(step, "¥20")
    await taps.tap(step, "3")
    ready = await taps.tap(step, "Skip")
    assert "of ¥20.00 in 3 shares" in ready.text
    assert await available(wallet, ALICE) == 100_00
    assert handler_errors(caplog) == []


@pytest.mark.both_back_ends
async def test_a_withdrawal_by_taps_ends_on_its_card(emulator, wallet, caplog):
    await withdraw_fund(wallet, ALICE, 300_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Withdraw")
    card = await taps.tap(step, "¥100")
    assert "¥100.00" in card.text and "Confirm" in str(card.reply_markup)
    assert await available(wallet, ALICE) == 300_00
    assert handler_errors(caplog) == []


async def test_a_withdrawal_by_taps_says_first_what_is_missing_before_any_amount(emulator, wallet):
    await fund(wallet, XIAOMING, 50_00)  # a PIN and money, but no real name nor card
    welcome = await menu(emulator, "xiaoming")
    mark = emulator.mark()
    await Taps(emulator, "xiaoming").tap(welcome, "提现")
    told = await emulator.wait_for_message("xiaoming", since=mark)
    assert told.text == "请先用 /verify 完成实名认证。"  # no keypad: the step that is missing
    assert [b["text"] for b in told.buttons()] == ["🪪 实名认证"]
    mark = emulator.mark()
    await Taps(emulator, "xiaoming").tap(told, "实名认证")
    how = await emulator.wait_for_message("xiaoming", since=mark)
    assert "/verify" in how.text and "身份证" in how.text

    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")
    mark = emulator.mark()
    await Taps(emulator, "xiaoming").tap(welcome, "提现")
    told = await emulator.wait_for_message("xiaoming", since=mark)
    assert told.text == "请先绑定银行卡：/bindcard <卡号>。"
    assert [b["text"] for b in told.buttons()] == ["💳 银行卡"]
    assert await available(wallet, XIAOMING) == 50_00


async def test_the_command_lists_are_short_and_localized_and_the_bot_describes_itself(
    sandbox, application, wallet
):
    async with application:
        await publish_commands(application, wallet.settings)
        await publish_descriptions(application)
    names, texts = {}, {}  # (scope type, language) -> the commands, their descriptions
    for key, value in sandbox.emulator.commands.items():
        scope, language = json.loads(key)
        names[scope["type"], language] = [c["command"] for c in value]
        texts[scope["type"], language] = [c["description"] for c in value]
    for scope in ("all_private_chats", "all_group_chats"):
        for language in ("", "zh"):
            assert 1 <= len(names[scope, language]) <= 8
        assert texts[scope, ""] != texts[scope, "zh"]
    assert {"menu", "cancel"} <= set(names["all_private_chats", "zh"])
    descriptions = sandbox.emulator.descriptions
    for which in ("description", "short_description"):
        assert descriptions[which, ""] and descriptions[which, "zh"]
        assert descriptions[which, ""] != descriptions[which, "zh"]


@pytest.mark.both_back_ends
async def test_a_bill_is_split_with_people_picked_at_once(
    emulator, wallet, laoli, settings, caplog
):
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    asked = await taps.tap(welcome, "Split a bill")
    assert "Split with whom?" in asked.text
    step = await taps.pick([BOB, LAOLI], button="Choose the people")
    assert "With: Bob, 老李" in step.text
    await taps.tap(step, "¥100")
    mark = emulator.mark()
    done = await taps.tap(step, "Skip")
    assert done.text.startswith("🧾 Split ¥100.00 among 3 people. Your own share: ¥33.34")
    assert "Bob: ¥33.33" in done.text and "老李: ¥33.33" in done.text
    told = await emulator.wait_for_message("bob", since=mark)
    assert "split a bill of ¥100.00 among 3 people. Your share: ¥33.33" in told.text
    assert requests_saved(settings) == 2
    print(f"\nsplit a bill with two neighbours: {taps.count} taps")
    assert handler_errors(caplog) == []


@pytest.mark.parametrize(
    ("who", "welcome"), [("alice", "Welcome back, Alice."), ("xiaoming", "欢迎回来")]
)
async def test_menu_shows_the_main_menu_as_start_does(emulator, wallet, caplog, who, welcome):
    started = await menu(emulator, who)
    mark = emulator.mark()
    await emulator.send_text(who, "/menu")
    shown = await emulator.wait_for_message(who, since=mark)
    assert shown.text.startswith(welcome)
    assert shown.reply_markup == started.reply_markup and len(shown.buttons()) > 10
    assert handler_errors(caplog) == []


CANCELLED = {
    "alice": "✖ Cancelled what was in progress. Nothing was sent and nothing was changed.",
    "xiaoming": "✖ 已取消进行中的操作，没有付款，也没有任何改动。",
}
KEYPAD_CANCELLED = {
    "alice": "✖ Cancelled with /cancel: nothing was sent and nothing was changed.",
    "xiaoming": "✖ 已用 /cancel 取消：没有付款，也没有任何改动。",
}
NOTHING_TO_CANCEL = {
    "alice": "Nothing is in progress, so there is nothing to cancel. /menu shows what you can do.",
    "xiaoming": "当前没有进行中的操作，无需取消。发送 /menu 查看能做什么。",
}


@pytest.mark.parametrize(
    ("who", "telegram_id", "send_button", "request_button", "step_cancelled"),
    [
        ("alice", ALICE, "Send", "Request", "✖ Cancelled. Nothing was sent."),
        ("xiaoming", XIAOMING, "转账", "收款码", "✖ 已取消，没有付出任何钱。"),
    ],
)
async def test_cancel_leaves_the_guided_flow_in_progress_and_says_so(
    emulator,
    wallet,
    settings,
    caplog,
    who,
    telegram_id,
    send_button,
    request_button,
    step_cancelled,
):
    await fund(wallet, telegram_id, 100_00)
    taps = Taps(emulator, who)
    welcome = await menu(emulator, who)
    await taps.tap(welcome, send_button)  # the recipient's step: the contact picker's keyboard
    assert emulator.chat(who).reply_keyboard
    mark = emulator.mark()
    await emulator.send_text(who, "/cancel")
    told = await emulator.wait_for_message(who, since=mark)
    assert told.text == CANCELLED[who]
    assert await wallet.guides.current(telegram_id) is None
    assert not emulator.chat(who).reply_keyboard  # the picker went with the flow

    step = await taps.tap(welcome, request_button)  # the amount's number pad
    mark = emulator.mark()
    await emulator.send_text(who, "/cancel")
    told = await emulator.wait_for_message(who, since=mark)
    assert told.text == CANCELLED[who]
    assert (await emulator.wait_for_edit(step, since=mark)).text == step_cancelled
    mark = emulator.mark()
    await emulator.send_text(who, "12")  # no step asks for it any more
    assert "/help" in (await emulator.wait_for_message(who, since=mark)).text
    assert requests_saved(settings) == 0

    mark = emulator.mark()
    await emulator.send_text(who, "/cancel")
    assert (await emulator.wait_for_message(who, since=mark)).text == NOTHING_TO_CANCEL[who]
    assert handler_errors(caplog) == []


@pytest.mark.parametrize("who", ["alice", "xiaoming"])
async def test_cancel_leaves_a_pin_keypad_and_its_keys_then_do_nothing(
    emulator, wallet, caplog, who
):
    payer = {"alice": ALICE, "xiaoming": XIAOMING}[who]
    await fund(wallet, payer, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text(who, "/send @bob 5")
    card = await emulator.wait_for_message(who)
    keypad = await Taps(emulator, who).tap(card, card.buttons()[0]["text"])  # the keypad
    action = keypad.buttons()[0]["callback_data"].split(":")[1]
    mark = emulator.mark()
    await emulator.send_text(who, "/cancel")
    assert (await emulator.wait_for_message(who, since=mark)).text == CANCELLED[who]
    closed = await emulator.wait_for_edit(card, since=mark)  # the keypad says so, keyless
    assert closed.text == card.text + "\n\n" + KEYPAD_CANCELLED[who]
    assert closed.buttons() == []
    for digit in "739201":  # the right PIN, too late (from a copy of the old keys)
        answer = await forged_tap(emulator, who, card, f"k:{action}:{digit}")
    assert answer.data.get("show_alert")
    assert await available(wallet, payer) == 100_00 and await available(wallet, BOB) == 0
    assert handler_errors(caplog) == []


async def test_cancel_closes_a_set_pin_keypad_sent_as_a_message_of_its_own(
    emulator, wallet, caplog
):
    await emulator.send_text("bob", "/setpin")
    keypad = await emulator.wait_for_message("bob", text="○")
    assert keypad.buttons()
    mark = emulator.mark()
    await emulator.send_text("bob", "/cancel")
    assert (await emulator.wait_for_message("bob", since=mark)).text == CANCELLED["alice"]
    closed = await emulator.wait_for_edit(keypad, since=mark)
    assert (closed.text, closed.buttons()) == (KEYPAD_CANCELLED["alice"], [])
    assert not await wallet.pins.has_pin(BOB)
    assert handler_errors(caplog) == []


LEFT_FOR = {  # who -> their id, the red packet's button, its first step, History, a greeting
    "alice": (ALICE, "Red packet", "Which kind of red packet?", "History", "hello"),
    "xiaoming": (XIAOMING, "红包", "发哪种红包", "账单", "你好"),
}


@pytest.mark.parametrize("who", ["alice", "xiaoming"])
@pytest.mark.parametrize("went_to", ["/start", "History"])
async def test_going_back_to_the_menu_leaves_the_flow_in_progress(
    emulator, wallet, caplog, who, went_to
):
    telegram_id, packet, asked, history, greeting = LEFT_FOR[who]
    await fund(wallet, telegram_id, 100_00)
    welcome = await menu(emulator, who)
    step = await Taps(emulator, who).tap(welcome, packet)
    assert asked in step.text
    mark = emulator.mark()
    await emulator.send_text(who, "/help")  # a command typed meanwhile leaves it be
    await emulator.wait_for_message(who, since=mark)
    assert (await wallet.guides.current(telegram_id)).step == "kind"

    mark = emulator.mark()
    if went_to == "/start":
        await emulator.send_text(who, "/start")
        shown = await emulator.wait_for_message(who, since=mark)
        assert shown.reply_markup == welcome.reply_markup  # the menu, as before the flow
    else:
        await emulator.wait_for_answer(await emulator.tap(who, welcome, history), since=mark)
        shown = await emulator.wait_for_message(who, since=mark)
        assert "¥100.00" in shown.text  # the page of History
    left = await emulator.wait_for_edit(step, since=mark)  # quietly: an edit, no message
    assert asked not in left.text and not left.buttons()
    assert await wallet.guides.current(telegram_id) is None

    mark = emulator.mark()
    await emulator.send_text(who, greeting)
    told = await emulator.wait_for_message(who, since=mark)
    assert "/start" in told.text and not told.buttons()  # no step took it
    await emulator.send_text(who, "/balance")  # anything the bot says after it comes later
    await emulator.wait_for_message(who, since=emulator.mark())
    said = [e.text or "" for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert not [text for text in said if asked in text]
    assert handler_errors(caplog) == []


@pytest.mark.parametrize(
    ("who", "telegram_id", "button", "asked_again", "refused"),
    [
        ("alice", ALICE, "Split a bill", "Split with whom?", "I don't know @nobody yet"),
        ("xiaoming", XIAOMING, "AA 收款", "和谁一起分？", "我还不认识 @nobody，"),
    ],
)
async def test_a_split_by_taps_refuses_a_typed_name_nobody_answers_to(
    emulator, wallet, settings, caplog, who, telegram_id, button, asked_again, refused
):
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")
    taps = Taps(emulator, who)
    await taps.tap(await menu(emulator, who), button)
    mark = emulator.mark()
    await emulator.send_text(who, "@bob @nobody")
    again = await emulator.wait_for_message(who, since=mark)
    assert refused in again.text and asked_again in again.text
    assert (await wallet.guides.current(telegram_id)).step == "people"
    assert "people" not in (await wallet.guides.current(telegram_id)).data
    mark = emulator.mark()
    await emulator.send_text(who, "@bob")  # fixed: the flow goes on to the amount
    amount = await emulator.wait_for_message(who, since=mark)
    assert (await wallet.guides.current(telegram_id)).step == "amount"
    assert "Bob" in amount.text
    assert requests_saved(settings) == 0
    assert handler_errors(caplog) == []


@pytest.mark.parametrize(
    ("typed", "words"),
    [("300", "at most ¥200.00"), ("0", "more than ¥0.00"), ("1e5", "plain digits")],
)
async def test_a_packet_too_large_or_zero_is_refused_at_its_amount(
    emulator, wallet, typed, words, caplog
):
    await fund(wallet, ALICE, 500_00)
    taps = Taps(emulator, "alice")
    step = await taps.tap(await menu(emulator, "alice"), "Red packet")
    await taps.tap(step, "Random")
    mark = emulator.mark()
    await emulator.send_text("alice", typed)
    refused = await emulator.wait_for_message("alice", since=mark)
    assert words in refused.text and "How much in the packet" in refused.text
    assert step.message_id != refused.message_id
    assert await available(wallet, ALICE) == 500_00
    assert handler_errors(caplog) == []


@pytest.mark.parametrize(("typed", "words"), [("0", "1 to 100"), ("101", "1 to 100")])
async def test_a_packet_count_out_of_range_is_refused_and_asked_again(
    emulator, wallet, typed, words, caplog
):
    await fund(wallet, ALICE, 100_00)
    taps = Taps(emulator, "alice")
    step = await taps.tap(await menu(emulator, "alice"), "Red packet")
    await taps.tap(step, "Random")
    await taps.tap(step, "¥5")
    mark = emulator.mark()
    await emulator.send_text("alice", typed)
    refused = await emulator.wait_for_message("alice", since=mark)
    assert words in refused.text and "How many shares?" in refused.text
    assert await available(wallet, ALICE) == 100_00
    assert handler_errors(caplog) == []


async def test_a_typed_amount_becomes_a_favourite_quick_pick(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    for time in range(2):  # used twice: more often than any other amount
        await taps.tap(welcome, "Send")
        step = await taps.pick([BOB])
        assert ("¥12.34" in str(step.reply_markup)) is bool(time)
        mark = emulator.mark()
        await emulator.send_text("alice", "12.34")
        memo = await emulator.wait_for_message("alice", since=mark)
        card = await taps.tap(memo, "Skip")
        assert card.text.startswith("Send ¥12.34 to Bob?")
        await taps.tap(memo, "Cancel")
    await taps.tap(welcome, "Send")
    step = await taps.pick([BOB])
    quick = [b["text"] for b in step.buttons()][:4]
    assert "¥12.34" in quick and quick == sorted(quick, key=lambda t: float(t[1:]))
    assert await available(wallet, ALICE) == 100_00  # cards shown, none confirmed
    assert handler_errors(caplog) == []


async def test_the_flows_speak_chinese_to_a_chinese_resident(emulator, wallet, laoli, caplog):
    await fund(wallet, XIAOMING, 100_00)
    welcome = await menu(emulator, "xiaoming")
    taps = Taps(emulator, "xiaoming")
    asked = await taps.tap(welcome, "转账")
    assert "转给谁" in asked.text
    step = await taps.pick([LAOLI], button="选择联系人")
    assert "收款人：老李" in step.text and "钱会存在 TA 的钱包里" in step.text
    memo = await taps.tap(step, "¥10")
    assert "添加备注" in memo.text
    cancelled = await taps.tap(step, "取消")
    assert "已取消，没有付出任何钱。" in cancelled.text
    assert await available(wallet, XIAOMING) == 100_00
    assert handler_errors(caplog) == []


async def test_quick_picks_are_only_amounts_the_balance_covers(emulator, wallet, caplog):
    await withdraw_fund(wallet, ALICE, 150_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Withdraw")
    labels = [b["text"] for b in step.buttons()]
    assert "¥100" in labels and not {"¥200", "¥500", "¥1000"} & set(labels)
    await taps.tap(step, "Cancel")

    await wallet.users.seen(PROFILES[BOB])
    await taps.tap(welcome, "Send")
    step = await taps.pick([BOB])
    quick = [b["text"] for b in step.buttons()][:4]
    assert quick[:4] == ["¥10", "¥20", "¥50", "¥100"]  # all within ¥150
    assert handler_errors(caplog) == []


async def test_a_stale_step_button_after_the_payment_leaves_the_receipt_as_it_is(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    await taps.tap(welcome, "Send")
    step = await taps.pick([BOB])
    memo = await taps.tap(step, "¥10")
    old_keys = [b["callback_data"] for b in memo.buttons()]  # Skip, Back, Cancel
    card = await taps.tap(memo, "Skip")
    await taps.tap(card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥10.00 to Bob. Your balance: ¥90.00"
    for data in old_keys:  # a second device's old view, or a late double tap
        mark = emulator.mark()
        answer = await emulator.wait_for_answer(
            await emulator.tap("alice", again(memo, data), data=data), since=mark
        )
        assert "This step is over" in answer.text and "Nothing was sent" not in answer.text
    await asyncio.sleep(0.2)
    kept = emulator.chat("alice").messages[card.message_id]
    assert kept.text == "✅ Sent ¥10.00 to Bob. Your balance: ¥90.00"
    assert await available(wallet, ALICE) == 90_00
    assert handler_errors(caplog) == []


async def test_leaving_the_recipient_step_takes_its_keyboard_away(emulator, wallet, caplog):
    """The recipient step's keyboard is a reply keyboard, which no edit reaches: leaving
    the flow for another screen says so in a message that takes the keyboard away, and
    a contact picked from it afterwards would start no flow (it is gone)."""
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    asked = await taps.tap(welcome, "Send")
    assert "Who to?" in asked.text and emulator.chat("alice").reply_keyboard
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", welcome, "History"), since=mark)
    await emulator.wait_for_message("alice", since=mark, text="Cancelled")
    assert not emulator.chat("alice").reply_keyboard  # gone from the person's screen
    assert await wallet.guides.current(ALICE) is None

    await emulator.wait_for_message("alice", since=mark, text="Top-up")  # the History page
    await taps.tap(welcome, "Send")  # again, then another flow replaces it: the same
    assert emulator.chat("alice").reply_keyboard
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", welcome, "Request"), since=mark)
    await emulator.wait_for_message("alice", since=mark, text="Cancelled")
    assert not emulator.chat("alice").reply_keyboard
    assert (await wallet.guides.current(ALICE)).kind == "request"
    assert handler_errors(caplog) == []
