"""/broadcast: an admin's message to everyone who opened the bot, confirmed first, paced
within Telegram's limits, continued after a restart without repeating anyone, skipping
people who blocked the bot; refused to others, bad input answered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from bot.app import build_application
from bot.domain.errors import BroadcastNotFound
from bot.domain.users import Profile
from bot.handlers import broadcast
from bot.handlers.outbox import outbox
from bot.sandbox.testing import polling
from bot.security import totp
from bot.security.cipher import field_aad
from tests.e2e.conftest import FAST_FINGERS

ALICE, BOB = 100_002, 100_004  # Alice is the admin
REFUSED = "This command is for the wallet's admins only."
# plain text exactly as written: nothing in it is Markdown or HTML to the bot
TEXT = "📣 Water off <b>Tuesday</b> 9–12, *not* _Wednesday_ [map](http://x)\n  — the committee"


async def residents(emulator, wallet, count: int) -> list[int]:
    """``count`` people who opened the bot's private chat (known to the wallet as such)."""
    ids = []
    for n in range(count):
        user = emulator.add_user(f"Resident {n}", f"resident{n}", "en", started=True)
        await wallet.users.seen(
            Profile(user.id, user.username, user.first_name, "en"), private_chat=True
        )
        ids.append(user.id)
    return ids


def received(emulator, chat_id: int, text: str = TEXT) -> list:
    return [
        e
        for e in emulator.bot_events("message")
        if e.chat_id == chat_id and e.text == text and e.message is not None
    ]


def sent_so_far(emulator, text: str = TEXT) -> int:
    return sum(1 for e in emulator.bot_events("message") if e.text == text)


async def ask(emulator, text: str = TEXT):
    """Alice asks for a broadcast; the confirmation question."""
    await emulator.send_text("alice", f"/broadcast {text}")
    return await emulator.wait_for_message("alice", text="people?")


async def confirm(emulator, question):
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", question, "Confirm"), since=mark)
    return await emulator.wait_for_edit(question, since=mark)


async def finished(emulator, timeout: float = 60.0):  # noqa: ASYNC109
    return await emulator.wait_for(
        lambda e: (
            e.chat_id == ALICE and e.kind in ("message", "edit") and "finished" in (e.text or "")
        ),
        timeout,
        since=0,
    )


class Stamps:
    """When each broadcast message reached the emulator, on this process's clock."""

    def __init__(self, emulator, text: str = TEXT) -> None:
        self.emulator, self.text = emulator, text
        self.times: list[float] = []
        self._seen = emulator.mark()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            for event in self.emulator.events[self._seen :]:
                if event.kind == "message" and event.text == self.text:
                    self.times.append(time.monotonic())
            self._seen = len(self.emulator.events)
            await self.emulator.event_pulse.wait(1.0)

    def stop(self) -> None:
        self._task.cancel()

    def most_in_a_second(self) -> int:
        times, most, first = sorted(self.times), 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most


async def test_everyone_gets_the_broadcast_once_within_telegrams_rate(emulator, wallet):
    people = await residents(emulator, wallet, 300)
    question = await ask(emulator)
    assert question.text == f"Send this message ({len(TEXT)} characters) to 301 people?\n\n{TEXT}"
    stamps = Stamps(emulator)
    begun = await confirm(emulator, question)
    assert begun.text.startswith("Broadcast #1 begun: sending to 301 people.")
    started = time.monotonic()
    done = await finished(emulator)
    elapsed = time.monotonic() - started
    stamps.stop()
    assert done.text.endswith("Sent: 301 · blocked the bot: 0 · failed: 0")
    for person in [*people, ALICE]:
        [message] = received(emulator, person)
        assert message.message.entities in (None, [])  # sent as plain text
    # the emulator's own timestamps: never more than 30 in one second
    per_second = Counter(e.message.date for e in emulator.bot_events("message") if e.text == TEXT)
    assert max(per_second.values()) <= 30
    assert len(per_second) >= 10  # 301 messages at ≤ 30/s take more than ten seconds
    assert stamps.most_in_a_second() <= 33  # any one second, as seen here (± the watch's lag)
    assert elapsed >= 301 / 30 - 1
    # one progress message, edited, not one per step
    progress = [
        e
        for e in emulator.bot_events("message")
        if e.chat_id == ALICE and "📣 Broadcast" in (e.text or "")
    ]
    assert len(progress) == 1
    assert emulator.errors() == []
    events = [(e.event, e.actor_id) async for e in wallet.store.security.events()]
    assert ("admin.broadcast", ALICE) in events


async def test_a_restart_half_way_finishes_the_broadcast_without_repeating_anyone(
    sandbox, settings, wallet
):
    emulator = sandbox.emulator
    first = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    async with polling(first):
        people = await residents(emulator, wallet, 300)
        await confirm(emulator, await ask(emulator))
        await emulator.wait_for(lambda e: sent_so_far(emulator) >= 120, 30)
        await broadcast.stop(first)  # what the application does when it stops (post_stop)
        await outbox(first).close(grace=5)
    sent_before = sent_so_far(emulator)
    assert 120 <= sent_before < 301
    assert not (await wallet.broadcasts.get(1)).finished
    await asyncio.sleep(2)
    assert sent_so_far(emulator) == sent_before  # the stopped process sends nothing more

    second = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    async with polling(second):  # continues the broadcast at start-up
        done = await finished(emulator)
        await outbox(second).close(grace=5)
    assert done.text.endswith("Sent: 301 · blocked the bot: 0 · failed: 0")
    for person in [*people, ALICE]:
        assert len(received(emulator, person)) == 1, person
    progress = [
        e
        for e in emulator.bot_events("message")
        if e.chat_id == ALICE and "📣 Broadcast" in (e.text or "")
    ]
    assert len(progress) == 1  # the same progress message, edited by the second process
    assert done.message_id == progress[0].message_id


def unblock(emulator, person: int) -> None:
    """``person`` unblocks the bot: Telegram tells the bot with my_chat_member."""
    resident = emulator.user(person)
    resident.blocked = False
    bot = emulator.bot.to_api()
    emulator.push_update(
        "my_chat_member",
        {
            "chat": emulator.chats[person].to_api(),
            "from": resident.to_api(),
            "date": int(time.time()),
            "old_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
            "new_chat_member": {"status": "member", "user": bot},
        },
    )


async def audience_becomes(wallet, count: int) -> None:
    for _ in range(100):
        if await wallet.broadcasts.audience() == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the audience is {await wallet.broadcasts.audience()}, not {count}")


async def test_people_who_blocked_the_bot_are_counted_and_skipped_until_they_unblock(
    emulator, wallet
):
    people = await residents(emulator, wallet, 10)
    for person in people[:2]:
        emulator.user(person).blocked = True  # the bot was not told: it learns by a 403
    emulator.block_bot(people[2])  # the bot is told (my_chat_member)
    await audience_becomes(wallet, 10)  # ten residents and Alice, less the one it was told of
    question = await ask(emulator)
    assert question.text.splitlines()[0].endswith("to 10 people?")
    await confirm(emulator, question)
    done = await finished(emulator)
    assert done.text.endswith("Sent: 8 · blocked the bot: 2 · failed: 0")
    assert [len(received(emulator, p)) for p in people] == [0] * 3 + [1] * 7

    unblock(emulator, people[2])
    await audience_becomes(wallet, 9)  # the two refused are left out; the third is back
    refused_before = len(emulator.errors())
    again = "Second notice"
    question = await ask(emulator, again)
    assert question.text.splitlines()[0].endswith("to 9 people?")
    await confirm(emulator, question)
    await emulator.wait_for(lambda e: "#2 finished" in (e.text or ""), 30, since=0)
    assert len(emulator.errors()) == refused_before  # nobody blocked was tried again
    assert [len(received(emulator, p, again)) for p in people] == [0] * 2 + [1] * 8


async def test_a_non_admin_is_refused_and_nothing_is_sent(emulator, wallet):
    people = await residents(emulator, wallet, 3)
    await emulator.send_text("bob", f"/broadcast {TEXT}")
    assert (await emulator.wait_for_message("bob")).text == REFUSED
    # nor can Bob press the admin's Confirm (a forged button)
    question = await ask(emulator)
    data = question.buttons()[0]["callback_data"]
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob")
    menu.message.reply_markup = {"inline_keyboard": [[{"text": "✅", "callback_data": data}]]}
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(await emulator.tap("bob", menu, data=data), since=mark)
    assert (answer.data["show_alert"], answer.text) == (True, REFUSED)
    await asyncio.sleep(0.5)
    assert all(received(emulator, p) == [] for p in [*people, BOB, ALICE])
    assert await wallet.broadcasts.unfinished() == []


async def test_bad_input_is_answered_and_cancel_sends_nothing(emulator, wallet):
    people = await residents(emulator, wallet, 2)
    await emulator.send_text("alice", "/broadcast")
    answer = (await emulator.wait_for_message("alice")).text
    assert answer.startswith("The broadcast has no text.") and "/broadcast <text>" in answer
    await emulator.send_text("alice", "/broadcast " + "字" * 4097)
    answer = (await emulator.wait_for_message("alice")).text
    assert answer.startswith("The text is 4097 characters long; a message may have at most 4096.")
    await emulator.send_text("alice", "/broadcast hello", chat=emulator.group)
    answer = await emulator.wait_for_message(emulator.group)
    assert "private chat" in answer.text

    question = await ask(emulator, "never sent")
    mark = emulator.mark()
    await emulator.tap("alice", question, "Cancel")
    assert (await emulator.wait_for_edit(question, since=mark)).text.startswith(
        "Broadcast cancelled"
    )
    markup = question.reply_markup  # the buttons as they were: tapped again, late
    question.message.reply_markup = markup
    mark = emulator.mark()
    confirm_data = markup["inline_keyboard"][0][0]["callback_data"]
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", question, data=confirm_data), since=mark
    )
    assert answer.data["show_alert"]  # a cancelled question cannot be confirmed any more
    await asyncio.sleep(0.5)
    assert all(received(emulator, p, "never sent") == [] for p in people)
    assert await wallet.broadcasts.unfinished() == []

    # the longest text allowed goes out whole
    longest = "长" * 4096
    await confirm(emulator, await ask(emulator, longest))
    await finished(emulator)
    assert all(len(received(emulator, p, longest)) == 1 for p in people)


async def test_the_question_says_one_character_and_one_person_in_the_singular(emulator, wallet):
    await emulator.send_text("alice", "/broadcast !")
    question = await emulator.wait_for_message("alice", text="Send this message")
    assert question.text == "Send this message (1 character) to 1 person?\n\n!"
    await residents(emulator, wallet, 1)
    await emulator.send_text("alice", "/lang zh")
    await emulator.wait_for_message("alice", text="中文")
    for text, asked in [("!", "（1 个字符）发送给 2 人？"), ("好的", "（2 个字符）发送给 2 人？")]:
        mark = emulator.mark()
        await emulator.send_text("alice", f"/broadcast {text}")
        question = await emulator.wait_for_message("alice", text="将这条消息", since=mark)
        assert question.text == "将这条消息" + asked + "\n\n" + text
    await emulator.send_text("alice", "/lang en")
    await emulator.wait_for_message("alice", text="English")
    mark = emulator.mark()
    await emulator.send_text("alice", "/broadcast hi")
    question = await emulator.wait_for_message("alice", text="Send this message", since=mark)
    assert question.text == "Send this message (2 characters) to 2 people?\n\nhi"
    assert sent_so_far(emulator, "!") == 0  # asked, never confirmed


async def test_a_broadcast_nobody_could_see_is_refused_and_a_long_one_is_shown_in_part(
    emulator, wallet
):
    """Only invisible characters (a zero-width space, a Hangul filler, a direction mark)
    would reach everyone as an empty bubble: refused as empty. A long message's card
    shows its start."""
    await residents(emulator, wallet, 1)
    for blank in ("\u200b", "\u3164\u200d", "\u200e \u2800", "\u034f"):
        mark = emulator.mark()
        await emulator.send_text("alice", f"/broadcast {blank}")
        refused = await emulator.wait_for_message("alice", since=mark)
        assert refused.text.startswith("The broadcast has no text.") and not refused.buttons()
    long = "通知" * 400
    mark = emulator.mark()
    await emulator.send_text("alice", f"/broadcast {long}")
    question = await emulator.wait_for_message("alice", text="Send this message", since=mark)
    assert question.text.endswith("\n\n" + long[:600] + "…")
    assert question.buttons()


async def test_a_second_tap_on_confirm_begins_nothing_more(emulator, wallet):
    people = await residents(emulator, wallet, 2)
    question = await ask(emulator)
    mark = emulator.mark()
    taps = [await emulator.tap("alice", question, "Confirm") for _ in range(3)]
    answers = [await emulator.wait_for_answer(t, since=mark) for t in taps]
    assert sum(1 for a in answers if a.data.get("show_alert")) == 2
    await finished(emulator)
    await asyncio.sleep(0.5)
    assert all(len(received(emulator, p)) == 1 for p in people)
    assert len([b async for b in _broadcasts(wallet)]) == 1


async def _broadcasts(wallet):
    for n in range(1, 5):
        try:
            yield await wallet.broadcasts.get(n)
        except BroadcastNotFound:
            return


async def test_an_admin_with_2fa_enters_a_code_before_broadcasting(emulator, wallet):
    people = await residents(emulator, wallet, 2)
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    keypad = await confirm(emulator, await ask(emulator))
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    await asyncio.sleep(0.5)
    assert all(received(emulator, p) == [] for p in people)
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    await emulator.wait_for(lambda e: e.kind == "edit" and "begun" in (e.text or ""), since=mark)
    await finished(emulator)
    assert all(len(received(emulator, p)) == 1 for p in people)
