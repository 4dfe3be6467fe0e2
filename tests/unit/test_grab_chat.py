"""The chat a grab counts in (the burst rule's chats) is the one its stored ref names."""

from __future__ import annotations

import pytest

from bot.domain.redpackets import (
    UNKNOWN_CHAT,
    GrabCheck,
    GrabRequest,
    PacketKind,
    PacketState,
    RedPacket,
    grab_chat,
    grab_chat_id,
    grab_transfer,
)
from bot.domain.risk import RiskRules


def _packet(chat_id: int | None) -> RedPacket:
    return RedPacket(
        "p1", 1, PacketKind.RANDOM, 100, 2, "恭喜", None, None, chat_id, None, None,
        PacketState.OPEN, "k", 0, 1, None, 0,
    )  # fmt: skip


@pytest.mark.parametrize("chat_id", [-1001234567890, -100, 42, None, 0])
def test_the_chat_of_a_grab_is_the_one_its_ref_names(chat_id):
    packet = _packet(chat_id)
    request = GrabRequest("p1", 7, None, 3, GrabCheck(7, RiskRules()), "CNY")
    _key, spec = grab_transfer(packet, request, 9, 0, 50)
    assert grab_chat(packet) == grab_chat_id(spec.ref)
    assert grab_chat(packet) == (chat_id or UNKNOWN_CHAT)
