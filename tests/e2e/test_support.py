"""Support tickets and disputes through the real application and the emulator: a ticket's
round trip (person → admin → answer → the person continues → closed), a dispute from a
history line, someone else's transfer refused, and bad input answered plainly."""

from __future__ import annotations

import asyncio
import io
import logging

from PIL import Image

from bot.domain.model import SystemAccount
from bot.domain.support import TICKET_CLOSED, TICKET_REPLIED, TicketState
from tests.e2e.test_forged_buttons import forged_tap
from tests.e2e.test_send import BOB, PROFILES, XIAOMING, fund, start_private

ALICE = 100_002  # the admin
REFUSED = "This command is for the wallet's admins only."


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def said(emulator, user: str, text: str, *, reply_to=None):
    """``user`` writes ``text``; the bot's next message to them."""
    mark = emulator.mark()
    await emulator.send_text(user, text, reply_to=reply_to)
    return await emulator.wait_for_message(user, since=mark)


async def test_a_ticket_goes_to_the_admin_is_answered_continued_and_closed(
    emulator, wallet, caplog
):
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await fund(wallet, BOB, 50_00, pin=False)

    mark = emulator.mark()
    await emulator.send_text("bob", "/support My top-up of ¥50 shows twice")
    opened = await emulator.wait_for_message("bob", since=mark)
    assert opened.text.startswith("🎫 #1 Your ticket is open.")
    told = await emulator.wait_for_message("alice", since=mark)
    assert told.text.splitlines() == [
        "🎫 #1 Ticket from Bob (id 100004):",
        "My top-up of ¥50 shows twice",
        "Their latest transactions:",
        f"#{told.text.split('#')[2].split()[0]} +¥50.00 "
        + told.text.splitlines()[3].split(" ", 2)[2],
    ]
    assert "+¥50.00" in told.text.splitlines()[3]
    assert [b["text"] for b in told.buttons()] == ["↩️ Reply", "✅ Close"]

    # the admin taps Reply and sends the answer as the next message
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", told, "Reply"), since=mark)
    question = await emulator.wait_for_message("alice", since=mark)
    assert question.text.startswith("🎫 #1 Send your answer")
    mark = emulator.mark()
    await emulator.send_text("alice", "It was counted once; the second line is the receipt.")
    assert (await emulator.wait_for_message("alice", since=mark)).text == (
        "🎫 #1 Your answer was sent."
    )
    answer = await emulator.wait_for_message("bob", since=mark)
    assert answer.text == (
        "🎫 #1 Support answers:\nIt was counted once; the second line is the receipt.\n\n"
        "(Reply to this message to answer.)"
    )

    # Bob continues the thread by replying to the answer; the admin is told
    mark = emulator.mark()
    await emulator.send_text("bob", "Thanks, I see it now.", reply_to=answer)
    assert (await emulator.wait_for_message("bob", since=mark)).text.startswith(
        "🎫 #1 Added to your ticket."
    )
    added = await emulator.wait_for_message("alice", since=mark)
    assert added.text == "🎫 #1 Bob adds:\nThanks, I see it now."

    # the admin's /tickets lists it with its age; Close closes it and tells Bob
    listed = await said(emulator, "alice", "/tickets")
    assert listed.text.startswith("🎫 #1 Ticket from Bob")
    assert "Opened less than a minute ago." in listed.text
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", listed, "Close"), since=mark)
    closed = await emulator.wait_for_message("bob", since=mark)
    assert closed.text.startswith("🎫 #1 Your ticket is closed.")
    assert (await emulator.wait_for_message("alice", since=mark)).text == (
        "🎫 #1 is closed; the person was told."
    )
    unbuttoned = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == listed.message_id, since=mark
    )
    assert not unbuttoned.buttons()
    notice = await emulator.wait_for(  # and her notice of it says so, without buttons
        lambda e: e.kind == "edit" and e.message_id == told.message_id, since=mark
    )
    assert notice.text == told.text + "\n✅ Closed by Alice." and not notice.buttons()
    assert (await said(emulator, "alice", "/tickets")).text == "No support tickets are open."

    # a closed ticket takes nothing more, and says how to open a new one
    late = await said(emulator, "bob", "one more thing", reply_to=answer)
    assert late.text == "Ticket #1 is closed. Write /support to open a new one."
    again = await forged_tap(emulator, "alice", told, "tk:1:c")  # a card from before
    assert again.text == "Ticket #1 is closed already."
    # the admin's late answer is told the ticket is closed, not to write /support
    assert (await said(emulator, "alice", "/reply 1 one more thing")).text == (
        "Ticket #1 is closed already."
    )

    view = await wallet.support.view(1)
    assert view.ticket.state is TicketState.CLOSED and view.ticket.closed_by == ALICE
    assert [(m.author_id, m.from_admin) for m in view.thread] == [(ALICE, True), (BOB, False)]
    events = [e async for e in wallet.store.security.events()]
    assert [e.event for e in events if e.event.startswith("admin.ticket")] == [
        TICKET_REPLIED,
        TICKET_CLOSED,
    ]
    assert handler_errors(caplog) == []


async def test_a_tickets_transactions_read_as_the_history_does_a_release_not_as_money_in(
    emulator, wallet
):
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await fund(wallet, BOB, 50_00, pin=False)
    bob = await wallet.users.get(BOB)
    gateway = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    held = await wallet.ledger.reserve("w-1", bob.account_id, gateway, 20_00, "withdraw")
    freed = await wallet.ledger.void("w-1-void", held.id)

    mark = emulator.mark()
    await emulator.send_text("bob", "/support Where did my withdrawal go?")
    told = await emulator.wait_for_message("alice", since=mark)
    lines = told.text.splitlines()
    assert lines[3:] == [f"#{freed.id} released ¥20.00 Withdrawal", "#1 +¥50.00 Top-up"]
    await wallet.users.set_language(ALICE, "zh")
    listed = await said(emulator, "alice", "/tickets")
    assert f"#{freed.id} 已释放 ¥20.00" in listed.text


async def test_reply_command_answers_and_the_chinese_user_reads_it_in_chinese(emulator, wallet):
    await start_private(emulator, "alice")
    await start_private(emulator, "xiaoming")
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/support 我的红包没有退回")
    opened = await emulator.wait_for_message("xiaoming", since=mark)
    assert opened.text.startswith("🎫 #1 你的工单已创建")
    await emulator.wait_for_message("alice", since=mark)  # the admin is told
    mark = emulator.mark()
    await emulator.send_text("alice", "/reply #1 已退回，请查看余额。")
    answered = await emulator.wait_for_message("alice", since=mark)
    assert answered.text == "🎫 #1 Your answer was sent."
    told = await emulator.wait_for_message("xiaoming", since=mark)
    assert told.text.startswith("🎫 #1 客服回复：\n已退回，请查看余额。")
    # the admin may also answer by replying to the person's addition
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "谢谢", reply_to=told)
    added = await emulator.wait_for_message("alice", since=mark)
    assert added.text == "🎫 #1 小明 adds:\n谢谢"
    mark = emulator.mark()
    await emulator.send_text("alice", "不客气", reply_to=added)
    assert (await emulator.wait_for_message("alice", since=mark)).text == (
        "🎫 #1 Your answer was sent."
    )
    assert (await emulator.wait_for_message("xiaoming", since=mark)).text.startswith(
        "🎫 #1 客服回复：\n不客气"
    )


async def test_the_menu_support_button_asks_and_the_reply_opens_a_ticket(emulator, wallet):
    await start_private(emulator, "alice")
    mark = emulator.mark()
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob", since=mark)
    mark = emulator.mark()
    await emulator.tap("bob", menu, "Support")
    question = await emulator.wait_for_message("bob", since=mark)
    assert question.text.startswith("🎫 What can we help you with?")
    mark = emulator.mark()
    await emulator.send_text("bob", "I forgot my PIN", reply_to=question)
    opened = await emulator.wait_for_message("bob", since=mark)
    assert opened.text.startswith("🎫 #1 Your ticket is open.")
    told = await emulator.wait_for_message("alice", since=mark)
    assert "They have no transactions yet." in told.text
    ticket = await wallet.support.get(1)
    assert ticket.text == "I forgot my PIN" and ticket.attached == ()


async def test_a_dispute_is_opened_from_a_history_line_once(emulator, wallet, caplog):
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await fund(wallet, BOB, 20_00, pin=False)
    [line] = (await wallet.history.page((await wallet.users.get(BOB)).account_id)).lines
    detail = await said(emulator, "bob", f"/history {line.transfer_id}")
    assert [b["text"] for b in detail.buttons()] == ["⚠️ Dispute"]

    mark = emulator.mark()
    await emulator.tap("bob", detail, "Dispute")
    opened = await emulator.wait_for_message("bob", since=mark)
    assert opened.text.startswith(f"🎫 #1 Your dispute of transaction #{line.transfer_id} is open.")
    assert "To say what went wrong, reply" in opened.text
    # the apps quote the question for the next message: the reason is not lost
    assert opened.data["asked_markup"] == {"force_reply": True, "selective": True}
    told = await emulator.wait_for_message("alice", since=mark)
    assert told.text.startswith(f"🎫 #1 Dispute of transaction #{line.transfer_id} from Bob")
    # the reason, as a reply to the confirmation
    await said(emulator, "bob", "I never made this top-up", reply_to=opened)
    assert (await wallet.support.view(1)).thread[0].text == "I never made this top-up"

    # a second tap, or /dispute of the same transfer: one open dispute per transfer
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("bob", detail, "Dispute"))
    assert answer.text.startswith(f"Transaction #{line.transfer_id} is disputed already")
    refused = await said(emulator, "bob", f"/dispute {line.transfer_id} again")
    assert refused.text.startswith(f"Transaction #{line.transfer_id} is disputed already")
    assert [t.id for t in await wallet.support.open_tickets()] == [1]
    assert handler_errors(caplog) == []


async def test_a_dispute_without_a_reason_reads_in_the_admins_language(emulator, wallet):
    await start_private(emulator, "alice")  # an English admin
    await start_private(emulator, "xiaoming")  # a Chinese resident
    await fund(wallet, XIAOMING, 30_00, pin=False)
    [line] = (await wallet.history.page((await wallet.users.get(XIAOMING)).account_id)).lines
    mark = emulator.mark()
    opened = await said(emulator, "xiaoming", f"/dispute {line.transfer_id}")
    assert opened.text.startswith("🎫 #1 ") and f"#{line.transfer_id}" in opened.text
    told = await emulator.wait_for_message("alice", since=mark)
    assert "(No reason given.)" in told.text and "未说明" not in told.text, told.text


async def test_someone_elses_transfer_cannot_be_disputed(emulator, wallet):
    await start_private(emulator, "bob")
    await fund(wallet, XIAOMING, 30_00, pin=False)
    [line] = (await wallet.history.page((await wallet.users.get(XIAOMING)).account_id)).lines
    refused = await said(emulator, "bob", f"/dispute {line.transfer_id} not mine")
    assert "#" not in refused.text.split()[0] and "dispute" not in refused.text.lower()
    assert refused.text == (
        f"There is no transaction #{line.transfer_id} in your history."
        " Send /history to see your list."
    )
    assert (await said(emulator, "bob", "/dispute 999999")).text == refused.text.replace(
        f"#{line.transfer_id}", "#999999"
    )
    # a forged Dispute button for the same transfer is refused the same way
    detail = await said(emulator, "bob", "/start")
    alert = await forged_tap(emulator, "bob", detail, f"dsp:{line.transfer_id}")
    assert alert.data["show_alert"] and alert.text == refused.text
    assert await wallet.support.open_tickets() == []


async def test_bad_input_is_answered_plainly(emulator, wallet, caplog):
    await start_private(emulator, "bob")
    usage = await said(emulator, "bob", "/support")
    assert usage.text.startswith("Write your question after the command")
    assert (await said(emulator, "bob", "/support " + "x" * 1001)).text == (
        "The message is too long: at most 1000 characters. Nothing changed."
    )
    usage = (await said(emulator, "bob", "/dispute")).text
    assert usage.startswith("Write the transaction's number")
    assert "abc" in (await said(emulator, "bob", "/dispute abc")).text
    # /support in a group points to the private chat
    group = emulator.group
    mark = emulator.mark()
    await emulator.send_text("bob", "/support help", group)
    in_group = await emulator.wait_for_message(group, since=mark)
    assert in_group.text.startswith("Support is in our private chat only")
    assert await wallet.support.open_tickets() == []
    assert handler_errors(caplog) == []


async def test_admin_ticket_commands_and_buttons_are_refused_to_others(emulator, wallet, caplog):
    await start_private(emulator, "alice")
    await said(emulator, "bob", "/support where is my refund?")
    for command in ("/tickets", "/reply 1 hello", "/reply"):
        assert (await said(emulator, "bob", command)).text == REFUSED
    menu = await said(emulator, "bob", "/start")
    assert (await forged_tap(emulator, "bob", menu, "tk:1:c")).text == REFUSED
    assert (await forged_tap(emulator, "bob", menu, "tk:1:r")).text == REFUSED
    ticket = await wallet.support.get(1)
    assert ticket.state is TicketState.OPEN and (await wallet.support.view(1)).thread == ()
    assert handler_errors(caplog) == []


async def test_an_admins_bad_ticket_number_or_missing_text_is_answered(emulator, wallet, caplog):
    await start_private(emulator, "alice")
    for command in ("/reply", "/reply 1"):
        assert (await said(emulator, "alice", command)).text.startswith(
            "Write the ticket's number and your answer"
        )
    assert (await said(emulator, "alice", "/reply abc hello")).text == (
        "“abc” is not a ticket number. Write it as 12 or #12."
    )
    assert (await said(emulator, "alice", "/reply 77 hello")).text == "There is no ticket #77."
    admin_menu = await said(emulator, "alice", "/start")
    alert = await forged_tap(emulator, "alice", admin_menu, "tk:77:r")
    assert alert.text == "There is no ticket #77."
    # tickets hold people's words and transfers: not shown in a group
    mark = emulator.mark()
    await emulator.send_text("alice", "/tickets", emulator.group)
    in_group = await emulator.wait_for_message(emulator.group, since=mark)
    assert in_group.text.startswith("Support is in our private chat only")
    assert handler_errors(caplog) == []
    assert PROFILES[BOB].username == "bob"


async def test_a_dispute_is_answered_with_a_refund_through_the_refund_card(emulator, wallet):
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await start_private(emulator, "xiaoming")
    await fund(wallet, BOB, 50_00, pin=False)
    bob = await wallet.users.get(BOB)
    xiaoming = await wallet.users.seen(PROFILES[XIAOMING])
    paid = await wallet.ledger.transfer(
        "paid-twice", bob.account_id, xiaoming.account_id, 12_00, "transfer"
    )
    mark = emulator.mark()
    await emulator.send_text("bob", f"/dispute {paid.id} I paid 小明 twice")
    opened = await emulator.wait_for_message("bob", since=mark)
    assert opened.text.endswith("To add something, reply to this message.")  # not asked why
    assert opened.data["asked_markup"] is None
    told = await emulator.wait_for_message("alice", since=mark)
    assert [b["text"] for b in told.buttons()] == ["↩️ Reply", "✅ Close", "↩️💰 Refund"]
    assert f"#{paid.id} -¥12.00 Transfer, with 小明" in told.text.splitlines()  # whom with

    mark = emulator.mark()
    await emulator.tap("alice", told, "Refund")
    card = await emulator.wait_for_message("alice", since=mark)
    assert card.text.startswith(f"↩️ Refund of payment #{paid.id}?")
    # the dispute named, not "(none given)", nor its words (the payee reads the reason)
    assert "Reason: Dispute 🎫 #1\n" in card.text
    assert (await wallet.ledger.balance(bob.account_id)).available == 38_00  # not yet
    mark = emulator.mark()
    await emulator.tap("alice", card, "Confirm")
    await emulator.wait_for_edit(card, since=mark)
    refunded = await emulator.wait_for_message("bob", since=mark)
    assert "Reason: Dispute 🎫 #1" in refunded.text
    payee = await emulator.wait_for_message("xiaoming", since=mark)  # in their own language
    assert "原因：争议工单 🎫 #1" in payee.text and "Dispute" not in payee.text
    memos = [line.memo for line in (await wallet.history.page(xiaoming.account_id)).lines]
    assert "Dispute 🎫 #1" in memos and not [m for m in memos if "twice" in m]  # the payee's
    assert (await wallet.ledger.balance(bob.account_id)).available == 50_00
    assert (await wallet.ledger.balance(xiaoming.account_id)).available == 0
    # refunded in full: the list offers no Refund, and the old button says why
    listed = await said(emulator, "alice", "/tickets")
    assert [b["text"] for b in listed.buttons()] == ["↩️ Reply", "✅ Close"]
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("alice", told, "Refund"), since=mark)
    assert answer.data["show_alert"] and answer.text.startswith(
        f"Transaction #{paid.id} has already been refunded in full"
    )
    # a plain ticket has no Refund button
    mark = emulator.mark()
    await emulator.send_text("bob", "/support thanks")
    plain = await emulator.wait_for_message("alice", since=mark)
    assert [b["text"] for b in plain.buttons()] == ["↩️ Reply", "✅ Close"]


async def test_a_top_up_dispute_offers_no_refund_and_a_stale_refund_press_says_why(
    emulator, wallet, caplog
):
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await fund(wallet, BOB, 20_00, pin=False)
    [line] = (await wallet.history.page((await wallet.users.get(BOB)).account_id)).lines
    mark = emulator.mark()
    await emulator.send_text("bob", f"/dispute {line.transfer_id} I never made this top-up")
    told = await emulator.wait_for_message("alice", since=mark)
    assert told.text.startswith(f"🎫 #1 Dispute of transaction #{line.transfer_id}")
    assert [b["text"] for b in told.buttons()] == ["↩️ Reply", "✅ Close"]
    listed = await said(emulator, "alice", "/tickets")
    assert [b["text"] for b in listed.buttons()] == ["↩️ Reply", "✅ Close"]

    # a Refund button from elsewhere (an older message, a forged one) is answered with why
    alert = await forged_tap(emulator, "alice", listed, "tk:1:f")
    assert alert.data["show_alert"] and alert.text == (
        f"Transaction #{line.transfer_id} (Top-up) cannot be refunded: only a completed payment "
        "between people or to a merchant can."
    )
    await wallet.users.set_language(ALICE, "zh")
    listed = await said(emulator, "alice", "/tickets")
    assert [b["text"] for b in listed.buttons()] == ["↩️ 回复", "✅ 关闭"]
    alert = await forged_tap(emulator, "alice", listed, "tk:1:f")
    assert alert.text == (
        f"交易 #{line.transfer_id}（充值）不能退款：只有已完成的个人之间或付给商户的付款可以退款。"
    )
    assert (await wallet.ledger.balance((await wallet.users.get(BOB)).account_id)).available == (
        20_00
    )
    assert handler_errors(caplog) == []


def _picture() -> bytes:
    """A small screenshot (no QR code in it)."""
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_screenshot_goes_into_the_ticket_and_an_admin_can_answer_with_one(
    emulator, wallet, caplog
):
    """A photo replying to a ticket's message is part of the ticket (not a QR code to
    read): its caption joins the thread after 📷 and the photo reaches the admins; an
    admin's photo reaches the person with the answer as its caption."""
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    opened = await said(emulator, "bob", "/support My payment failed")
    assert opened.text.startswith("🎫 #1 Your ticket is open.")

    mark = emulator.mark()
    await emulator.send_photo("bob", _picture(), caption="the error", reply_to=opened)
    added = await emulator.wait_for_message("bob", since=mark)
    assert added.text.startswith("🎫 #1 Added to your ticket.")
    told = await emulator.wait_for_message("alice", since=mark, text="adds")
    assert told.text == "🎫 #1 Bob adds:\n📷 the error"
    photo = await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == ALICE and bool(e.message.photo),
        since=mark,
    )
    assert photo.message.caption == "🎫 #1 📷 Bob"
    view = await wallet.support.view(1)
    assert [m.text for m in view.thread] == ["📷 the error"]
    assert not [e for e in emulator.bot_events("message") if e.seq > mark and "QR" in e.text]

    # the admin replies to the photo itself with a photo of their own
    mark = emulator.mark()
    await emulator.send_photo("alice", _picture(), caption="Tap Retry here", reply_to=photo)
    assert (await emulator.wait_for_message("alice", since=mark)).text == (
        "🎫 #1 Your answer was sent."
    )
    answer = await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == BOB and bool(e.message.photo),
        since=mark,
    )
    assert answer.message.caption.startswith("🎫 #1 Support answers:\n📷 Tap Retry here")
    assert handler_errors(caplog) == []


async def test_a_stray_message_while_a_ticket_is_open_says_how_to_add_it(emulator, wallet):
    """A message that replies to nothing is never taken into a ticket; while one is open,
    the answer to it says how to add to it, in the person's language."""
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    plain = await said(emulator, "bob", "hello?")
    assert plain.text.startswith("I only understand commands.")
    await said(emulator, "bob", "/support My payment failed")
    stray = await said(emulator, "bob", "I can't find my red packet")
    assert stray.text.startswith("🎫 To add this to your support ticket, reply to one of its")
    assert stray.text.endswith(
        "I only understand commands. Send /help to see them, or /start for the menu."
    )
    await start_private(emulator, "xiaoming")
    await said(emulator, "xiaoming", "/support 红包找不到了")
    zh = await said(emulator, "xiaoming", "还在吗")
    assert zh.text.startswith("🎫 如要补充到你的客服工单，请回复工单的任一条消息")
    assert [t.text for t in await wallet.support.open_tickets()] == [
        "My payment failed",
        "红包找不到了",
    ]


async def test_an_admins_answer_no_longer_awaited_is_said_so(emulator, wallet):
    """Reply tapped on a ticket, then a command, or an answer to another ticket by
    replying to it: the first question ends, and the admin reads that nothing was sent."""
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    await start_private(emulator, "xiaoming")
    first = await said(emulator, "bob", "/support first")
    await said(emulator, "xiaoming", "/support second")
    one = await emulator.wait_for_message("alice", since=0, text="🎫 #1 Ticket from")
    two = await emulator.wait_for_message("alice", since=0, text="🎫 #2 Ticket from")
    assert one.text.startswith("🎫 #1") and two.text.startswith("🎫 #2")

    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", one, "Reply"), since=mark)
    await emulator.send_text("alice", "/stats")
    dropped = await emulator.wait_for_message("alice", since=mark, text="no longer awaited")
    assert dropped.text == (
        "🎫 #1 Your answer to this ticket is no longer awaited (you did something else first):"
        " nothing was sent. Tap ↩️ Reply on the ticket again to answer it."
    )

    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", one, "Reply"), since=mark)
    await emulator.send_text("alice", "On it.", reply_to=two)  # #2 answered instead
    answered = await emulator.wait_for_message("xiaoming", since=mark)
    assert answered.text.startswith("🎫 #2")
    dropped = await emulator.wait_for_message("alice", since=mark, text="no longer awaited")
    assert dropped.text.startswith("🎫 #1 Your answer to this ticket is no longer awaited")
    assert not [e for e in emulator.bot_events("message") if e.seq > mark and e.chat_id == BOB]
    assert first.text.startswith("🎫 #1")

    # Reply tapped, then the answer given as /reply to the same ticket: it was awaited
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", one, "Reply"), since=mark)
    await emulator.send_text("alice", "/reply 1 Fixed now.")
    await emulator.wait_for_message("bob", since=mark, text="Fixed now.")
    await asyncio.sleep(0.3)
    said_to_alice = [
        e.text for e in emulator.bot_events("message") if e.seq > mark and e.chat_id == ALICE
    ]
    assert said_to_alice[-1] == "🎫 #1 Your answer was sent."
    assert not [t for t in said_to_alice if "no longer awaited" in t]
