"""deploy/nginx-wallet-person.conf in a real nginx: ``$wallet_person``, the id nginx's
``hash`` spreads the updates by, is the person ``bot.dispatch.person_of`` reads from the
update (the one whose updates must stay on one process), for every kind of update the
bot gets, however the JSON is spaced, and a user's text cannot fake it. Then the upstream
block of deploy/nginx-wallet-bot.conf in front of three fake processes: each person's
updates all reach one of them, and the three share the people."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import aiohttp
import pytest
from aiohttp import web

from bot.dispatch import person_of
from tests.cluster import free_port, nginx_binary, nginx_child

pytestmark = pytest.mark.skipif(
    nginx_binary() is None, reason="nginx is not installed: run scripts/nginx.sh install"
)

BOT = 900_000_001
PATH = "/tg/hook"

def user(uid: int, name: str = "A") -> dict:
    return {"id": uid, "is_bot": False, "first_name": name, "language_code": "zh-hans"}


def group(cid: int = -100_123) -> dict:
    return {"id": cid, "title": "Elm street", "type": "supergroup"}


def updates() -> list[dict]:
    """Updates of every kind the bot handles, keys in Telegram's order."""
    bot_message = {"message_id": 7, "from": {**user(BOT), "is_bot": True}, "chat": group(),
                   "date": 1, "text": "🧧"}
    return [
        {"message": {"message_id": 1, "from": user(111), "chat": {"id": 111, "type": "private"},
                     "date": 1, "text": "/start"}},
        {"message": {"message_id": 2, "from": user(112), "chat": group(), "date": 1,
                     "text": "/tip 5", "reply_to_message": {"message_id": 1,
                                                            "from": user(113), "chat": group(),
                                                            "date": 1, "text": "hi"}}},
        {"message": {"message_id": 3, "from": user(114), "chat": group(), "date": 1,
                     "text": 'x "from": {"id": 666} "user":{"id":667}'}},
        {"message": {"message_id": 4, "from": user(115), "chat": group(), "date": 1,
                     "forward_origin": {"type": "user", "sender_user": user(116), "date": 1},
                     "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1,
                                "height": 1}]}},
        {"edited_message": {"message_id": 5, "from": user(117), "chat": group(), "date": 1,
                            "edit_date": 2, "text": "/balance"}},
        {"callback_query": {"id": "42", "from": user(118), "message": bot_message,
                            "chat_instance": "-1", "data": "rp:grab:abc"}},
        {"callback_query": {"id": "43", "from": user(119), "inline_message_id": "AAE",
                            "chat_instance": "-2", "data": "rp:grab:abc"}},
        {"inline_query": {"id": "44", "from": user(120), "query": "红包 10 5", "offset": ""}},
        {"chosen_inline_result": {"result_id": "r", "from": user(121), "query": "红包"}},
        {"pre_checkout_query": {"id": "45", "from": user(122), "currency": "CNY",
                                "total_amount": 1000, "invoice_payload": "topup:1"}},
        {"message": {"message_id": 6, "from": user(123), "chat": {"id": 123, "type": "private"},
                     "date": 1, "successful_payment": {"currency": "CNY",
                                                       "total_amount": 1000,
                                                       "invoice_payload": "topup:1"}}},
        {"my_chat_member": {"chat": group(), "from": user(124), "date": 1,
                            "old_chat_member": {"status": "left", "user": user(BOT)},
                            "new_chat_member": {"status": "member", "user": user(BOT)}}},
        {"chat_member": {"chat": group(), "from": user(125), "date": 1,
                         "old_chat_member": {"status": "left", "user": user(126)},
                         "new_chat_member": {"status": "member", "user": user(126)}}},
        {"message_reaction": {"chat": group(), "message_id": 8, "user": user(127), "date": 1,
                              "old_reaction": [], "new_reaction": []}},
        {"message_reaction": {"chat": group(), "message_id": 8,
                              "actor_chat": {"id": -100_999, "type": "channel"}, "date": 1,
                              "old_reaction": [], "new_reaction": []}},
        {"poll_answer": {"poll_id": "p", "user": user(128), "option_ids": [0]}},
        {"channel_post": {"message_id": 9, "sender_chat": {"id": -100_777, "type": "channel"},
                          "chat": {"id": -100_777, "type": "channel"}, "date": 1,
                          "text": "news"}},
        {"message": {"message_id": 10, "from": user(-5, "negative id"), "chat": group(),
                     "date": 1, "text": "?"}},
    ]


def bodies() -> list[bytes]:
    """Each update as Telegram sends it (compact, UTF-8) and spaced as json.dumps does."""
    found = []
    for number, update in enumerate(updates(), start=1):
        whole = {"update_id": number, **update}
        found.append(json.dumps(whole, ensure_ascii=False, separators=(",", ":")).encode())
        found.append(json.dumps(whole).encode())
        found.append(json.dumps(whole, indent=1).encode())
    return found


class Processes:
    """Fake bot processes: each records (process, the header nginx set, the body)."""

    def __init__(self, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.seen: list[tuple[int, str, dict]] = []
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        for index, port in enumerate(self.ports):
            async def take(request: web.Request, index: int = index) -> web.Response:
                header = request.headers.get("X-Wallet-Person", "")
                self.seen.append((index, header, await request.json()))
                return web.Response(text="ok")

            app = web.Application()
            app.router.add_post(PATH, take)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def front(tmp_path):
    """nginx with deploy/'s person map and upstream, in front of three fake processes."""
    processes = Processes(3)
    await processes.start()
    port = free_port()
    nginx = nginx_child(
        tmp_path, processes.ports, port, PATH, log=False,
        extra="proxy_set_header X-Wallet-Person $wallet_person;",
    )
    await nginx.start("start worker process")
    try:
        yield f"http://127.0.0.1:{port}{PATH}", processes
    finally:
        assert await nginx.stop() == 0
        await processes.stop()


async def post_all(url: str, payloads: list[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for body in payloads:
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as answer:
                assert answer.status == 200, await answer.text()


async def test_the_person_nginx_reads_is_the_dispatchers_for_every_kind_of_update(front):
    url, processes = front
    payloads = bodies()
    await post_all(url, payloads)
    assert len(processes.seen) == len(payloads)
    for _, header, update in processes.seen:
        assert int(header) == person_of(update), update
    # the person is the sender, never someone quoted, replied to or named in a text
    read = {int(header) for _, header, _ in processes.seen}
    assert {111, 112, 114, 118, 120, 124, 127, 128, -100_777, -5} <= read
    assert not read & {113, 116, 666, 667, BOT}


async def test_each_persons_updates_reach_one_process_and_the_processes_share_them(front):
    url, processes = front
    people = range(10_000, 10_300)
    payloads = []
    for round_ in range(3):  # each person three times: a message, a tap, a message
        for uid in people:
            message = {"message_id": round_, "from": user(uid), "chat": group(), "date": 1,
                       "text": "/balance"}
            tap = {"id": f"{uid}-{round_}", "from": user(uid), "message": message,
                   "chat_instance": "-1", "data": "rp:grab:abc"}
            update = {"update_id": uid * 10 + round_,
                      **({"callback_query": tap} if round_ == 1 else {"message": message})}
            payloads.append(json.dumps(update).encode())
    chunks = [payloads[i::8] for i in range(8)]  # eight senders at once, as Telegram does
    await asyncio.gather(*(post_all(url, chunk) for chunk in chunks))
    where: dict[int, set[int]] = defaultdict(set)
    for index, _, update in processes.seen:
        where[person_of(update)].add(index)
    assert set(where) == set(people)
    assert all(len(indexes) == 1 for indexes in where.values())
    share = [sum(1 for indexes in where.values() if index in indexes) for index in range(3)]
    assert min(share) > len(people) // 5, share
