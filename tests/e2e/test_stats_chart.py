"""/stats sends a chart of the last 30 days after its figures: money moved by kind and
new users per day; an empty wallet gets an empty chart, not an error."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.render.activity_chart import HEIGHT, WIDTH
from tests.e2e.test_send import BOB, PROFILES, XIAOMING


async def _chart(emulator, sandbox, chat="alice"):
    mark = emulator.mark()
    await emulator.send_text("alice", "/stats", None if chat == "alice" else chat)
    figures = await emulator.wait_for(lambda e: e.kind == "message", since=mark)
    photo = await emulator.wait_for(
        lambda e: e.kind == "message" and e.message.photo, since=figures.seq
    )
    content = sandbox.emulator.files[photo.message.photo[-1]["file_id"]].content
    return figures, photo, Image.open(io.BytesIO(content))


def _colours(image: Image.Image) -> set:
    return {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}


async def test_stats_sends_a_chart_after_the_figures(emulator, wallet, sandbox):
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    xiaoming = await wallet.users.seen(PROFILES[XIAOMING])
    bob = await wallet.users.seen(PROFILES[BOB])
    await wallet.ledger.transfer("t1", external, xiaoming.account_id, 100_00, "topup")
    await wallet.ledger.transfer("t2", xiaoming.account_id, bob.account_id, 40_00, "transfer")

    figures, photo, image = await _chart(emulator, sandbox)
    assert figures.text.startswith("📊 Wallet statistics")
    assert photo.seq > figures.seq  # after the text
    assert photo.text == "The last 30 days"
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    assert {(229, 57, 53), (251, 140, 0)} <= _colours(image)  # two kinds' bars
    assert (21, 101, 192) in _colours(image)  # the new users' bars


async def test_an_empty_wallet_draws_an_empty_chart(emulator, wallet, sandbox):
    figures, _, image = await _chart(emulator, sandbox)
    assert "Users: 1" in figures.text  # the admin who asked
    assert image.size == (WIDTH, HEIGHT)
    assert (229, 57, 53) not in _colours(image)  # no money moved: no bars
    assert not emulator.errors()


async def test_stats_in_a_group_shows_neither_figures_nor_chart_there(emulator, wallet, sandbox):
    await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    mark = emulator.mark()
    await emulator.send_text("alice", "/stats", emulator.group)
    pointer = await emulator.wait_for_message(emulator.group, since=mark)
    assert pointer.text == (
        "Admin information is shown in our private chat only: https://t.me/wallet_sandbox_bot"
    )
    await asyncio.sleep(0.3)  # the outbox would have sent a chart by now
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert said == [pointer]
    figures, photo, image = await _chart(emulator, sandbox)  # in private, as ever
    assert figures.chat_id == photo.chat_id != emulator.group.id
    assert image.size == (WIDTH, HEIGHT)
