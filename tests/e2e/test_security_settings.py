"""2FA, real-name verification, bank cards and password-free payments, end to end."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.security import totp
from bot.security.cipher import field_aad

ALICE, BOB = 100_002, 100_004
ID_NUMBER = "11010519491231002X"
CARD = "4111111111111111"


async def press(emulator, user, message, keys: str) -> None:
    mark = emulator.mark()
    for key in keys:
        await emulator.tap(user, message, key)
    answered = 0
    while answered < len(keys):
        event = await emulator.wait_for(lambda e: e.kind == "callback_answer", since=mark)
        mark, answered = event.seq, answered + 1
    await emulator.settled()  # the redraws after the answers, the last one last


async def totp_secret(wallet, telegram_id: int) -> bytes:
    token, _, _ = await wallet.store.identity.get_totp(telegram_id)
    return wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", telegram_id))


async def test_2fa_setup_sends_a_qr_code_and_a_code_is_accepted_once(emulator, wallet, sandbox):
    await emulator.send_text("alice", "/2fa")
    photo = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo)
    largest = photo.message.photo[-1]
    content = sandbox.emulator.files[largest["file_id"]].content
    assert content.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(content)).size[0] >= 100
    keypad = await emulator.wait_for_message("alice", text="turn 2FA on")

    secret = await totp_secret(wallet, ALICE)
    await press(
        emulator,
        "alice",
        keypad,
        "000000" if totp.code_at(secret, time.time()) != "000000" else "111111",
    )
    assert "not right" in emulator.last_message("alice").text
    code = totp.code_at(secret, time.time())
    await press(emulator, "alice", keypad, code)
    assert emulator.last_message("alice").text.startswith("✅ Two-factor authentication is on")
    assert await wallet.two_factor.is_enabled(ALICE)

    await emulator.send_text("alice", "/2fa")
    off_keypad = await emulator.wait_for_message("alice", text="turn it off")
    await press(emulator, "alice", off_keypad, code)  # the same code again: a replay
    assert "used already" in emulator.last_message("alice").text
    assert await wallet.two_factor.is_enabled(ALICE)
    await press(emulator, "alice", off_keypad, totp.code_at(secret, time.time() + 30))
    assert emulator.last_message("alice").text == "Two-factor authentication is off."
    assert not await wallet.two_factor.is_enabled(ALICE)


async def test_turning_2fa_on_asks_for_the_pin_first_and_not_at_all_while_it_is_locked(
    emulator, wallet
):
    """2FA can reset a forgotten PIN: whoever holds an unlocked phone must not be able to
    turn it on without the PIN (nor see its secret), and then choose a PIN with it."""
    from tests.e2e.test_adminview import lock_pin
    from tests.e2e.test_send import PIN, fund

    def photos(since: int) -> list:
        return [e for e in emulator.bot_events("message") if e.seq > since and e.message.photo]

    await fund(wallet, ALICE, 10_00)
    mark = emulator.mark()
    await emulator.send_text("alice", "/2fa")
    keypad = await emulator.wait_for_message("alice", text="turn 2FA on", since=mark)
    assert keypad.text.startswith("🔐 Turning on two-factor authentication: your payment PIN")
    assert keypad.text.endswith("Enter your payment PIN to turn 2FA on:\n○○○○○○")
    assert photos(mark) == []  # no secret before the PIN
    assert (await wallet.store.identity.get_totp(ALICE))[0] is None
    await press(emulator, "alice", keypad, "000000")
    assert "Wrong PIN" in emulator.last_message("alice").text
    assert photos(mark) == []
    mark = emulator.mark()
    await press(emulator, "alice", keypad, PIN)
    qr = await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo, since=mark)
    assert qr.text.endswith("enter the 6-digit code it shows on the keypad above.")
    assert qr.seq > keypad.seq  # below the keypad, which asks for the code now:
    asking = [e for e in emulator.bot_events("edit") if e.message_id == keypad.message_id][-1]
    assert "Enter the 6-digit code from your authenticator app to turn 2FA on:" in asking.text
    secret = await totp_secret(wallet, ALICE)
    mark = emulator.mark()
    await press(emulator, "alice", keypad, totp.code_at(secret, time.time()))
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "Two-factor authentication is on" in (e.text or ""),
        since=mark,
    )
    assert done.text.startswith("✅ Two-factor authentication is on")
    await emulator.wait_for(lambda e: e.kind == "delete", since=mark)  # its QR goes

    await fund(wallet, BOB, 10_00)  # ✖ after the PIN: the QR goes, 2FA stays off
    mark = emulator.mark()
    await emulator.send_text("bob", "/2fa")
    keypad = await emulator.wait_for_message("bob", text="turn 2FA on", since=mark)
    await press(emulator, "bob", keypad, PIN)
    await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo, since=mark)
    mark = emulator.mark()
    await emulator.tap("bob", keypad, "✖")
    await emulator.wait_for(lambda e: e.kind == "delete" and e.chat_id == BOB, since=mark)
    assert not await wallet.two_factor.is_enabled(BOB)

    await lock_pin(wallet, BOB)  # locked: /2fa is refused at once, and says what to do
    mark = emulator.mark()
    await emulator.send_text("bob", "/2fa")
    refused = await emulator.wait_for_message("bob", since=mark)
    assert refused.text.startswith("Your PIN is locked until ")
    assert refused.text.endswith("Forgot your PIN? Write to /support.")
    assert not refused.message.photo and refused.buttons() == []
    mark = emulator.mark()
    await emulator.send_text("bob", "/setpin reset")  # and so no way to replace it
    assert "not on" in (await emulator.wait_for_message("bob", since=mark)).text
    assert not await wallet.two_factor.is_enabled(BOB)


async def test_2fa_off_or_on_when_it_already_is_says_so_and_starts_nothing(emulator, wallet):
    await emulator.send_text("xiaoming", "/2fa off")
    reply = await emulator.wait_for_message("xiaoming")
    assert reply.text == "双重验证未开启，请用 /2fa 开启。"
    assert not reply.message.photo and reply.buttons() == []  # no setup QR code, no keypad

    await emulator.send_text("alice", "/start")
    await emulator.wait_for_message("alice")
    await wallet.two_factor.begin_setup(ALICE, "alice")
    secret = await totp_secret(wallet, ALICE)
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))
    await emulator.send_text("alice", "/2fa on")
    reply = await emulator.wait_for_message("alice")
    assert reply.text == "Two-factor authentication is already on." and reply.buttons() == []
    assert await wallet.two_factor.is_enabled(ALICE)
    await emulator.send_text("alice", "/2fa off")
    assert "turn it off" in (await emulator.wait_for_message("alice")).text


async def test_verify_checks_the_id_number_stores_it_once_and_deletes_the_message(emulator, wallet):
    await emulator.send_text("alice", "/verify")
    assert "/verify <your name>" in (await emulator.wait_for_message("alice")).text
    await emulator.send_text("alice", "/verify 张三 110105194912310021")
    reply = await emulator.wait_for_message("alice")
    assert "typo" in reply.text
    assert await wallet.identity.tier(ALICE) == 0
    await emulator.send_text("alice", "/verify 张三 110105202512010017")  # a year old
    reply = await emulator.wait_for_message("alice")
    assert reply.text.startswith(
        "A wallet is verified with the ID number of an adult: its holder must be 18 or older."
    )
    await emulator.send_text("xiaoming", "/verify 张三 110105202512010017")
    reply = await emulator.wait_for_message("xiaoming")
    assert reply.text.startswith("实名认证须使用年满 18 周岁的本人身份证号码。")
    assert await wallet.identity.tier(ALICE) == 0

    await emulator.send_text("alice", f"/verify 张三 {ID_NUMBER.lower()}")
    reply = await emulator.wait_for_message("alice")
    assert reply.text.startswith("✅ Verified: 张*, ID 1101**********002X")
    assert not any(ID_NUMBER.lower() in (m.text or "") for m in emulator.messages("alice"))
    assert await wallet.identity.tier(ALICE) == 1

    await emulator.send_text("alice", f"/verify 张三 {ID_NUMBER}")
    assert "already verified" in (await emulator.wait_for_message("alice")).text
    await emulator.send_text("bob", f"/verify 张三 {ID_NUMBER}")
    assert "another wallet" in (await emulator.wait_for_message("bob")).text
    assert await wallet.identity.tier(BOB) == 0


async def test_a_card_is_bound_only_to_a_verified_wallet_and_shown_masked(emulator, wallet):
    await emulator.send_text("bob", f"/bindcard {CARD}")
    assert "verify your real name first" in (await emulator.wait_for_message("bob")).text
    await emulator.send_text("bob", "/verify Bob Smith 11010519491231002X")
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "/bindcard 4111 1111 1111 1112")
    assert "typo" in (await emulator.wait_for_message("bob")).text
    await emulator.send_text("bob", "/bindcard 4111 1111 1111 1111")
    reply = await emulator.wait_for_message("bob")
    assert reply.text.startswith("✅ Card **** 1111 is bound")
    assert await wallet.identity.tier(BOB) == 2
    assert await wallet.identity.card_number(BOB) == CARD
    assert not any("4111 1111 1111 1111" in (m.text or "") for m in emulator.messages("bob"))


@pytest.mark.sqlite_only
async def test_the_database_file_holds_no_plaintext_secrets(emulator, wallet, settings):
    await emulator.send_text("alice", f"/verify 张三丰 {ID_NUMBER}")
    await emulator.wait_for_message("alice")
    await emulator.send_text("alice", f"/bindcard {CARD}")
    await emulator.wait_for_message("alice")
    await emulator.send_text("alice", "/2fa")
    await emulator.wait_for_message("alice", text="turn 2FA on")
    secret = await totp_secret(wallet, ALICE)

    path = Path(settings.database_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert len(data) > 10_000
    for plaintext in (
        "张三丰".encode(),
        ID_NUMBER.encode(),
        CARD.encode(),
        secret,
        base64.b32encode(secret),
        base64.b32encode(secret).rstrip(b"="),
    ):
        assert plaintext not in data, plaintext


async def test_password_free_payments_need_the_pin_to_turn_on_and_have_caps(emulator, wallet):
    await emulator.send_text("bob", "/nopin 20")
    assert "no payment PIN yet" in (await emulator.wait_for_message("bob")).text
    await emulator.send_text("bob", "/setpin")
    keypad = await emulator.wait_for_message("bob")
    await press(emulator, "bob", keypad, "739201739201")

    await emulator.send_text("bob", "/nopin 60")
    reply = await emulator.wait_for_message("bob")
    assert "too much: the most is ¥50.00" in reply.text
    await emulator.send_text("bob", "/nopin abc")
    assert "is not an amount" in (await emulator.wait_for_message("bob")).text

    await emulator.send_text("bob", "/nopin 20 100")
    keypad = await emulator.wait_for_message("bob")
    assert keypad.text.startswith(  # what the PIN confirms, above the keypad
        "🔓 Pay without the PIN: up to ¥20.00 per payment, ¥100.00 a day?\n\n"
        "Enter your payment PIN to confirm"
    )
    assert await wallet.password_free.limits(BOB) == (0, 0)
    await press(emulator, "bob", keypad, "739201")
    assert emulator.last_message("bob").text == "✅ Password-free payments are on."
    assert await wallet.password_free.limits(BOB) == (20_00, 100_00)

    await emulator.send_text("bob", "/nopin")
    assert (
        "up to ¥20.00 per payment, ¥100.00 a day" in (await emulator.wait_for_message("bob")).text
    )
    await emulator.send_text("bob", "/nopin off")
    await emulator.wait_for_message("bob")
    assert await wallet.password_free.limits(BOB) == (0, 0)


async def test_security_commands_in_a_group_point_to_the_private_chat(emulator, wallet):
    await emulator.send_text(
        "alice", f"/verify@wallet_sandbox_bot 张三 {ID_NUMBER}", emulator.group
    )
    reply = await emulator.wait_for_message(emulator.group)
    assert "private chat" in reply.text
    assert await wallet.identity.tier(ALICE) == 0


async def test_a_forgotten_pin_is_reset_with_a_2fa_code_even_when_locked(emulator, wallet):
    from bot.domain.security_errors import PinLocked, PinWrong
    from bot.domain.users import Profile

    await emulator.send_text("bob", "/setpin reset")
    assert "2FA" in (await emulator.wait_for_message("bob")).text  # no 2FA: no reset

    await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"), private_chat=True)
    await wallet.pins.set_pin(BOB, "739201")
    await wallet.two_factor.begin_setup(BOB, "bob")
    secret = await totp_secret(wallet, BOB)
    await wallet.two_factor.confirm_setup(BOB, totp.code_at(secret, time.time() - 30))
    for _ in range(4):
        try:
            await wallet.pins.verify(BOB, "000000")
        except PinWrong:
            pass
    try:
        await wallet.pins.verify(BOB, "000000")
    except PinLocked:
        pass
    assert (await wallet.store.security.get_pin(BOB)).state.is_locked(wallet.store.now_ms())

    await emulator.send_text("bob", "/setpin reset")
    keypad = await emulator.wait_for_message("bob")
    assert keypad.text.startswith("Forgot your PIN?")
    await press(emulator, "bob", keypad, totp.code_at(secret, time.time()))
    assert emulator.last_message("bob").text.startswith("Choose a 6-digit payment PIN:")
    await press(emulator, "bob", keypad, "480613480613")
    assert emulator.last_message("bob").text.startswith("✅")
    await wallet.pins.verify(BOB, "480613")
    assert "pin.reset" in [e.event async for e in wallet.store.security.events()]
