"""Forum topics: where a group message was written, and whom it really answers.

In a forum supergroup Telegram sends every message of a topic with ``message_thread_id``,
``is_topic_message`` and, when it answers nothing, the topic's first message (the
``forum_topic_created`` service message) as ``reply_to_message``.
"""

from telegram import Message

from bot.handlers.context import replied_to, topic_of

GROUP = {"id": -1001000000001, "type": "supergroup", "title": "Neighbourhood", "is_forum": True}
MING = {"id": 100001, "is_bot": False, "first_name": "小明"}
ALICE = {"id": 100002, "is_bot": False, "first_name": "Alice"}
BOB = {"id": 100004, "is_bot": False, "first_name": "Bob"}
TOPIC = 77
STARTER = {
    "message_id": TOPIC,
    "from": MING,
    "chat": GROUP,
    "date": 0,
    "message_thread_id": TOPIC,
    "forum_topic_created": {"name": "二手市场", "icon_color": 7322096},
}


def message(**fields) -> Message:
    data = {"message_id": 90, "from": ALICE, "chat": GROUP, "date": 0, "text": "/hb 1 1"}
    return Message.de_json({**data, **fields}, None)


def test_a_message_in_a_topic_that_answers_nobody_is_no_reply():
    plain = message(message_thread_id=TOPIC, is_topic_message=True, reply_to_message=STARTER)
    assert plain.reply_to_message is not None  # what Telegram sends ...
    assert replied_to(plain) is None  # ... is where it was written, not whom it answers
    assert topic_of(plain) == TOPIC


def test_the_topics_first_message_is_no_reply_target_even_without_the_service_field():
    starter = {k: v for k, v in STARTER.items() if k != "forum_topic_created"}
    plain = message(message_thread_id=TOPIC, is_topic_message=True, reply_to_message=starter)
    assert replied_to(plain) is None


def test_a_reply_in_a_topic_answers_its_author():
    bobs = {
        "message_id": 88,
        "from": BOB,
        "chat": GROUP,
        "date": 0,
        "text": "hi",
        "message_thread_id": TOPIC,
        "is_topic_message": True,
    }
    answer = message(message_thread_id=TOPIC, is_topic_message=True, reply_to_message=bobs)
    assert replied_to(answer).from_user.id == BOB["id"]
    assert topic_of(answer) == TOPIC


def test_outside_topics_a_reply_is_a_reply_and_there_is_no_topic():
    bobs = {"message_id": 88, "from": BOB, "chat": {**GROUP, "is_forum": False}, "date": 0}
    answer = message(chat={**GROUP, "is_forum": False}, reply_to_message=bobs)
    assert replied_to(answer).message_id == 88
    assert topic_of(answer) is None
    # a chain of replies in an ordinary group also has a thread id, but is not a topic
    chained = message(message_thread_id=88, reply_to_message=bobs)
    assert topic_of(chained) is None and replied_to(chained).message_id == 88
    assert replied_to(message()) is None and topic_of(message()) is None
