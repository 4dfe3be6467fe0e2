"""Payment requests and split bills through the real application and the emulator."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from PIL import Image

from bot.handlers.split import overviews
from bot.render.labels import deadline_time
from tests.e2e.conftest import PROVIDER_TOKEN
from tests.e2e.database import rows
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    WANGFANG,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

LINK = re.compile(r"https://t\.me/wallet_sandbox_bot\?start=(pay_[A-Za-z0-9_-]{16})")


@pytest.fixture
def provider_token() -> str | None:
    """Telegram Payments set up, as in the sandbox (unless a test says otherwise)."""
    return PROVIDER_TOKEN


def decode_qr(png: bytes) -> str | None:
    """The text of the QR code in the picture; None when zxing-cpp is not installed."""
    try:
        import zxingcpp
    except ImportError:
        return None
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return found.text


async def make_request(emulator, who: str, command: str):
    """Send ``/request …``; the bot's photo message and the payload of its link."""
    await emulator.send_text(who, command)
    sent = await emulator.wait_for_message(who)
    return sent, LINK.search(sent.text).group(1)


async def open_card(emulator, who: str, payload: str):
    await emulator.send_text(who, f"/start {payload}")
    return await emulator.wait_for_message(who)


def requests_saved(settings) -> int:
    return rows(settings.database_url, "SELECT count(*) FROM payment_requests")[0][0]


async def test_a_request_is_sent_as_a_qr_code_of_its_pay_link(emulator, wallet):
    sent, payload = await make_request(emulator, "alice", "/request 12.50 lunch at 老王")
    made = await wallet.requests.get(payload.removeprefix("pay_"))
    assert sent.message.photo
    png = emulator.files[sent.message.photo[-1]["file_id"]].content
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size[0] >= 200
    link = f"https://t.me/wallet_sandbox_bot?start={payload}"
    assert sent.text == (
        "🧾 Payment request: ¥12.50\nMemo: lunch at 老王\n"
        f"It can be paid until {deadline_time(made.expires_at)} (Beijing time).\n"
        f"Show this QR code, or share the link, to be paid:\n{link}"
    )
    decoded = decode_qr(png)
    assert decoded in (link, None)
    pytest.importorskip("zxingcpp")
    assert decoded == link
    assert [b["text"] for b in sent.buttons()] == ["✖ Cancel request"]


@pytest.mark.both_back_ends
async def test_a_request_is_paid_through_its_link_with_the_pin_and_the_requester_is_told(
    emulator, wallet
):
    await fund(wallet, BOB, 50_00)
    _, payload = await make_request(emulator, "alice", "/request 12.50 lunch")
    card = await open_card(emulator, "bob", payload)
    assert card.text == "Pay ¥12.50 to Alice?\nMemo: lunch"
    keypad = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert "Enter your payment PIN to confirm" in keypad.text
    assert await available(wallet, BOB) == 50_00  # nothing moves before the PIN

    done = await enter_pin(emulator, "bob", card)
    assert done.text == "✅ Paid ¥12.50 to Alice. Your balance: ¥37.50"
    assert await available(wallet, BOB) == 37_50
    assert await available(wallet, ALICE) == 12_50
    told = await emulator.wait_for_message("alice", since=0, text="paid your request")
    assert told.text == "💰 Bob paid your request of ¥12.50. Your balance: ¥12.50\nMemo: lunch"
    paid = await wallet.requests.get(payload.removeprefix("pay_"))
    assert (paid.state, paid.paid_by) == ("paid", BOB)
    # both read it in /history as the request it paid, not as a plain transfer
    for who, line in (
        ("bob", "Payment request · Alice  -¥12.50"),
        ("alice", "Payment request · Bob  +¥12.50"),
    ):
        mark = emulator.mark()
        await emulator.send_text(who, "/history")
        page = await emulator.wait_for_message(who, since=mark, text="#")
        found = re.search(re.escape(line) + r"  #(\d+)", page.text)
        assert found, page.text
        number = found[1]
        mark = emulator.mark()
        await emulator.send_text(who, f"/history {number}")
        detail = await emulator.wait_for_message(who, since=mark, text="#")
        assert "Payment request" in detail.text, detail.text


@pytest.mark.parametrize(
    ("requester", "said"),
    [
        (
            "alice",
            "🧾 Payment request: ¥6.00\nMemo: 房租\n✅ Paid by Bob on {at} (Beijing time)."
            " Its link and QR code take no more payments.",
        ),
        (
            "xiaoming",
            "🧾 收款请求：¥6.00\n备注：房租\n"
            "✅ Bob 已于 {at}（北京时间）付款。它的链接和二维码不再收款。",
        ),
    ],
)
async def test_a_paid_requests_qr_code_says_who_paid_with_no_cancel_left(
    emulator, wallet, requester, said
):
    await fund(wallet, BOB, 50_00)
    sent, payload = await make_request(emulator, requester, "/request 6 房租")
    card = await open_card(emulator, "bob", payload)
    await tap_and_wait(emulator, "bob", card, "Confirm")
    mark = emulator.mark()
    await enter_pin(emulator, "bob", card)
    paid = await wallet.requests.get(payload.removeprefix("pay_"))

    shown = await emulator.wait_for_edit(sent, since=mark)
    assert shown.text == said.format(at=deadline_time(paid.settled_at))
    assert not shown.buttons()
    assert shown.message.photo  # the QR code stays, captioned


@pytest.mark.parametrize(
    ("requester", "said"),
    [
        ("alice", "✅ Bob paid this request of ¥6.00 on {at} (Beijing time). Nothing is left"),
        ("xiaoming", "✅ Bob 已于 {at}（北京时间）支付了这笔 ¥6.00 的收款，无需取消。"),
    ],
)
async def test_cancel_on_a_paid_request_shows_who_paid_and_when(
    emulator, wallet, running, requester, said
):
    """A QR message this process did not show (the bot restarted since) keeps its Cancel
    button once paid: a tap turns it into how the request ended, not the payer's "already
    paid, no money was sent"."""
    await fund(wallet, BOB, 50_00)
    sent, payload = await make_request(emulator, requester, "/request 6")
    token = payload.removeprefix("pay_")
    for _ in range(500):  # recorded once the photo's sending returned
        if token in running.bot_data.get("request.shown", {}):
            break
        await asyncio.sleep(0.01)
    del running.bot_data["request.shown"][token]  # as after a restart
    card = await open_card(emulator, "bob", payload)
    await tap_and_wait(emulator, "bob", card, "Confirm")
    await enter_pin(emulator, "bob", card)
    paid = await wallet.requests.get(payload.removeprefix("pay_"))

    mark = emulator.mark()
    query = await emulator.tap(requester, sent, sent.buttons()[0]["text"])
    answer = await emulator.wait_for_answer(query)
    assert not answer.data.get("show_alert")
    ended = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == sent.message_id, since=mark
    )
    assert ended.text.startswith(said.format(at=deadline_time(paid.settled_at)))
    assert not ended.buttons()
    assert await available(wallet, BOB) == 44_00


@pytest.mark.both_back_ends
async def test_a_second_payment_of_a_request_is_refused_and_moves_nothing(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    await fund(wallet, WANGFANG, 50_00)
    _, payload = await make_request(emulator, "alice", "/request 10")
    # Bob twice and 王芳 once open the link and reach the keypad before anyone pays.
    cards = [
        await open_card(emulator, who, payload) for who in ("bob", "bob", "wangfang", "wangfang")
    ]
    for who, card in zip(("bob", "bob", "wangfang"), cards, strict=False):
        await tap_and_wait(emulator, who, card, "Confirm" if who == "bob" else "确认")

    paid = await enter_pin(emulator, "bob", cards[0])
    assert paid.text == "✅ Paid ¥10.00 to Alice. Your balance: ¥40.00"
    second_tap = await enter_pin(emulator, "bob", cards[1])
    assert second_tap.text == "You have paid this request (¥10.00) already. No more money was sent."
    other_payer = await enter_pin(emulator, "wangfang", cards[2])
    assert other_payer.text.endswith("\n\n这笔收款已经有人付过了，没有扣款。")
    late = await tap_and_wait(emulator, "wangfang", cards[3], "确认")
    assert late.text == "这笔收款已经有人付过了，没有扣款。"
    again = await open_card(emulator, "bob", payload)  # the payer is told they paid it
    assert again.text == "You have paid this request (¥10.00) already. No more money was sent."
    someone_else = await open_card(emulator, "wangfang", payload)
    assert someone_else.text == "这笔收款已经有人付过了，没有扣款。"

    assert await available(wallet, BOB) == 40_00
    assert await available(wallet, WANGFANG) == 50_00
    assert await available(wallet, ALICE) == 10_00


@pytest.mark.parametrize(
    ("who", "told", "top_up"),
    [
        (
            "bob",
            "👋 Welcome to the community wallet, Bob! Your wallet is ready.\n"
            "🧾 Alice asks you to pay ¥12.50.\nMemo: lunch\n"
            "Not enough money: you have ¥0.00, this needs ¥12.50.\n"
            "Top up your wallet with the button below (or /topup), then open the link again "
            "to pay:\n{link}",
            "➕ Top up",
        ),
        (
            "xiaoming",
            "👋 欢迎使用社区钱包，小明！你的钱包已开通。\n"
            "🧾 Alice 请你支付 ¥12.50。\n备注：lunch\n"
            "余额不足：你有 ¥0.00，需要 ¥12.50。\n"
            "请先点下方按钮充值（或发送 /topup），然后再次打开链接付款：\n{link}",
            "➕ 充值",
        ),
    ],
)
async def test_a_newcomer_without_money_is_welcomed_and_told_what_is_asked_and_how_to_top_up(
    emulator, wallet, who, told, top_up
):
    _, payload = await make_request(emulator, "alice", "/request 12.50 lunch")
    link = f"https://t.me/wallet_sandbox_bot?start={payload}"
    reply = await open_card(emulator, who, payload)
    assert reply.text == told.format(link=link)
    assert [b["text"] for b in reply.buttons()] == [top_up]
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(who, reply, top_up), since=mark)
    shown = await emulator.wait_for_message(who, since=mark)
    mark = emulator.mark()
    await emulator.send_text(who, "/topup")
    assert shown.text == (await emulator.wait_for_message(who, since=mark)).text
    again = await open_card(emulator, who, payload)  # no longer new here: no welcome
    assert again.text == told.format(link=link).split("\n", 1)[1]
    assert await available(wallet, ALICE) == 0


@pytest.mark.parametrize("provider_token", [None])
async def test_without_top_ups_a_payer_short_of_money_is_not_offered_one(emulator, wallet):
    _, payload = await make_request(emulator, "alice", "/request 12.50 lunch")
    reply = await open_card(emulator, "bob", payload)
    assert reply.text.endswith(
        "Not enough money: you have ¥0.00, this needs ¥12.50.\n"
        "Your wallet needs money first (a transfer or a red packet to you), then open the link"
        f" again to pay:\nhttps://t.me/wallet_sandbox_bot?start={payload}"
    )
    assert not reply.buttons()  # a Top up button could only say top-ups are not set up


async def test_paying_your_own_request_is_refused(emulator, wallet):
    await fund(wallet, ALICE, 50_00)
    _, payload = await make_request(emulator, "alice", "/request 5")
    reply = await open_card(emulator, "alice", payload)
    assert reply.text.startswith("This is your own request: you cannot pay yourself.")
    assert not reply.buttons()
    assert await available(wallet, ALICE) == 50_00


async def test_a_cancelled_request_cannot_be_paid(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    sent, payload = await make_request(emulator, "alice", "/request 8")
    card = await open_card(emulator, "bob", payload)  # opened before the cancel
    await tap_and_wait(emulator, "bob", card, "Confirm")

    cancelled = await tap_and_wait(emulator, "alice", sent, "Cancel request")
    assert cancelled.text == "Request for ¥8.00 cancelled. Its link and QR code no longer work."
    at_the_keypad = await enter_pin(emulator, "bob", card)
    assert at_the_keypad.text.endswith("\n\nThis request was cancelled. No money was sent.")
    again = await open_card(emulator, "bob", payload)
    assert again.text == "This request was cancelled. No money was sent."
    data = sent.buttons()[0]["callback_data"]
    assert not cancelled.buttons()  # the button went with the cancel; a replayed tap:
    sent.message.reply_markup = {"inline_keyboard": [[{"text": "again", "callback_data": data}]]}
    query = await emulator.tap("alice", sent, data=data)
    assert "cancelled" in (await emulator.wait_for_answer(query)).text

    assert await available(wallet, BOB) == 50_00
    assert await available(wallet, ALICE) == 0


async def test_a_bad_pay_link_shows_the_menu_with_a_warning(emulator):
    reply = await open_card(emulator, "bob", "pay_AAAAAAAAAAAAAAAA")
    assert reply.text.startswith("This link is not valid or has expired.")


async def test_a_payment_the_guard_would_hold_is_not_made_from_a_request(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")  # tier 1: ¥5,000
    _, payload = await make_request(emulator, "alice", "/request 1500")
    card = await open_card(emulator, "xiaoming", payload)
    refused = await tap_and_wait(emulator, "xiaoming", card, "确认")
    assert refused.text.startswith("⛔") and "需要管理员审核" in refused.text
    user = await wallet.users.get(XIAOMING)
    balance = await wallet.ledger.balance(user.account_id)
    assert (balance.available, balance.reserved) == (3_000_00, 0)
    assert (await wallet.requests.get(payload.removeprefix("pay_"))).state == "open"


async def test_a_password_free_payment_of_a_small_request_skips_the_keypad(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    await wallet.store.identity.set_password_free(BOB, 20_00, 100_00)
    _, payload = await make_request(emulator, "alice", "/request 6")
    card = await open_card(emulator, "bob", payload)
    done = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert done.text == "✅ Paid ¥6.00 to Alice. Your balance: ¥44.00"
    assert await available(wallet, ALICE) == 6_00


async def test_a_split_bill_sends_each_known_person_their_share(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    await start_private(emulator, "bob")
    await start_private(emulator, "wangfang")
    await emulator.send_text("alice", "/split 10 @bob @wangfang hotpot")
    summary = await emulator.wait_for_message("alice")
    assert summary.text == (
        "🧾 Split ¥10.00 among 3 people. Your own share: ¥3.34\n"
        "Requests sent:\n• Bob: ¥3.33\n• 王芳: ¥3.33"
    )
    to_bob = await emulator.wait_for_message("bob", since=0, text="split a bill")
    assert to_bob.text.startswith(
        "🧾 Alice split a bill of ¥10.00 among 3 people. Your share: ¥3.33\nMemo: hotpot\n"
    )
    to_fang = await emulator.wait_for_message("wangfang", since=0, text="AA 分账")
    assert "你的份额：¥3.33" in to_fang.text

    (button,) = to_bob.buttons()
    assert button["text"] == "Pay ¥3.33"
    card = await open_card(emulator, "bob", LINK.search(button["url"]).group(1))
    assert card.text == "Pay ¥3.33 to Alice?\nMemo: hotpot"
    await tap_and_wait(emulator, "bob", card, "Confirm")
    paid = await enter_pin(emulator, "bob", card)
    assert paid.text == "✅ Paid ¥3.33 to Alice. Your balance: ¥46.67"
    assert await available(wallet, ALICE) == 3_33


@pytest.mark.both_back_ends
async def test_a_split_share_is_paid_by_its_person_only_and_its_sender_can_cancel_it(
    emulator, wallet
):
    await fund(wallet, XIAOMING, 50_00)
    await start_private(emulator, "bob")
    await start_private(emulator, "xiaoming")
    await emulator.send_text("alice", "/split 9 @bob @xiaoming dinner")
    summary = await emulator.wait_for_message("alice")
    assert [b["text"] for b in summary.buttons()] == [
        "✖ Cancel Bob's share (¥3.00)",
        "✖ Cancel 小明's share (¥3.00)",
    ]
    to_bob = await emulator.wait_for_message("bob", since=0, text="split a bill")
    bobs = LINK.search(to_bob.buttons()[0]["url"]).group(1)
    to_ming = await emulator.wait_for_message("xiaoming", since=0, text="AA")
    mings = LINK.search(to_ming.buttons()[0]["url"]).group(1)

    # 小明 cannot pay Bob's share (only Bob may), and pays his own
    refused = await open_card(emulator, "xiaoming", bobs)
    assert refused.text == "这是别人在 AA 账单中的份额，只有本人可以支付。没有扣款。"
    card = await open_card(emulator, "xiaoming", mings)
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    mark = emulator.mark()
    await enter_pin(emulator, "xiaoming", card)
    assert await available(wallet, ALICE) == 3_00
    # the overview says so at once, his ✖ gone
    shown = await emulator.wait_for_edit(summary, since=mark)
    assert shown.text.endswith("\n✅ 小明 paid their share of ¥3.00.")
    assert [b["text"] for b in shown.buttons()] == ["✖ Cancel Bob's share (¥3.00)"]

    # Alice cancels Bob's share: the summary says so, Bob is told, his link no longer pays
    mark = emulator.mark()
    await emulator.tap("alice", shown, "✖ Cancel Bob's share (¥3.00)")
    edited = await emulator.wait_for_edit(summary, since=mark)
    assert edited.text.endswith(
        "\n✅ 小明 paid their share of ¥3.00."
        "\n✖ Bob's share of ¥3.00 is cancelled: its link no longer works."
    )
    assert edited.buttons() == []
    told = await emulator.wait_for_message("bob", since=mark)
    assert told.text == "🧾 Alice cancelled your share of ¥3.00: you need not pay it."
    late = await open_card(emulator, "bob", bobs)
    assert "cancelled" in late.text and not late.buttons()
    assert await available(wallet, ALICE) == 3_00
    assert await available(wallet, XIAOMING) == 47_00


async def test_a_share_paid_on_an_overview_this_process_did_not_draw_is_said_when_tapped(
    emulator, wallet, running
):
    """After a restart the overview is not known here: its ✖ tap says who paid."""
    await fund(wallet, XIAOMING, 50_00)
    await start_private(emulator, "xiaoming")
    await emulator.send_text("alice", "/split 6 @xiaoming")
    summary = await emulator.wait_for_message("alice")
    to_ming = await emulator.wait_for_message("xiaoming", since=0, text="AA")
    payload = LINK.search(to_ming.buttons()[0]["url"])[1]
    shown = overviews(running)
    for _ in range(500):  # noted once the overview's sending returned
        if shown.where(payload.removeprefix("pay_")):
            break
        await asyncio.sleep(0.01)
    shown._where.clear()  # forgotten, as after a restart
    shown._drawn.clear()
    card = await open_card(emulator, "xiaoming", payload)
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    await enter_pin(emulator, "xiaoming", card)
    assert await available(wallet, ALICE) == 3_00

    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", summary, "✖ Cancel 小明's share (¥3.00)"), since=mark
    )
    assert answer.text == "小明 has paid their share (¥3.00) already."
    final = await emulator.wait_for_edit(summary, since=mark)
    assert final.text.endswith("\n小明 has paid their share (¥3.00) already.")
    assert final.buttons() == []


@pytest.mark.parametrize(
    "names", ["@bob, @xiaoming", "@bob,@xiaoming", "@bob，@xiaoming、", "@bob , @xiaoming"]
)
async def test_names_written_as_a_list_with_commas_are_the_splits_people(emulator, wallet, names):
    await start_private(emulator, "bob")
    await wallet.users.seen(PROFILES[XIAOMING])
    await emulator.send_text("alice", f"/split 9 元 {names} dinner")  # 元 apart, too
    summary = await emulator.wait_for_message("alice")
    assert summary.text.startswith("🧾 Split ¥9.00 among 3 people."), summary.text
    assert len(summary.buttons()) == 2
    to_bob = await emulator.wait_for_message("bob", since=0, text="split a bill")
    assert "Memo: dinner" in to_bob.text


async def test_two_quick_cancels_of_a_splits_shares_both_stay_said(emulator, wallet):
    await start_private(emulator, "bob")
    await wallet.users.seen(PROFILES[XIAOMING])
    await emulator.send_text("alice", "/split 9 @bob @xiaoming")
    summary = await emulator.wait_for_message("alice")
    mark = emulator.mark()
    first = await emulator.tap("alice", summary, "✖ Cancel Bob's share (¥3.00)")
    second = await emulator.tap("alice", summary, "✖ Cancel 小明's share (¥3.00)")  # same copy
    for query_id in (first, second):
        await emulator.wait_for_answer(query_id, since=mark)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == summary.message_id and not e.buttons(),
        since=mark,
    )
    edits = [e for e in emulator.events[mark:] if e.kind == "edit"]
    final = edits[-1]
    assert final.text.count("is cancelled: its link no longer works.") == 2
    assert "Bob's share" in final.text and "小明's share" in final.text
    assert final.buttons() == []


async def test_a_split_reports_the_people_it_cannot_message_with_their_links(emulator, wallet):
    await start_private(emulator, "bob")
    await wallet.users.seen(PROFILES[XIAOMING])  # known from a group, private chat never opened
    await emulator.send_text("alice", "/split 10.03 @bob @xiaoming")
    summary = await emulator.wait_for_message("alice")
    lines = summary.text.split("\n")
    assert lines[0] == "🧾 Split ¥10.03 among 3 people. Your own share: ¥3.35"
    assert lines[1:3] == ["Requests sent:", "• Bob: ¥3.34"]
    assert lines[3].startswith("Not told: they have not opened a chat with me yet.")
    assert lines[4].startswith("• 小明: ¥3.34 https://t.me/wallet_sandbox_bot?start=pay_")
    assert len(lines) == 5
    assert await wallet.requests.get(LINK.search(lines[4]).group(1).removeprefix("pay_"))


@pytest.mark.parametrize(
    ("who", "command", "told"),
    [
        (
            "alice",
            "/split 90 @nobody",
            "I don't know @nobody yet, so no split was made and nobody was asked. "
            "Ask them to open this bot once (then they can be named), or pick them with "
            "📇 Choose the people under the menu's 👥 Split a bill.",
        ),
        (
            "alice",
            "/split 90 @bob @nobody_here @xiaoming 999999 dinner",
            "I don't know @nobody_here, 999999 yet, so no split was made and nobody was asked.",
        ),
        (
            "xiaoming",
            "/split 90 @nobody",
            "我还不认识 @nobody，所以没有发起分账，也没有向任何人收款。"
            "请对方先打开本机器人一次（之后就能点名了），"
            "或在菜单的 👥 AA 收款 里用 📇 选择好友 来选 TA。",
        ),
        (
            "xiaoming",
            "/split 90 @bob @nobody_here",
            "我还不认识 @nobody_here，所以没有发起分账，也没有向任何人收款。",
        ),
    ],
)
async def test_a_split_naming_someone_unknown_is_refused_whole_naming_them(
    emulator, wallet, settings, who, command, told
):
    await start_private(emulator, "bob")
    await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    mark = emulator.mark()
    await emulator.send_text(who, command)
    reply = await emulator.wait_for_message(who, since=mark)
    assert reply.text.startswith(told)
    assert "Split ¥" not in reply.text and "分给" not in reply.text
    assert requests_saved(settings) == 0
    sent = emulator.bot_events("message")
    assert not [e for e in sent if e.seq > mark and e.chat_id != reply.chat_id]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/request", "Write /request 12.50 [memo]"),
        ("/request 0", "more than ¥0.00"),
        ("/request 1.234", "at most two decimals"),
        ("/request -3", "cannot be negative"),
        ("/request abc", "is not an amount"),
        (f"/request 5 {'x' * 101}", "memo is too long"),
        ("/split", "Write /split 90 @alice @bob [memo]"),
        ("/split 10", "Name at least one person"),
        ("/split abc @bob", "is not an amount"),
        ("/split 1e3 @bob", "plain digits (like 1000)"),
        ("/split 10 @bob @bob", "@bob is named twice"),
        ("/split 10 @bob @BOB", "@BOB is named twice"),
        ("/split 10 @bob 100004", "100004 is named twice"),
        ("/split 10 @alice", "Don't name yourself"),
        ("/split 0.02 @bob @wangfang", "3 people need at least ¥0.03"),
        ("/split 100 " + " ".join(f"@person{i}" for i in range(21)), "at most 20 people"),
        ("/split 10 99999999999999999999", "99999999999999999999"),
        ("/split 10 ² thanks", "Name at least one person"),
    ],
)
async def test_bad_input_is_answered_clearly_and_asks_nothing_of_anyone(
    emulator, wallet, settings, command, words
):
    await fund(wallet, ALICE, 50_00)
    await start_private(emulator, "bob")
    await start_private(emulator, "wangfang")
    mark = emulator.mark()
    await emulator.send_text("alice", command)
    reply = await emulator.wait_for_message("alice")
    assert words in reply.text
    assert not reply.message.photo
    assert requests_saved(settings) == 0
    assert await available(wallet, ALICE) == 50_00
    assert not [e for e in emulator.bot_events("message") if e.seq > mark and e.chat_id != ALICE]


async def test_requests_and_splits_are_made_in_private_chat_only(emulator, settings):
    for command in ("/request@wallet_sandbox_bot 5", "/split@wallet_sandbox_bot 10 @bob"):
        await emulator.send_text("alice", command, emulator.group)
        reply = await emulator.wait_for_message(emulator.group)
        assert reply.text.startswith("Payment requests and split bills are made in our private")
    assert requests_saved(settings) == 0


async def test_paying_a_request_without_a_pin_offers_to_set_one_and_moves_nothing(
    emulator, wallet, caplog
):
    await fund(wallet, BOB, 50_00, pin=False)
    _, payload = await make_request(emulator, "alice", "/request 12.50 lunch")
    card = await open_card(emulator, "bob", payload)
    told = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert told.text == card.text + "\n\nYou have no payment PIN yet. Set one with /setpin first."
    buttons = [b["text"] for b in told.buttons()]
    assert buttons == [*(b["text"] for b in card.buttons()), "🔑 Set my PIN"]  # card kept
    mark = emulator.mark()
    again = await emulator.tap("bob", told, "Confirm")  # still no PIN: said, card unchanged
    assert (await emulator.wait_for_answer(again, since=mark)).text.startswith("You have no")
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("bob", told, "🔑 Set my PIN"), since=mark)
    pad = await emulator.wait_for_message("bob", since=mark)
    assert "PIN" in pad.text and len(pad.buttons()) >= 10  # the keypad that sets it
    assert await available(wallet, BOB) == 50_00
    assert (await wallet.requests.get(payload.removeprefix("pay_"))).state == "open"
    await wallet.pins.set_pin(BOB, "739201")  # set: the same card's Confirm pays now
    keypad = await tap_and_wait(emulator, "bob", told, "Confirm")
    assert "Enter your payment PIN" in keypad.text and "no payment PIN" not in keypad.text
    done = await enter_pin(emulator, "bob", told)
    assert done.text == "✅ Paid ¥12.50 to Alice. Your balance: ¥37.50"
    assert await available(wallet, BOB) == 37_50
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
