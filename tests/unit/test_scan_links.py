"""Which scanned texts are this bot's links, and the payload they carry."""

import pytest

from bot.handlers.scan import link_payload

BOT = "wallet_sandbox_bot"


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("https://t.me/wallet_sandbox_bot?start=pay_abc", "pay_abc"),
        ("https://t.me/Wallet_Sandbox_Bot?start=pc_123", "pc_123"),  # usernames ignore case
        ("http://telegram.me/wallet_sandbox_bot/?start=pay_x", "pay_x"),
        (" https://t.me/wallet_sandbox_bot?start=pay_x\n", "pay_x"),
        ("https://t.me/other_bot?start=pay_abc", None),  # another bot's link
        ("https://example.com/wallet_sandbox_bot?start=pay_abc", None),
        ("tg://resolve?domain=wallet_sandbox_bot&start=pay_abc", None),
        ("https://t.me/wallet_sandbox_bot", None),  # no payload
        ("WIFI:S:home;T:WPA;P:secret;;", None),
        ("123456789012345678", None),
        ("http://[::1", None),  # not even a URL
    ],
)
def test_only_this_bots_links_carry_a_payload(text, payload):
    assert link_payload(text, BOT) == payload
