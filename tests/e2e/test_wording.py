"""What residents read, in Chinese and in English, through the real application and the
emulator: counts in the singular, a tip called a tip, a detail titled by what it is, a
wrong number of shares named as such, and the group's buttons readable by everyone."""

from __future__ import annotations

import pytest

from bot.domain.model import SystemAccount
from bot.wallet.statements import Month
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
        lambda e: e.kind == "edit" and e.message_id == posted.message_id and not e.buttons(),
        since=mark,
    )  # the packet is over: its buttons go
    assert final.text.endswith("\n" + finished)
    await emulator.send_text(sender, "/start " + link.split("start=", 1)[1])
    shown = await emulator.wait_for_message(sender, text="🧧", since=mark)
    assert details in shown.text
    assert handler_errors(caplog) == []


NOT_A_COUNT = {
    "en": '"abc" is not a number of shares: write a number from 1 to 100.',
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
        "✅ Tipped Bob ¥5.00.",
        "💰 Alice tipped you ¥5.00. Your balance: ¥5.00",
        "🎉 Alice tipped Bob ¥5.00!",
    ),
    "zh": (
        "打赏 小明 ¥5.00？",
        "✅ 已打赏 小明 ¥5.00。",
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
