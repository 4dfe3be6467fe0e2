"""/history and /statement through the real application and the emulator."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re

import pytest
from PIL import Image

from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.users import Profile
from bot.sandbox.errors import bad_request
from bot.sandbox.params import METHODS
from bot.wallet.statements import Month

XIAOMING, ALICE, WANGFANG, BOB = 100_001, 100_002, 100_003, 100_004
PROFILES = {
    XIAOMING: Profile(XIAOMING, "xiaoming", "小明", "zh-hans"),
    ALICE: Profile(ALICE, "alice", "Alice", "en"),
    WANGFANG: Profile(WANGFANG, "wangfang", "王芳", "zh-hans"),
    BOB: Profile(BOB, "bob", "Bob", "en"),
}
LINE = re.compile(r"^\d\d-\d\d \d\d:\d\d  (.+) · (.+)  (\S.*)  #(\d+)$")
_keys = itertools.count(1)


async def account(wallet, telegram_id: int) -> int:
    return (await wallet.users.seen(PROFILES[telegram_id])).account_id


async def top_up(wallet, telegram_id: int, fen: int):
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    to = await account(wallet, telegram_id)
    return await wallet.ledger.transfer(f"topup-{next(_keys)}", external, to, fen, "topup")


async def pay(wallet, payer: int, payee: int, fen: int, kind: str = "transfer", memo: str = ""):
    source, target = await account(wallet, payer), await account(wallet, payee)
    return await wallet.ledger.transfer(f"pay-{next(_keys)}", source, target, fen, kind, memo=memo)


def entries(text: str) -> list[tuple[str, str, str, int]]:
    """(kind, counterparty, amount, id) of each line of a history page."""
    return [
        (m[1], m[2], m[3], int(m[4]))
        for m in (LINE.match(line) for line in text.splitlines())
        if m is not None
    ]


async def tap_and_wait(emulator, user, message, label=None, *, data=None):
    mark = emulator.mark()
    query_id = await emulator.tap(user, message, label, data=data)
    answer = await emulator.wait_for_answer(query_id, since=mark)
    return answer


async def ask(emulator, user: str, text: str):
    await emulator.send_text(user, text)
    return await emulator.wait_for_message(user)


async def test_history_shows_the_newest_first_with_signs_and_readable_names(emulator, wallet):
    await top_up(wallet, ALICE, 100_00)
    await pay(wallet, ALICE, BOB, 12_50, memo="lunch")
    await pay(wallet, BOB, ALICE, 3_00, "tip")
    escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    await wallet.ledger.transfer("rp-1", await account(wallet, ALICE), escrow, 20_00, "red_packet")

    page = await ask(emulator, "alice", "/history")

    assert page.text.splitlines()[0] == "🧾 Your transactions (Beijing time)"
    assert [e[:3] for e in entries(page.text)] == [
        ("Red packet", "Red packet pool", "-¥20.00"),
        ("Tip", "Bob", "+¥3.00"),
        ("Transfer", "Bob", "-¥12.50"),
        ("Top-up", "Bank / payment gateway", "+¥100.00"),
    ]
    ids = [e[3] for e in entries(page.text)]
    assert ids == sorted(ids, reverse=True)
    assert page.buttons() == []  # one page: no paging buttons


async def test_red_packet_lines_name_the_packet_pool_not_the_kind_again(emulator, wallet):
    """The red packet's counterparty is the pool the shares wait in, said in the person's
    language, not "Red packet · Red packets" (红包 · 红包)."""
    await top_up(wallet, XIAOMING, 50_00)
    escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    mine, hers = await account(wallet, XIAOMING), await account(wallet, WANGFANG)
    await wallet.ledger.transfer("rp-2", mine, escrow, 10_00, "red_packet", memo="恭喜发财")
    await wallet.ledger.transfer("rp-2-grab", escrow, hers, 6_00, "redpacket_grab")
    await wallet.ledger.transfer("rp-2-refund", escrow, mine, 4_00, "redpacket_refund")

    sender = await ask(emulator, "xiaoming", "/history")
    grabber = await ask(emulator, "wangfang", "/history")

    assert [e[:3] for e in entries(sender.text)][:2] == [
        ("红包退款", "红包资金池", "+¥4.00"),
        ("发红包", "红包资金池", "-¥10.00"),
    ]
    assert [e[:3] for e in entries(grabber.text)] == [("抢红包", "红包资金池", "+¥6.00")]


async def test_a_reservation_shows_as_reserved_and_released_not_as_money_moved(emulator, wallet):
    """One line a withdrawal: its hold while it holds, then what became of the money (paid
    out, or released); the hold stays readable by its number."""
    await top_up(wallet, XIAOMING, 100_00)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    mine = await account(wallet, XIAOMING)
    held = await wallet.ledger.reserve("wd-1", mine, external, 30_00, "withdraw")
    await wallet.ledger.void("wd-1-void", held.id)
    posted = await wallet.ledger.reserve("wd-2", mine, external, 10_00, "withdraw")
    await wallet.ledger.post("wd-2-post", posted.id)
    await wallet.ledger.reserve("wd-3", mine, external, 5_00, "withdraw")  # still on its way

    page = await ask(emulator, "xiaoming", "/history")

    assert page.text.splitlines()[0] == "🧾 收支明细（北京时间）"
    assert [e[:3] for e in entries(page.text)] == [
        ("提现", "银行 / 支付渠道", "预留 ¥5.00"),
        ("提现", "银行 / 支付渠道", "-¥10.00"),
        ("提现", "银行 / 支付渠道", "已释放 ¥30.00"),
        ("充值", "银行 / 支付渠道", "+¥100.00"),
    ]
    detail = await ask(emulator, "xiaoming", f"/history {held.id}")
    assert "状态：已预留，随后于" in detail.text and "撤销释放" in detail.text
    assert detail.buttons() == []  # it moved no money: nothing to dispute
    voided = [t for t in await all_transfers_of(wallet, XIAOMING) if t.key == "wd-1-void"]
    released = await ask(emulator, "xiaoming", f"/history {voided[0].id}")
    assert released.buttons() == []
    paid_out = await ask(emulator, "xiaoming", f"/history {posted.id}")
    assert [b["text"] for b in paid_out.buttons()] == ["⚠️ 提出争议"]  # the money left: disputable


async def test_the_page_buttons_walk_the_whole_history_without_gaps_or_repeats(emulator, wallet):
    await top_up(wallet, ALICE, 500_00)
    for i in range(1, 24):
        await pay(wallet, ALICE, BOB, i)
        await pay(wallet, BOB, WANGFANG, i)  # not Alice's
    expected = [t.id for t in reversed(await all_transfers_of(wallet, ALICE))]
    assert len(expected) == 24

    page = await ask(emulator, "alice", "/history")
    card = page.message
    pages = [[e[3] for e in entries(page.text)]]
    assert labels(page) == ["Older ›"]
    while "Older ›" in labels(page):
        page = await turn(emulator, "alice", card, "Older")
        pages.append([e[3] for e in entries(page.text)])
    assert [len(ids) for ids in pages] == [10, 10, 4]
    assert [i for ids in pages for i in ids] == expected
    assert labels(page) == ["‹ Newer"]

    back = [pages[-1]]
    while "‹ Newer" in labels(page):
        page = await turn(emulator, "alice", card, "Newer")
        back.append([e[3] for e in entries(page.text)])
    assert back == pages[::-1]
    assert labels(page) == ["Older ›"]


def labels(event) -> list[str]:
    return [button["text"] for button in event.buttons()]


async def turn(emulator, user, message, label):
    """Tap a page button; the edited page."""
    mark = emulator.mark()
    query_id = await emulator.tap(user, message, label)
    await emulator.wait_for_answer(query_id, since=mark)
    return await emulator.wait_for_edit(message, since=mark)


async def all_transfers_of(wallet, telegram_id: int):
    mine = await account(wallet, telegram_id)
    async with wallet.store.snapshot() as snapshot:
        return [
            t
            async for t in snapshot.transfers()
            if mine in (t.debit_account_id, t.credit_account_id)
        ]


async def test_someone_elses_page_button_shows_nothing(emulator, wallet):
    await top_up(wallet, ALICE, 500_00)
    for i in range(1, 13):
        await pay(wallet, ALICE, WANGFANG, i, memo="secret")
    alices = await ask(emulator, "alice", "/history")
    data = next(b["callback_data"] for b in alices.buttons() if "Older" in b["text"])
    assert len(data.encode()) <= 64 and str(ALICE) not in data

    await top_up(wallet, BOB, 1_00)
    await ask(emulator, "bob", "/history")
    bobs = emulator.last_message("bob")
    bobs.reply_markup = {"inline_keyboard": [[{"text": "Older ›", "callback_data": data}]]}
    mark = emulator.mark()
    answer = await tap_and_wait(emulator, "bob", bobs, data=data)

    assert answer.data.get("show_alert") and "belongs to someone else" in answer.text
    assert not [e for e in emulator.events[mark:] if e.kind in ("edit", "message") and e.by_bot]
    forged = data[:-3] + "xyz:o"
    bobs.reply_markup = {"inline_keyboard": [[{"text": "Older ›", "callback_data": forged}]]}
    answer = await tap_and_wait(emulator, "bob", bobs, data=forged)
    assert "not valid" in answer.text


async def test_one_transfer_in_full_for_its_parties_only(emulator, wallet):
    await top_up(wallet, ALICE, 50_00)
    sent = await pay(wallet, ALICE, BOB, 12_50, memo="lunch at 老王")
    others = await pay(wallet, BOB, WANGFANG, 1_00)

    mine = await ask(emulator, "alice", f"/history {sent.id}")
    lines = mine.text.splitlines()
    assert lines[0] == f"🧾 Transfer #{sent.id}"
    assert re.fullmatch(r"Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(Beijing time\)", lines[1])
    assert lines[2:] == [
        "Kind: Transfer",
        "From: Alice (you)",
        "To: Bob",
        "Amount: -¥12.50",
        "Memo: lunch at 老王",
        "State: completed",
    ]
    received = await ask(emulator, "bob", f"/history #{sent.id}")
    assert "Amount: +¥12.50" in received.text and "To: Bob (you)" in received.text

    refused = await ask(emulator, "alice", f"/history {others.id}")
    missing = await ask(emulator, "alice", "/history 987654")
    assert (
        refused.text
        == f"There is no transaction #{others.id} in your history. Send /history to see your list."
    )
    assert missing.text == refused.text.replace(str(others.id), "987654")
    assert "Bob" not in refused.text and "王芳" not in refused.text


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/history abc", "is not a transaction number"),
        ("/history 0", "is not a transaction number"),
        ("/history -3", "is not a transaction number"),
        ("/history 1.5", "is not a transaction number"),
        ("/history 99999999999999999999999", "is not a transaction number"),
        ("/statement 2026-13", "is not a month between 2000-01 and"),
        ("/statement 26-01", "Write it as YYYY-MM"),
        ("/statement 2999-01", "has not come yet"),
        ("/statement garbage", "Write it as YYYY-MM"),
        ("/statement 2026-01-01", "Write it as YYYY-MM"),
    ],
)
async def test_bad_input_is_answered_with_the_reason(emulator, wallet, command, words):
    await top_up(wallet, ALICE, 5_00)
    reply = await ask(emulator, "alice", command)
    assert words in reply.text
    assert reply.message.document is None and reply.message.photo is None


async def test_an_empty_history_and_an_empty_month_get_a_friendly_line(emulator, wallet):
    empty = await ask(emulator, "bob", "/history")
    assert empty.text.startswith("🧾 No transactions yet.")
    await top_up(wallet, BOB, 5_00)
    quiet = await ask(emulator, "bob", "/statement 2020-01")
    assert quiet.text == "No money moved in 2020-01. Your balance then: ¥0.00."
    assert quiet.message.document is None


async def test_history_and_statements_stay_in_the_private_chat(emulator, wallet):
    for command in ("/history@wallet_sandbox_bot", "/statement@wallet_sandbox_bot"):
        await emulator.send_text("alice", command, emulator.group)
        reply = await emulator.wait_for_message(emulator.group)
        assert "private" in reply.text and "https://t.me/wallet_sandbox_bot" in reply.text


async def test_the_statement_is_a_csv_and_a_chart_that_match_the_ledger(emulator, wallet):
    await top_up(wallet, WANGFANG, 200_00)
    await pay(wallet, WANGFANG, BOB, 12_34, memo="=SUM(A1)")
    await pay(wallet, BOB, WANGFANG, 5_00, "tip")
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    mine = await account(wallet, WANGFANG)
    held = await wallet.ledger.reserve("wd", mine, external, 50_00, "withdraw")
    await wallet.ledger.post("wd-post", held.id)
    released = await wallet.ledger.reserve("wd-2", mine, external, 7_00, "withdraw")
    await wallet.ledger.void("wd-2-void", released.id)

    await emulator.send_text("wangfang", "/statement")
    document = await emulator.wait_for(lambda e: e.kind == "message" and e.message.document)
    photo = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo)

    month = Month.containing(wallet.store.now_ms()).label
    assert document.message.document["file_name"] == f"statement-{month}.csv"
    assert document.text.startswith(f"📄 {month} 账单：共 4 笔")
    content = emulator.files[document.message.document["file_id"]].content
    assert content.startswith("\ufeff".encode())
    header, *rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert header[0] == "时间（北京时间）" and len(header) == 7

    moved = [
        t
        for t in await all_transfers_of(wallet, WANGFANG)
        if t.flag in (TransferFlag.POSTED, TransferFlag.POST_PENDING)
    ]
    assert [int(row[1]) for row in rows] == [t.id for t in moved]
    balance = 0
    for row, transfer in zip(rows, moved, strict=True):
        sign = 1 if transfer.credit_account_id == mine else -1
        assert to_fen(row[4]) == sign * transfer.amount
        balance += sign * transfer.amount
        assert to_fen(row[6]) == balance
    assert [row[2] for row in rows] == ["充值", "转账", "打赏", "提现"]
    assert rows[1][3:6] == ["Bob", "-12.34", "'=SUM(A1)"]
    assert balance == (await wallet.ledger.balance(mine)).available == 142_66

    picture = emulator.files[photo.message.photo[-1]["file_id"]].content
    with Image.open(io.BytesIO(picture)) as image:
        assert image.size == (1200, 900)


def to_fen(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")
    return sign * (int(whole) * 100 + int(cents))


async def test_a_page_that_cannot_be_edited_comes_anew_and_nothing_escapes(
    emulator, wallet, monkeypatch, caplog
):
    """The old page was deleted meanwhile (or the edit failed): the page asked for is
    sent as a new message, with working buttons, and no apology."""
    await top_up(wallet, ALICE, 500_00)
    for i in range(1, 13):
        await pay(wallet, ALICE, BOB, i)
    page = await ask(emulator, "alice", "/history")

    async def gone(emulator, params):
        raise bad_request("message to edit not found")

    monkeypatch.setitem(METHODS, "editmessagetext", gone)
    mark = emulator.mark()
    await emulator.tap("alice", page.message, "Older")
    older = await emulator.wait_for_message("alice", since=mark)
    assert labels(older) == ["‹ Newer"] and len(entries(older.text)) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
