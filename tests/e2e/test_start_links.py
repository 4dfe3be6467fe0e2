"""``/start <payload>``: each feature answers its own links; any other link, or one whose
thing is gone, gets the menu with a note that the link is not valid."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PROVIDER_TOKEN
from tests.e2e.test_send import ALICE, BOB, PROFILES, fund

BAD_LINK = "This link is not valid or has expired. Here is your wallet menu instead."

@pytest.fixture
def provider_token() -> str | None:
    """Telegram Payments set up, as in the sandbox: the menu has its Top up button."""
    return PROVIDER_TOKEN


# the /start menu: every feature a tap away (bot.handlers.start.MENU_ROWS)
MENU_EN = [
    *("💰 Balance", "➕ Top up", "💸 Send", "📥 Request (QR)", "🧧 Red packet"),
    *("👥 Split a bill", "📷 Scan to pay", "🧾 History", "📄 Statement", "🏦 Withdraw"),
    *("🎁 Coupons & more", "🔐 Security", "🌐 中文", "❓ Help", "🎫 Support"),
]


def buttons(event) -> list[str]:
    markup = event.data.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


@pytest.mark.parametrize(
    "payload",
    [
        "hello",  # no feature's link
        "pay_",  # a request link without its token
        "pay_NoSuchRequest00",
        "rp_NoSuchPacket",
        "confirm_NoSuchCard",
        "confirm_",
        "PAY_abc",  # prefixes are what the bot writes, exactly
    ],
)
async def test_an_unknown_or_dead_link_shows_the_menu_and_says_so(emulator, payload):
    await emulator.send_text("bob", f"/start {payload}")
    reply = await emulator.wait_for_message("bob")
    note, welcome = reply.text.split("\n\n", 1)
    assert note == BAD_LINK
    assert welcome.startswith("Welcome to the community wallet, Bob!")  # a first visit
    assert buttons(reply) == MENU_EN


async def test_a_dead_link_on_a_later_visit_welcomes_back_in_chinese(emulator):
    await emulator.send_text("xiaoming", "/start")
    await emulator.wait_for_message("xiaoming")
    await emulator.send_text("xiaoming", "/start rp_gone")
    reply = await emulator.wait_for_message("xiaoming")
    assert reply.text.startswith("此链接无效或已过期。这是你的钱包菜单。\n\n欢迎回来")


async def test_a_card_link_opened_by_someone_else_shows_them_nothing_of_it(emulator, wallet):
    await fund(wallet, BOB, 20_00)  # Bob never opened the private chat: the card waits
    said = await emulator.send_text("alice", "hello", emulator.group)
    await emulator.send_text("bob", "/send 2", emulator.group, reply_to=said)
    note = await emulator.wait_for_message(emulator.group)
    payload = note.buttons()[0]["url"].split("start=", 1)[1]
    assert payload.startswith("confirm_")

    await emulator.send_text("alice", f"/start {payload}")
    reply = await emulator.wait_for_message("alice")
    assert reply.text.startswith(BAD_LINK)
    assert "¥2.00" not in reply.text

    await emulator.send_text("bob", f"/start {payload}")  # its owner still gets the card
    card = await emulator.wait_for_message("bob")
    assert card.text == "Tip Alice ¥2.00?"


async def test_a_link_sent_in_a_group_points_to_the_private_chat(emulator, wallet):
    await wallet.users.seen(PROFILES[ALICE])
    await emulator.send_text("alice", "/start@wallet_sandbox_bot pay_abc", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert reply.text.startswith("Commands in groups:")
    assert BAD_LINK not in reply.text
