"""The emulator speaks the Bot API wire protocol: the real python-telegram-bot against it."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from bot.sandbox import start_sandbox
from bot.sandbox.testing import make_bot

ALICE, XIAOMING = 100_002, 100_001


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def bot(sandbox):
    async with make_bot(sandbox) as bot:
        yield bot


async def until_polled(emulator, polls: int = 1) -> None:
    """Wait until the emulator has received ``polls`` getUpdates calls."""
    async with asyncio.timeout(5):
        while emulator.poll_generation < polls:
            await emulator.update_pulse.wait(5)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


async def test_get_me_describes_the_sandbox_bot(bot, sandbox):
    me = await bot.get_me()
    assert me.is_bot and me.username == "wallet_sandbox_bot"
    assert me.id == int(sandbox.token.split(":")[0])
    assert me.supports_inline_queries is True
    assert me.api_kwargs == {}  # no field PTB does not know


async def test_wrong_token_is_unauthorized_with_telegrams_body(sandbox):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sandbox.url}/bot123:wrong/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        url = f"{sandbox.url}/bot{sandbox.token}/noSuchMethod"
        async with session.post(url) as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"
    wrong = Bot("123:" + "x" * 35, base_url=sandbox.bot_api_url)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await wrong.initialize()
    await wrong.shutdown()


async def test_json_bodies_are_accepted_as_well_as_forms(sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    url = f"{sandbox.url}/bot{sandbox.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"chat_id": ALICE, "text": "json"}) as response:
            body = await response.json()
    assert body["ok"] is True
    assert body["result"]["text"] == "json" and body["result"]["chat"]["id"] == ALICE


async def test_send_then_edit_message_and_identical_edit_is_not_modified(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    sent = await bot.send_message(ALICE, "Balance: ¥1.00", reply_markup=keyboard(("Refresh", "r")))
    assert sent.message_id > 0 and sent.from_user.id == bot.id and sent.chat.id == ALICE
    edited = await bot.edit_message_text(
        "Balance: ¥2.00", ALICE, sent.message_id, reply_markup=keyboard(("Refresh", "r"))
    )
    assert edited.text == "Balance: ¥2.00" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Balance: ¥2.00", ALICE, sent.message_id, reply_markup=keyboard(("Refresh", "r"))
        )
    stored = sandbox.emulator.last_message("alice")
    assert stored.text == "Balance: ¥2.00"
    # editing without reply_markup removes the keyboard, as on Telegram
    await bot.edit_message_text("Balance: ¥3.00", ALICE, sent.message_id)
    assert sandbox.emulator.last_message("alice").reply_markup is None


async def test_html_becomes_text_and_entities_and_bad_html_is_refused(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    sent = await bot.send_message(ALICE, "余额 <b>¥12.34</b> &amp; <i>more</i>", parse_mode="HTML")
    assert sent.text == "余额 ¥12.34 & more"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 3, 6),
        ("italic", 12, 4),
    ]
    with pytest.raises(BadRequest, match="Can't parse entities: unsupported start tag"):
        await bot.send_message(ALICE, "<blink>hi</blink>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="reserved and must be escaped"):
        await bot.send_message(ALICE, "Total: 1.50", parse_mode="MarkdownV2")


async def test_text_must_have_one_to_4096_characters(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE, "   ")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, "字" * 4097)
    sent = await bot.send_message(ALICE, "字" * 4096)
    assert len(sent.text) == 4096


async def test_callback_data_longer_than_64_bytes_is_refused(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ALICE, "pick", reply_markup=keyboard(("Too long", "x" * 65)))
    # 64 bytes are fine, counted in UTF-8 bytes, not characters
    await bot.send_message(ALICE, "pick", reply_markup=keyboard(("Ok", "x" * 64)))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ALICE, "pick", reply_markup=keyboard(("字", "字" * 22)))
    assert [e.data["description"] for e in sandbox.emulator.errors()] == [
        "Bad Request: BUTTON_DATA_INVALID",
        "Bad Request: BUTTON_DATA_INVALID",
    ]


async def test_long_polling_delivers_a_command_with_its_entity_and_honours_offset(bot, sandbox):
    emulator = sandbox.emulator
    await emulator.send_text("alice", "/balance", emulator.group)
    await emulator.send_text("bob", "/hb@wallet_sandbox_bot 10 3", emulator.group)
    await emulator.send_text("bob", "just chatting", emulator.group)  # privacy mode: unseen
    await emulator.send_text("bob", "/start@some_other_bot", emulator.group)  # not for us
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["/balance", "/hb@wallet_sandbox_bot 10 3"]
    command = updates[1].message
    assert command.chat.type == "supergroup" and command.chat.id < 0
    assert command.from_user.username == "bob"
    assert [(e.type, e.offset, e.length) for e in command.entities] == [
        ("bot_command", 0, len("/hb@wallet_sandbox_bot"))
    ]
    assert updates[1].update_id == updates[0].update_id + 1
    # the same updates come again until confirmed by a higher offset
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [u.update_id for u in updates]
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot, sandbox):
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await until_polled(sandbox.emulator)
    await asyncio.sleep(0)
    assert not poll.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sandbox.emulator.send_text("xiaoming", "你好")
    updates = await asyncio.wait_for(poll, 5)
    assert loop.time() - started < 2
    assert updates[0].message.text == "你好"
    assert updates[0].message.from_user.language_code == "zh-hans"


async def test_long_poll_times_out_empty(bot):
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= loop.time() - started < 3


async def test_callback_query_is_answered_once_and_answer_text_is_limited(bot, sandbox):
    emulator = sandbox.emulator
    await emulator.send_text("alice", "/start")
    sent = await bot.send_message(ALICE, "grab?", reply_markup=keyboard(("抢 Grab", "grab:1")))
    query_id = await emulator.tap("alice", sent, "Grab")
    update = (await bot.get_updates(timeout=1))[-1]
    query = update.callback_query
    assert query.id == query_id and query.data == "grab:1"
    assert query.from_user.id == ALICE and query.message.message_id == sent.message_id
    assert query.chat_instance
    with pytest.raises(BadRequest, match="Message_too_long"):
        await query.answer("x" * 201)
    assert await query.answer("You got ¥3.21", show_alert=True) is True
    answer = await emulator.wait_for_answer(query_id)
    assert answer.text == "You got ¥3.21" and answer.data["show_alert"] is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("again")


async def test_callback_query_answered_too_late_is_refused(bot, sandbox):
    emulator = sandbox.emulator
    emulator.callback_timeout = 0.0
    await emulator.send_text("alice", "/start")
    sent = await bot.send_message(ALICE, "tap", reply_markup=keyboard(("Tap", "t")))
    await emulator.tap("alice", sent, "Tap")
    query = (await bot.get_updates(timeout=1))[-1].callback_query
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer()


def png(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_photo_upload_round_trips_through_get_file_and_download(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/paycode")
    content = png()
    sent = await bot.send_photo(ALICE, content, caption="<b>Pay code</b>", parse_mode="HTML")
    assert sent.caption == "Pay code" and sent.caption_entities[0].type == "bold"
    largest = sent.photo[-1]
    assert (largest.width, largest.height) == (300, 200)
    assert sent.photo[0].width <= 90  # a thumbnail comes first, as on Telegram
    file = await bot.get_file(largest.file_id)
    assert file.file_size == len(content)
    assert bytes(await file.download_as_bytearray()) == content
    again = await bot.send_photo(ALICE, largest.file_id)  # resending by file_id
    assert again.photo[-1].file_unique_id == largest.file_unique_id
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(ALICE, b"not a picture")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(ALICE, "no-such-file-id")


async def test_user_photo_reaches_the_bot_and_can_be_downloaded(bot, sandbox):
    content = png(120, 120)
    await sandbox.emulator.send_photo("alice", content, caption="pay this")
    message = (await bot.get_updates(timeout=1))[-1].message
    assert message.caption == "pay this"
    file = await message.photo[-1].get_file()
    assert bytes(await file.download_as_bytearray()) == content


async def test_document_upload_keeps_its_name_and_bytes(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/statement")
    sent = await bot.send_document(ALICE, b"date,amount\n", filename="statement.csv")
    assert sent.document.file_name == "statement.csv"
    assert sent.document.mime_type == "text/csv"
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"date,amount\n"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_group_gets_429_with_retry_after_past_its_message_limit(bot, sandbox):
    emulator = sandbox.emulator
    emulator.group_rate_limit = 3
    group = emulator.group.id
    for n in range(3):
        await bot.send_message(group, f"packet update {n}")
    with pytest.raises(RetryAfter, match=r"Retry in (60|59|58) seconds"):
        await bot.send_message(group, "one too many")
    error = emulator.errors()[-1]
    assert error.data["code"] == 429
    assert error.data["description"].startswith("Too Many Requests: retry after ")
    await emulator.send_text("alice", "/start")
    await bot.send_message(ALICE, "private chats are not limited by the group rule")
    emulator.group_rate_limit = None
    await bot.send_message(group, "limit turned off")


async def test_raw_429_body_carries_retry_after_in_parameters(sandbox):
    sandbox.emulator.group_rate_limit = 0
    url = f"{sandbox.url}/bot{sandbox.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data={"chat_id": sandbox.emulator.group.id, "text": "x"}) as r:
            body = await r.json()
    assert r.status == 429
    assert body["error_code"] == 429
    assert body["parameters"]["retry_after"] >= 1
    assert (
        body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
    )


async def test_bot_cannot_write_first_to_a_user_or_to_one_who_blocked_it(bot, sandbox):
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(XIAOMING, "hello")
    await sandbox.emulator.send_text("xiaoming", "/start")
    await bot.send_message(XIAOMING, "hello")
    sandbox.emulator.block_bot("xiaoming")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(XIAOMING, "still there?")
    update = (await bot.get_updates(timeout=0))[-1]
    assert update.my_chat_member.new_chat_member.status == "kicked"


async def test_unknown_chat_and_missing_message_are_bad_requests(bot, sandbox):
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(42, "anyone?")
    await sandbox.emulator.send_text("alice", "/start")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ALICE, 999)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ALICE, 999)


async def test_delete_message_removes_it_from_the_chat(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    sent = await bot.send_message(ALICE, "PIN keypad")
    assert await bot.delete_message(ALICE, sent.message_id) is True
    assert sandbox.emulator.last_message("alice") is None
    deleted = await sandbox.emulator.wait_for(lambda e: e.kind == "delete", since=0)
    assert deleted.message_id == sent.message_id


async def test_invoice_is_paid_through_pre_checkout_and_successful_payment(bot, sandbox):
    emulator = sandbox.emulator
    await emulator.send_text("alice", "/topup 12.34")
    await bot.get_updates(timeout=0)
    sent = await bot.send_invoice(
        ALICE,
        "Top-up",
        "Add ¥12.34 to your wallet",
        "topup:abc",
        "CNY",
        [LabeledPrice("Top-up", 1234)],
        provider_token="sandbox-provider",
    )
    assert sent.invoice.total_amount == 1234 and sent.invoice.currency == "CNY"
    payment = asyncio.create_task(emulator.pay_invoice("alice", sent))
    updates = await bot.get_updates(offset=-1, timeout=5)
    query = updates[-1].pre_checkout_query
    assert query.invoice_payload == "topup:abc" and query.total_amount == 1234
    assert query.from_user.id == ALICE
    assert await query.answer(ok=True) is True
    result = await asyncio.wait_for(payment, 5)
    assert result.ok
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=5)
    paid = updates[-1].message.successful_payment
    assert paid.telegram_payment_charge_id == result.telegram_payment_charge_id
    assert paid.provider_payment_charge_id == result.provider_payment_charge_id
    assert (paid.total_amount, paid.invoice_payload) == (1234, "topup:abc")
    with pytest.raises(ValueError, match="paid already"):
        await emulator.pay_invoice("alice", sent)


async def test_each_payment_has_its_own_charge_id_and_a_decline_takes_nothing(bot, sandbox):
    emulator = sandbox.emulator
    await emulator.send_text("alice", "/topup")
    charges = set()
    for accept in (True, True, False):
        sent = await bot.send_invoice(
            ALICE, "Top-up", "desc", "p", "XTR", [LabeledPrice("Stars", 50)]
        )
        paying = asyncio.create_task(emulator.pay_invoice("alice", sent))
        query = (await bot.get_updates(offset=-1, timeout=5))[-1].pre_checkout_query
        if accept:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="Top-ups are paused")
        result = await asyncio.wait_for(paying, 5)
        assert result.ok is accept
        if accept:
            charges.add(result.telegram_payment_charge_id)
        else:
            assert result.error_message == "Top-ups are paused"
    assert len(charges) == 2
    receipts = [m for m in emulator.messages("alice") if m.successful_payment]
    assert len(receipts) == 2


async def test_invoice_needs_a_provider_token_unless_paid_in_stars(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/topup")
    with pytest.raises(BadRequest, match="Payment_provider_invalid"):
        await bot.send_invoice(ALICE, "T", "d", "p", "CNY", [LabeledPrice("x", 100)])


async def test_second_concurrent_get_updates_ends_the_first_with_conflict(bot, sandbox):
    from telegram.error import Conflict

    first = asyncio.create_task(bot.get_updates(timeout=10))
    await until_polled(sandbox.emulator)
    async with make_bot(sandbox) as second_instance:
        second = asyncio.create_task(second_instance.get_updates(timeout=0))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 5)
        assert await second == ()


async def test_commands_are_stored_per_scope_and_language(bot):
    from telegram import BotCommand, BotCommandScopeAllGroupChats

    await bot.set_my_commands([BotCommand("balance", "余额")], language_code="zh")
    await bot.set_my_commands(
        [BotCommand("hb", "Red packet")], scope=BotCommandScopeAllGroupChats()
    )
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["balance"]
    groups = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())
    assert [c.command for c in groups] == ["hb"]
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    await bot.delete_my_commands(language_code="zh")
    assert await bot.get_my_commands(language_code="zh") == ()


async def test_chat_and_member_information(bot, sandbox):
    group = sandbox.emulator.group
    info = await bot.get_chat(group.id)
    assert (info.title, info.type) == ("Neighbourhood", "supergroup")
    owner = await bot.get_chat_member(group.id, XIAOMING)
    assert owner.status == "creator"
    assert (await bot.get_chat_member(group.id, 100_004)).status == "member"
    me = await bot.get_chat_member(group.id, bot.id)
    assert me.status == "member"
    outsider = sandbox.emulator.add_user("Carol", "carol")
    assert (await bot.get_chat_member(group.id, outsider.id)).status == "left"
    assert await bot.get_chat_member_count(group.id) == 5
    assert await bot.send_chat_action(group.id, "typing") is True


async def test_methods_the_sandbox_does_not_emulate_say_so(bot, sandbox):
    await sandbox.emulator.send_text("alice", "/start")
    with pytest.raises(BadRequest, match=r"(?i)the sandbox does not emulate senddice"):
        await bot.send_dice(ALICE)


async def test_wait_for_names_what_the_bot_did_when_nothing_matches(bot, sandbox):
    emulator = sandbox.emulator
    await emulator.send_text("alice", "/start")
    await bot.send_message(ALICE, "Welcome")
    with pytest.raises(TimeoutError, match="the bot did: message chat=100002 text='Welcome'"):
        await emulator.wait_for_message("alice", text="Balance", timeout=0.2)
    found = await emulator.wait_for_message("alice", text="Welcome", timeout=0.2)
    assert found.message.text == "Welcome"
    await emulator.send_text("alice", "/again")  # later waits ignore earlier replies
    with pytest.raises(TimeoutError):
        await emulator.wait_for_message("alice", text="Welcome", timeout=0.2)
