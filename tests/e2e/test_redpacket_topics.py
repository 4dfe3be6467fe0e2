"""Red packets asked for in a forum topic are posted in that topic.

The emulator has no forum topics yet, so the command is delivered as Telegram delivers a
message of a topic (``message_thread_id``, ``is_topic_message``, the topic's first message
as ``reply_to_message``), and every ``sendMessage`` the bot makes is recorded with its
parameters: the emulator keeps the message but not the topic it was sent to.
"""

from __future__ import annotations

import pytest

from bot.sandbox.formatting import detect_entities
from bot.sandbox.params import METHODS
from tests.e2e.test_redpacket import grab
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

TOPIC = 77  # the id of the topic's first message, as Telegram numbers topics


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The parameters of every sendMessage the bot makes, in order."""
    calls: list[dict] = []
    original = METHODS["sendmessage"]

    async def recording(emulator, params):
        calls.append(dict(params.values))
        return await original(emulator, params)

    monkeypatch.setitem(METHODS, "sendmessage", recording)
    return calls


@pytest.fixture
async def alice(emulator, wallet):
    await fund(wallet, ALICE, 300_00)
    await start_private(emulator, "alice")
    await wallet.users.seen(PROFILES[BOB])


def starter(emulator) -> dict:
    """The topic's first message: the service message that created it (by 小明)."""
    return {
        "message_id": TOPIC,
        "from": emulator.user("xiaoming").to_api(),
        "chat": {**emulator.group.to_api(), "is_forum": True},
        "date": 0,
        "message_thread_id": TOPIC,
        "forum_topic_created": {"name": "二手市场", "icon_color": 7322096},
    }


def in_topic(emulator, user: str, text: str, *, reply_to=None):
    """``user`` writes ``text`` in the topic; with no ``reply_to`` Telegram names the topic's
    first message as the one replied to."""
    resident = emulator.user(user)
    message = emulator.new_message(
        emulator.group, resident, text=text, entities=detect_entities(text), reply_to=reply_to
    )
    emulator.record("user_message", by_bot=False, message=message, user_id=resident.id)
    data = message.to_api()
    data["chat"]["is_forum"] = True
    data["message_thread_id"] = TOPIC
    data["is_topic_message"] = True
    if reply_to is None:
        data["reply_to_message"] = starter(emulator)
    else:
        data["reply_to_message"].update(message_thread_id=TOPIC, is_topic_message=True)
    emulator.push_update("message", data)
    return message


def to_group(emulator, sent: list[dict]) -> list[dict]:
    return [c for c in sent if str(c.get("chat_id")) == str(emulator.group.id)]


def topic_of(call: dict) -> int | None:
    thread = call.get("message_thread_id")
    return None if thread in (None, "") else int(thread)


async def confirm_packet(emulator) -> object:
    """Alice confirms the card in her private chat; the packet's post in the group."""
    card = await emulator.wait_for_message("alice")
    mark = emulator.mark()
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    return await emulator.wait_for_message(emulator.group, text="🧧", since=mark)


async def test_an_exclusive_packet_asked_for_in_a_topic_is_for_the_named_person_and_posted_there(
    emulator, wallet, alice, sent
):
    in_topic(emulator, "alice", "/redpacket_for @bob 8.88 for you")
    posted = await confirm_packet(emulator)
    assert "Alice sent Bob a red packet" in posted.text  # not 小明, who opened the topic
    calls = to_group(emulator, sent)
    post = next(c for c in calls if "🧧" in c["text"])
    assert topic_of(post) == TOPIC
    assert all(topic_of(c) == TOPIC for c in calls)  # the note in the group too
    assert await grab(emulator, "xiaoming", posted) == "这是给别人的专属红包。"
    assert "¥8.88" in await grab(emulator, "bob", posted)
    assert await available(wallet, BOB) == 8_88


@pytest.mark.parametrize(
    "command",
    ["/redpacket 10 2 恭喜发财", "/hb 1 1", "/redpacket_equal 1 2", "/redpacket_pwd 5 2 芝麻开门"],
)
async def test_every_kind_of_packet_asked_for_in_a_topic_is_posted_there(
    emulator, wallet, alice, sent, command
):
    in_topic(emulator, "alice", command)
    await confirm_packet(emulator)
    post = next(c for c in to_group(emulator, sent) if "🧧" in c["text"])
    assert topic_of(post) == TOPIC


async def test_a_packet_asked_for_outside_topics_is_posted_without_one(
    emulator, wallet, alice, sent
):
    await emulator.send_text("alice", "/redpacket_for @bob 1", emulator.group)
    await confirm_packet(emulator)
    post = next(c for c in to_group(emulator, sent) if "🧧" in c["text"])
    assert topic_of(post) is None


async def test_a_reply_in_a_topic_names_the_person_replied_to(emulator, wallet, alice, sent):
    bobs = await emulator.send_text("bob", "谁有闲置的婴儿车？", emulator.group)
    in_topic(emulator, "alice", "/redpacket_for 3 thanks", reply_to=bobs)
    posted = await confirm_packet(emulator)
    assert "Alice sent Bob a red packet: thanks" in posted.text
    post = next(c for c in to_group(emulator, sent) if "🧧" in c["text"])
    assert topic_of(post) == TOPIC


async def test_a_bad_command_in_a_topic_is_answered_in_the_topic(emulator, wallet, alice, sent):
    in_topic(emulator, "alice", "/redpacket_for @bob")  # no amount: usage, not "@bob" as one
    answer = await emulator.wait_for_message(emulator.group)
    assert answer.text.startswith("Write /redpacket_for @user <amount>")
    (call,) = to_group(emulator, sent)
    assert topic_of(call) == TOPIC
    assert await available(wallet, ALICE) == 300_00


async def test_a_tip_in_a_topic_without_a_reply_pays_nobody(emulator, wallet, alice, sent):
    """Telegram names the topic's first message as the reply: that is not whom to tip."""
    in_topic(emulator, "alice", "/send 5")
    answer = await emulator.wait_for_message(emulator.group)
    assert answer.text.startswith("To tip someone, reply to their message with /send")
    assert await available(wallet, ALICE) == 300_00
    assert not [m for m in emulator.messages("alice") if "¥5.00" in (m.text or "")]
    assert topic_of(to_group(emulator, sent)[-1]) == TOPIC


async def test_a_tip_as_a_reply_in_a_topic_goes_to_the_person_replied_to(
    emulator, wallet, alice, sent
):
    bobs = await emulator.send_text("bob", "我来帮你搬家", emulator.group)
    in_topic(emulator, "alice", "/send 5 谢谢", reply_to=bobs)
    card = await emulator.wait_for_message("alice", text="¥5.00")
    assert "Bob" in card.text and "小明" not in card.text
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    assert await available(wallet, BOB) == 5_00


@pytest.mark.parametrize("gone", [False, True], ids=["quoted", "replied_to_message_deleted"])
async def test_a_tip_in_a_topic_is_announced_in_that_topic(emulator, wallet, alice, sent, gone):
    bobs = await emulator.send_text("bob", "我来帮你搬家", emulator.group)
    in_topic(emulator, "alice", "/send 1 thx", reply_to=bobs)
    card = await emulator.wait_for_message("alice", text="¥1.00")
    if gone:  # deleted before the tip is confirmed: the announcement is not quoted
        bobs.deleted = True
    mark = emulator.mark()
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    await emulator.wait_for_message(emulator.group, text="tipped", since=mark)
    (call,) = [c for c in to_group(emulator, sent) if "tipped" in c["text"]]
    assert topic_of(call) == TOPIC
    assert await available(wallet, BOB) == 1_00
