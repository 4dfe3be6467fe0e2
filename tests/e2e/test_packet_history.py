"""Red packets in /history and /statement through the real application and the emulator:
a grabber's line names the packet's sender, the sender's names where the packet went (the
group by its title, as plain text), in English and in Chinese."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace

import pytest

from tests.e2e.test_redpacket import fen_of, grab, send_packet
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

LINE = re.compile(r"^\d\d-\d\d \d\d:\d\d  (.+)  (\S+)  #(\d+)$")


async def ask(emulator, user: str, text: str):
    await emulator.send_text(user, text)
    return await emulator.wait_for_message(user)


async def history(emulator, user: str) -> list[tuple[str, str]]:
    """(what, amount) of each line of the user's newest history page."""
    page = await ask(emulator, user, "/history")
    return [(m[1], m[2]) for m in map(LINE.match, page.text.splitlines()) if m is not None]


async def send_packet_zh(emulator, command: str):
    """小明 sends ``command`` in the group and confirms it (his buttons speak Chinese)."""
    await emulator.send_text("xiaoming", command, emulator.group)
    card = await emulator.wait_for_message("xiaoming")
    mark = emulator.mark()
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    await enter_pin(emulator, "xiaoming", card)
    return await emulator.wait_for_message(emulator.group, text="🧧", since=mark)


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


@pytest.mark.both_back_ends
async def test_a_grabber_sees_who_sent_the_packet_and_the_sender_where_it_went(emulator, wallet):
    await fund(wallet, ALICE, 100_00)
    await start_private(emulator, "alice")
    _, posted = await send_packet(emulator, "/redpacket 10 2 Happy New Year")
    ming = fen_of(await grab(emulator, "xiaoming", posted))
    bob = fen_of(await grab(emulator, "bob", posted))
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "bob")

    assert await history(emulator, "xiaoming") == [("来自 Alice 的红包", f"+{yuan(ming)}")]
    assert await history(emulator, "bob") == [("Red packet from Alice", f"+{yuan(bob)}")]
    sent, topup = await history(emulator, "alice")
    assert sent == ("Red packet to Neighbourhood", "-¥10.00")  # the group's title
    assert topup == ("Top-up · Bank / payment gateway", "+¥100.00")

    page = await ask(emulator, "xiaoming", "/history")
    transfer_id = page.text.splitlines()[1].rsplit("#", 1)[1]
    detail = await ask(emulator, "xiaoming", f"/history {transfer_id}")
    assert "付款方：来自 Alice 的红包" in detail.text and "收款方：小明（你）" in detail.text


async def test_a_chinese_sender_an_exclusive_packet_and_a_refund(emulator, wallet):
    await wallet.users.seen(PROFILES[BOB])
    await fund(wallet, XIAOMING, 50_00)
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "alice")
    posted = await send_packet_zh(emulator, "/redpacket 6 3 新年快乐")
    query_id = await emulator.tap("alice", posted, "抢红包")  # the sender's words
    got = fen_of((await emulator.wait_for_answer(query_id)).text)
    await send_packet_zh(emulator, "/redpacket_for @bob 2 for you")

    assert await history(emulator, "alice") == [("Red packet from 小明", f"+{yuan(got)}")]
    assert (await history(emulator, "xiaoming"))[:2] == [
        ("发给 Bob 的红包", "-¥2.00"),
        ("发到「Neighbourhood」的红包", "-¥6.00"),
    ]

    wallet.redpackets.limits = replace(wallet.redpackets.limits, expiry_s=1)
    await send_packet_zh(emulator, "/redpacket 1 2")
    await emulator.wait_for_message("xiaoming", text="已过期", timeout=10)  # refunded
    assert (await history(emulator, "xiaoming"))[0] == ("红包退款", "+¥1.00")


async def test_the_statement_csv_names_the_packet_like_the_history(emulator, wallet):
    await fund(wallet, ALICE, 100_00)
    await start_private(emulator, "alice")
    _, posted = await send_packet(emulator, "/redpacket 4 1")
    await grab(emulator, "xiaoming", posted)
    await start_private(emulator, "xiaoming")

    for user, counterparty in (
        ("xiaoming", "来自 Alice 的红包"),
        ("alice", "Red packet to Neighbourhood"),
    ):
        mark = emulator.mark()
        await emulator.send_text(user, "/statement")
        document = await emulator.wait_for(
            lambda e: e.kind == "message" and e.message.document, since=mark
        )
        content = emulator.files[document.message.document["file_id"]].content
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert rows[-1][3] == counterparty


async def test_a_groups_own_title_is_shown_as_it_is_written(emulator, wallet):
    title = "<b>邻里</b> & *新年* {name} _群_"  # markup and braces are just characters here
    family = emulator.add_group(title, ["alice", "bob", "xiaoming"])
    await fund(wallet, XIAOMING, 50_00)
    await fund(wallet, ALICE, 50_00)
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "alice")
    for user, command, button in (
        ("xiaoming", "/redpacket 3 1 新年快乐", "确认"),
        ("alice", "/redpacket 2 1", "Confirm"),
    ):
        await emulator.send_text(user, command, family)
        card = await emulator.wait_for_message(user)
        mark = emulator.mark()
        await tap_and_wait(emulator, user, card, button)
        await enter_pin(emulator, user, card)
        await emulator.wait_for_message(family, text="🧧", since=mark)

    assert (await history(emulator, "xiaoming"))[0] == (f"发到「{title}」的红包", "-¥3.00")
    assert (await history(emulator, "alice"))[0] == (f"Red packet to {title}", "-¥2.00")
    page = await ask(emulator, "xiaoming", "/history")
    transfer_id = page.text.splitlines()[1].rsplit("#", 1)[1]
    detail = await ask(emulator, "xiaoming", f"/history {transfer_id}")
    assert f"收款方：发到「{title}」的红包" in detail.text
    assert not detail.message.entities  # plain text: nothing of the title became formatting
