"""What residents read, in Chinese and in English, through the real application and the
emulator: counts in the singular, a tip called a tip, a detail titled by what it is, a
number that may be any transaction called a transaction, a wrong number of shares named as
such, the amount pad blank until a digit is typed, quick picks that read alike everywhere,
and the group's buttons readable by everyone."""

from __future__ import annotations

import pytest

from bot.domain.model import SystemAccount
from bot.wallet.statements import Month
from tests.e2e.test_guided import Taps
from tests.e2e.test_redpacket import edits
from tests.e2e.test_resident_walk import handler_errors
from tests.e2e.test_send import (
    ALICE,
    PROFILES,
    WANGFANG,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

# language: (the payer, their id, the one paid, the Confirm button)
PEOPLE = {
    "en": ("alice", ALICE, "bob", "Confirm"),
    "zh": ("wangfang", WANGFANG, "xiaoming", "确认"),
}
GROUP_BUTTONS = ["🧧 抢红包 Grab", "打开钱包 Open my wallet"]


@pytest.fixture(params=sorted(PEOPLE))
def language(request):
    return request.param


async def confirm(emulator, who: str, label: str, card):
    """Confirm ``card`` and enter the PIN: the card as it reads at the end."""
    await tap_and_wait(emulator, who, card, label)
    return await enter_pin(emulator, who, card)


ONE_SHARE = {
    "en": (
        "🧧 Send a random red packet of ¥5.00 in 1 share?",
        "The red packet was grabbed.",
        "¥5.00 in 1 share, 1 grabbed (¥5.00).",
    ),
    "zh": (
        "🧧 发一个 ¥5.00 的拼手气红包，共 1 个？",
        "红包已被领取。",
        "¥5.00，共 1 个，已领取 1 个（¥5.00）。",
    ),
}


async def test_a_packet_of_one_share_says_share_and_its_buttons_read_in_both_languages(
    emulator, wallet, language, caplog
):
    sender, sender_id, grabber, label = PEOPLE[language]
    asked, finished, details = ONE_SHARE[language]
    await fund(wallet, sender_id, 50_00)
    await start_private(emulator, sender)
    await emulator.send_text(sender, "/redpacket 5 1", emulator.group)
    card = await emulator.wait_for_message(sender, text="¥5.00")
    assert card.text == asked
    mark = emulator.mark()
    await confirm(emulator, sender, label, card)
    posted = await emulator.wait_for_message(emulator.group, text="🧧", since=mark)
    assert [b["text"] for b in posted.buttons()] == GROUP_BUTTONS  # whoever sent it

    link = next(b["url"] for b in posted.buttons() if b.get("url"))
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(grabber, posted, "Grab"))
    final = await emulator.wait_for(
        lambda e: edits(e, posted) and not e.buttons(),
        since=mark,
    )  # the packet is over: its buttons go
    assert final.text.endswith("\n" + finished)
    await emulator.send_text(sender, "/start " + link.split("start=", 1)[1])
    shown = await emulator.wait_for_message(sender, text="🧧", since=mark)
    assert details in shown.text
    assert handler_errors(caplog) == []


NOT_A_COUNT = {
    "en": "“abc” is not a number of shares: write a number from 1 to 100.",
    "zh": "「abc」不是红包个数：请写 1 到 100 之间的数字。",
}


async def test_a_number_of_shares_that_is_no_number_is_named(emulator, wallet, language, caplog):
    sender, sender_id, _, _ = PEOPLE[language]
    await fund(wallet, sender_id, 50_00)
    await start_private(emulator, sender)
    await emulator.send_text(sender, "/redpacket 10 abc", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert reply.text.startswith(NOT_A_COUNT[language])
    assert await available(wallet, sender_id) == 50_00
    assert handler_errors(caplog) == []


TIP = {
    "en": (
        "Tip Bob ¥5.00?",
        "✅ Tipped Bob ¥5.00. Your balance: ¥45.00",
        "💰 Alice tipped you ¥5.00. Your balance: ¥5.00",
        "🎉 Alice tipped Bob ¥5.00!",
    ),
    "zh": (
        "打赏 小明 ¥5.00？",
        "✅ 已打赏 小明 ¥5.00。你的余额：¥45.00",
        "💰 王芳 打赏了你 ¥5.00。你的余额：¥5.00",
        "🎉 王芳 打赏了 小明 ¥5.00！",
    ),
}


async def test_a_tip_is_called_a_tip_on_its_card_and_after(emulator, wallet, language, caplog):
    payer, payer_id, payee, label = PEOPLE[language]
    asked, done_text, told_text, announced = TIP[language]
    await fund(wallet, payer_id, 50_00)
    await start_private(emulator, payer)
    await start_private(emulator, payee)
    said = await emulator.send_text(payee, "I fixed the gate 🔧", emulator.group)
    mark = emulator.mark()
    await emulator.send_text(payer, "/send 5", emulator.group, reply_to=said)
    card = await emulator.wait_for_message(payer, since=mark, text="¥5.00")
    assert card.text == asked
    done = await confirm(emulator, payer, label, card)
    assert done.text == done_text
    told = await emulator.wait_for_message(payee, since=mark, text="¥5.00")
    assert told.text == told_text
    group = await emulator.wait_for_message(emulator.group, since=mark, text="🎉")
    assert group.text == announced
    assert handler_errors(caplog) == []


async def test_a_statement_of_one_transaction_says_transaction(emulator, wallet, language):
    who, who_id, _, _ = PEOPLE[language]
    await fund(wallet, who_id, 20_00)  # one top-up this month
    await emulator.send_text(who, "/statement")
    document = await emulator.wait_for(lambda e: e.kind == "message" and e.message.document)
    month = Month.containing(wallet.store.now_ms()).label
    first = {"en": f"📄 Statement {month}: 1 transaction", "zh": f"📄 {month} 账单：共 1 笔"}
    assert document.text.splitlines()[0] == first[language]


TITLES = {
    "en": ("🧾 Top-up #{}", "🧾 Transaction #{}", "Kind: Red packet"),
    "zh": ("🧾 充值 #{}", "🧾 交易 #{}", "类型：发红包"),
}


async def test_a_detail_is_titled_by_its_kind_or_as_a_transaction(emulator, wallet, language):
    who, who_id, _, _ = PEOPLE[language]
    topup_title, other_title, kind_line = TITLES[language]
    mine = (await wallet.users.seen(PROFILES[who_id])).account_id
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    topup = await wallet.ledger.transfer("topup-1", external, mine, 20_00, "topup")
    escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    packet = await wallet.ledger.transfer("rp-1", mine, escrow, 3_00, "red_packet")

    await emulator.send_text(who, f"/history {topup.id}")
    shown = await emulator.wait_for_message(who, text="🧾")
    assert shown.text.splitlines()[0] == topup_title.format(topup.id)
    mark = emulator.mark()
    await emulator.send_text(who, f"/history {packet.id}")
    shown = await emulator.wait_for_message(who, text="🧾", since=mark)
    lines = shown.text.splitlines()
    assert lines[0] == other_title.format(packet.id)
    assert kind_line in lines


# language: no such number, not a number, the dispute opened, opened twice
ANY_TRANSACTION = {
    "en": (
        "There is no transaction #{} in your history. Send /history to see your list.",
        "“abc” is not a transaction number. Send /history for your list, or /history 42 for "
        "transaction #42.",
        "🎫 #1 Your dispute of transaction #{} is open.",
        "Transaction #{} is disputed already, in ticket #1.",
    ),
    "zh": (
        "你的收支明细中没有交易 #{}。发送 /history 查看列表。",
        "「abc」不是交易编号。发送 /history 查看列表，或 /history 42 查看交易 #42。",
        "🎫 #1 你对交易 #{} 的争议已提交",
        "交易 #{} 已在工单 #1 中提出争议。",
    ),
}


async def test_a_number_that_may_be_any_transaction_is_called_a_transaction(
    emulator, wallet, language, caplog
):
    who, who_id, _, _ = PEOPLE[language]
    missing, not_a_number, opened, twice = ANY_TRANSACTION[language]
    mine = (await wallet.users.seen(PROFILES[who_id])).account_id
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    topup = await wallet.ledger.transfer("topup-1", external, mine, 20_00, "topup")
    await start_private(emulator, "alice")  # the admin, told of disputes in English
    await start_private(emulator, who)

    async def answer(command: str, part: str):
        mark = emulator.mark()
        await emulator.send_text(who, command)
        return (await emulator.wait_for_message(who, text=part, since=mark)).text

    unknown = topup.id + 1000
    assert await answer(f"/history {unknown}", f"#{unknown}") == missing.format(unknown)
    assert await answer("/history abc", "abc") == not_a_number
    mark = emulator.mark()
    dispute = await answer(f"/dispute {topup.id} it never arrived", opened.format(topup.id))
    assert dispute.startswith(opened.format(topup.id))  # a top-up, disputed as a transaction
    admins = await emulator.wait_for_message("alice", text="🎫 #1 Dispute", since=mark)
    assert admins.text.startswith(f"🎫 #1 Dispute of transaction #{topup.id} from ")
    again = await answer(f"/dispute {topup.id}", f"#{topup.id}")
    assert again.startswith(twice.format(topup.id))
    assert handler_errors(caplog) == []


# language: the Request button, the pad's amount line before a key / after "1", "2", "."
AMOUNT_PAD = {
    "en": ("Request", "Amount: —", "Amount: ¥12."),
    "zh": ("收款码", "金额：—", "金额：¥12."),
}
QUICK_PICKS = ["¥10", "¥20", "¥50", "¥100"]  # as /topup's presets (tests/e2e/test_topup.py)


async def test_the_amount_pad_is_blank_until_a_key_and_its_quick_picks_read_as_top_ups_do(
    emulator, wallet, language, caplog
):
    who, _, _, _ = PEOPLE[language]
    button, blank, typed = AMOUNT_PAD[language]
    await emulator.send_text(who, "/start")
    welcome = await emulator.wait_for_message(who)
    taps = Taps(emulator, who)
    step = await taps.tap(welcome, button)
    lines = step.text.splitlines()
    assert blank in lines and "¥0" not in step.text  # nothing typed is not an amount of ¥0
    assert [b["text"] for b in step.buttons()[:4]] == QUICK_PICKS
    for key in ("1", "2", "."):
        shown = await taps.tap(step, key)
    assert typed in shown.text.splitlines()  # shown as typed while typing
    shown = await taps.tap(step, "⌫")
    shown = await taps.tap(step, "⌫")
    shown = await taps.tap(step, "⌫")
    assert blank in shown.text.splitlines()  # everything deleted: blank again
    assert handler_errors(caplog) == []
