"""/user: one wallet as an admin sees it, personal data masked; refused to others, bad
input answered, 2FA first for an admin who enabled it, and every look logged."""

from __future__ import annotations

import time

import pytest

from bot.app import build_application
from bot.domain.security_errors import PinLocked, PinWrong
from bot.security import totp
from bot.security.cipher import field_aad
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.wallet.merchants import PayTarget
from tests.e2e.test_packet_history import send_packet_zh
from tests.e2e.test_redpacket import fen_of
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    XIAOMING,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

ID_NUMBER = "11010519491231002X"
# an admin trying one malformed name after another types faster than any person
QUICK_ADMIN = RateLimits(
    command_user=BucketLimit(1_000, 1_000), callback_user=BucketLimit(1_000, 1_000)
)


@pytest.fixture
def application(settings, wallet):
    return build_application(settings, wallet=wallet, rate_limits=QUICK_ADMIN)


CARD = "4111111111111111"  # Luhn-valid


async def ask(emulator, text: str, who: str = "alice") -> str:
    await emulator.send_text(who, text)
    return (await emulator.wait_for_message(who)).text


async def lock_pin(wallet, telegram_id: int) -> None:
    for _ in range(5):
        try:
            await wallet.pins.verify(telegram_id, "000000")
        except (PinWrong, PinLocked):
            continue


async def test_user_shows_the_wallet_with_its_risk_and_personal_data_masked(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(XIAOMING, "张三丰", ID_NUMBER)
    await wallet.identity.bind_card(XIAOMING, CARD)
    await start_private(emulator, "alice")
    await emulator.send_text("xiaoming", "/send @bob 1500")  # a new wallet moving much: held
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    assert (await enter_pin(emulator, "xiaoming", card)).text.startswith("⏳")
    await emulator.wait_for_message("alice", text="Held payment")
    await lock_pin(wallet, XIAOMING)
    await wallet.store.support.open_ticket(XIAOMING, "为什么被暂扣？", ())

    text = await ask(emulator, "/user @xiaoming")
    assert text.startswith("👤 小明 · @xiaoming · id 100001")
    assert "Balance: ¥1,500.00 · reserved (pending): ¥1,500.00" in text
    assert "Status: active" in text
    assert "Verification: real name and bank card verified" in text
    assert "Real name: 张** · ID number: 1101**********002X" in text
    assert "Bank card: **** 1111" in text
    assert "held payments 1 (1 waiting for review) · PIN lockouts 1" in text
    assert "PIN locked now: yes · 2FA: no · password-free: no" in text
    assert "Open support tickets: 1" in text
    assert "Latest transactions:" in text and "#1" in text
    assert "🏪" not in text  # runs no shop
    # never a full number, nor the full name
    assert ID_NUMBER not in text and CARD not in text and "张三丰" not in text
    events = [(e.event, e.actor_id, e.subject_id) async for e in wallet.store.security.events()]
    assert ("admin.view_user", ALICE, XIAOMING) in events


async def test_user_by_id_shows_a_frozen_empty_wallet(emulator, wallet):
    bob = await wallet.users.seen(PROFILES[BOB])
    await wallet.ledger.freeze(bob.account_id)
    text = await ask(emulator, f"/user {BOB}")
    assert "Balance: ¥0.00 · reserved (pending): ¥0.00" in text
    assert "Status: ❄️ frozen" in text and "Verification: not verified" in text
    assert "Real name" not in text and "Bank card" not in text
    assert "Open support tickets: 0" in text
    assert text.endswith("No transactions yet.")
    # typed on a Chinese keyboard: a full-width ＠ and full-width digits
    assert await ask(emulator, "/user ＠ｂｏｂ") == text
    assert await ask(emulator, f"/user {str(BOB).translate(FULL_WIDTH)}") == text


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


async def test_user_answers_bad_input_in_the_admins_language(emulator, wallet):
    usage = "Write it as /user @username or /user 123456789"
    assert (await ask(emulator, "/user")).startswith(usage)
    assert (await ask(emulator, "/user @bob @alice")).startswith(usage)
    assert (await ask(emulator, "/user @nobody_known")).startswith(
        "No wallet is known as @nobody_known."
    )
    long_name = "@" + "x" * 4000
    assert len(await ask(emulator, f"/user {long_name}")) < 200  # quoted back in part
    for malformed in ("@@", "12ab", "-5", "0", "9" * 40, "１２３", "@a"):
        assert (await ask(emulator, f"/user {malformed}")).startswith("No wallet is known as")
    await wallet.users.set_language(ALICE, "zh")
    assert (await ask(emulator, "/user")).startswith("用法：/user @用户名")
    assert (await ask(emulator, "/user @nobody_known")).startswith("没有名为 @nobody_known 的钱包")
    events = [e.event async for e in wallet.store.security.events()]
    assert "admin.view_user" not in events  # nothing was shown, nothing logged as seen


async def test_user_is_refused_to_others_and_kept_out_of_groups(emulator, wallet):
    await wallet.users.seen(PROFILES[BOB])
    assert await ask(emulator, "/user @alice", "bob") == (
        "This command is for the wallet's admins only."
    )
    await emulator.send_text("alice", "/user @bob", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert reply.text.startswith("A wallet's details are shown in our private chat only")
    assert "Balance" not in reply.text
    events = [e.event async for e in wallet.store.security.events()]
    assert "admin.view_user" not in events


async def test_an_admin_with_2fa_enters_a_code_before_seeing_a_wallet(emulator, wallet):
    await start_private(emulator, "alice")
    await wallet.users.seen(PROFILES[BOB])
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    await emulator.send_text("alice", "/user @bob")
    keypad = await emulator.wait_for_message("alice")
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert "Balance" not in keypad.text
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    shown = await emulator.wait_for(
        lambda e: e.kind == "edit" and "Balance" in (e.text or ""), since=mark
    )
    assert shown.text.startswith("👤 Bob · @bob · id 100004")
    assert "2FA: no" in shown.text
    events = [(e.event, e.actor_id, e.subject_id) async for e in wallet.store.security.events()]
    assert events.count(("admin.view_user", ALICE, BOB)) == 1


async def test_user_names_red_packets_as_their_owner_reads_them(emulator, wallet):
    await fund(wallet, XIAOMING, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "alice")
    posted = await send_packet_zh(emulator, "/redpacket 6 1 新年快乐")
    query_id = await emulator.tap("bob", posted, "抢红包")  # the sender's words
    assert fen_of((await emulator.wait_for_answer(query_id)).text) == 6_00

    ming, bob = await ask(emulator, "/user @xiaoming"), await ask(emulator, "/user @bob")
    assert "  Red packet to Neighbourhood  -¥6.00  #" in ming  # the group's title
    assert "  Red packet from 小明  +¥6.00  #" in bob
    await wallet.users.set_language(ALICE, "zh")
    ming, bob = await ask(emulator, "/user @xiaoming"), await ask(emulator, "/user @bob")
    assert "  发到「Neighbourhood」的红包  -¥6.00  #" in ming
    assert "  来自 小明 的红包  +¥6.00  #" in bob
    for text in (ming, bob):  # the escrow that held the money is not what the admin reads
        assert "红包资金池" not in text and "Red packet pool" not in text


async def test_user_shows_the_shop_its_person_runs(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    shop = await wallet.merchants.add(ALICE, owner, "小明面馆", "food")
    paid = await wallet.merchants.pay("p1", BOB, PayTarget(shop.id, 8_00), authenticated=True)
    assert paid.payment is not None, paid
    await start_private(emulator, "alice")
    text = await ask(emulator, "/user @xiaoming")
    assert "🏪 Runs shop #1 小明面馆 (food): ¥8.00 in its account (/merchants)" in text
