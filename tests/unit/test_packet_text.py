"""A packet's group message fits in one Telegram message, however long its grabbers'
names: else the edit showing them is refused and the group never sees the results."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.domain.redpackets import PacketKind, PacketResults, PacketState, RedPacket, Share
from bot.handlers.redpacket_text import TEXT_LIMIT, packet_text

LONG = "Wang Xiaoming of Building Seven, Flat 1203, Riverside Gardens Phase"  # 67 chars


class _Users:
    async def get(self, telegram_id: int):
        return SimpleNamespace(display_name=f"{telegram_id} {LONG}" if telegram_id > 1 else "Amy")


def _results(
    kind: PacketKind, state: PacketState, grabbed: int, count: int = 100
) -> PacketResults:
    packet = RedPacket(
        "p1", 1, kind, count * 1_00, count, "恭喜发财 " * 10, None,
        "芝麻开门" if kind is PacketKind.PASSWORD else None, -100, 5, None, state, "k",
        0, 10**12, None if state is PacketState.OPEN else 1, 0,
    )
    shares = tuple(Share(i, 1_00, 1_000 + i, i) for i in range(grabbed))
    return PacketResults(packet, shares)


CONTEXT = SimpleNamespace(wallet=SimpleNamespace(users=_Users()))


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(
    ("kind", "state", "grabbed"),
    [
        (PacketKind.RANDOM, PacketState.FINISHED, 100),
        (PacketKind.PASSWORD, PacketState.OPEN, 99),
        (PacketKind.EQUAL, PacketState.EXPIRED, 60),
    ],
)
async def test_every_grabber_is_listed_within_one_message(language, kind, state, grabbed):
    text = await packet_text(CONTEXT, language, _results(kind, state, grabbed))
    assert len(text) <= TEXT_LIMIT < 4096
    listed = [line for line in text.split("\n") if "¥1.00" in line]
    assert len(listed) >= grabbed  # (and the luckiest's line)
    for i in range(grabbed):  # each by the start of their name, the rest cut
        assert any(line.startswith(f"{1_000 + i} ") for line in listed), i
    assert "…" in text


async def test_short_names_are_not_cut():
    text = await packet_text(CONTEXT, "en", _results(PacketKind.RANDOM, PacketState.FINISHED, 3))
    assert f"1000 {LONG}" in text and "…" not in text


@pytest.mark.parametrize(("language", "more"), [("en", "more grabbers"), ("zh", "另有")])
async def test_hundreds_of_grabbers_keep_the_ending_and_say_how_many_more(language, more):
    """Up to 1,000 shares may be allowed: what does not fit is counted, not cut off."""
    finished = _results(PacketKind.RANDOM, PacketState.FINISHED, 600, count=600)
    lines = (await packet_text(CONTEXT, language, finished)).split("\n")
    assert len("\n".join(lines)) <= TEXT_LIMIT
    *_, counted, luckiest, ending = lines
    shown = lines[lines.index("") + 1 : lines.index(counted)]
    assert 100 < len(shown) < 600
    assert [line.split(" ")[0] for line in shown] == [str(1_000 + i) for i in range(len(shown))]
    assert more in counted and f" {600 - len(shown)} " in counted
    assert "1000 " in luckiest and "600" in ending  # the draw and "all 600 grabbed" remain

    still_open = _results(PacketKind.PASSWORD, PacketState.OPEN, 600, count=1_000)
    lines = (await packet_text(CONTEXT, language, still_open)).split("\n")
    assert len("\n".join(lines)) <= TEXT_LIMIT
    counted = lines[lines.index("") + 1]
    shown = lines[lines.index(counted) + 1 :]
    first = 1_600 - len(shown)
    assert [line.split(" ")[0] for line in shown] == [str(first + i) for i in range(len(shown))]
    assert more in counted and f" {600 - len(shown)} " in counted  # the newest see themselves
