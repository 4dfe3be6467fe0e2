"""The dispatcher (bot/dispatch.py) in front of fake bot processes: who goes where, one
person's updates in order, a dead worker answered 502 and the update delivered again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.dispatch import SECRET_HEADER, Dispatcher, DispatchOptions, person_of, worker_of
from bot.sandbox.server import start_sandbox
from tests.cluster import free_port

SECRET = "dispatch-secret-of-the-tests_0123"
ROOT = Path(__file__).resolve().parents[2]
PATH = "/tg/hook"


class FakeWorker:
    """A bot process's webhook: records each update it accepts (after ``hold`` seconds
    for the update ids in ``slow``), answers ``status``."""

    def __init__(self, port: int, *, status: int = 200) -> None:
        self.port = port
        self.status = status
        self.received: list[int] = []
        self.arrived: list[int] = []
        self.secrets: list[str] = []
        self.slow: dict[int, float] = {}  # update id -> seconds before the answer
        self.slow_people: dict[int, float] = {}  # person -> seconds before each answer
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def _take(self, request: web.Request) -> web.Response:
        update = json.loads(await request.read())
        self.arrived.append(update["update_id"])
        self.secrets.append(request.headers.get(SECRET_HEADER, ""))
        await asyncio.sleep(self.slow.get(update["update_id"], 0))
        await asyncio.sleep(self.slow_people.get(person_of(update), 0))
        if self.status == 200:
            self.received.append(update["update_id"])
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._take)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def workers():
    started = [FakeWorker(free_port()) for _ in range(3)]
    for worker in started:
        await worker.start()
    yield started
    for worker in started:
        await worker.stop()


@pytest.fixture
async def dispatcher(workers):
    served = Dispatcher([w.url for w in workers], url_path=PATH, secret_token=SECRET)
    await served.start("127.0.0.1", 0)
    yield served
    await served.stop()


def url_of(dispatcher: Dispatcher) -> str:
    return f"http://127.0.0.1:{dispatcher.port}{PATH}"


def tap(update_id: int, user_id: int) -> dict:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": {"id": user_id, "is_bot": False, "first_name": "M"},
            "chat_instance": "1",
            "data": "x",
            "message": {"message_id": 1, "date": 0, "chat": {"id": -100, "type": "group"}},
        },
    }


async def post(session, url: str, body: bytes | dict, secret: str | None = SECRET) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with session.post(url, data=data, headers=headers) as answer:
        await answer.read()
        return answer.status


def person_routed_to(index: int, workers: int = 3, start: int = 1000) -> int:
    return next(p for p in range(start, start + 1000) if worker_of(p, workers) == index)


def test_the_person_of_an_update_is_its_user_else_its_chat_else_nobody():
    user = {"id": 42, "is_bot": False, "first_name": "A"}
    chat = {"id": -1001, "type": "supergroup"}
    assert person_of({"update_id": 1, "message": {"from": user, "chat": chat}}) == 42
    assert person_of(tap(2, 42)) == 42  # not the chat of the packet's message
    assert person_of({"update_id": 3, "inline_query": {"id": "q", "from": user}}) == 42
    assert person_of({"update_id": 4, "poll_answer": {"poll_id": "p", "user": user}}) == 42
    assert person_of({"update_id": 5, "channel_post": {"chat": chat, "date": 0}}) == -1001
    reaction = {"chat": chat, "actor_chat": {"id": -1002}, "message_id": 1}
    assert person_of({"update_id": 6, "message_reaction": reaction}) == -1001
    assert person_of({"update_id": 7, "poll": {"id": "p", "options": []}}) == 0
    assert person_of({"update_id": 8}) == 0
    assert person_of({"update_id": 9, "message": {"from": {"id": "42"}}}) == 0


def test_a_person_always_goes_to_the_same_worker_and_people_spread_evenly():
    people = range(5_000_000_000, 5_000_003_000)  # consecutive ids, as a group's members
    counts = Counter(worker_of(p, 3) for p in people)
    assert set(counts) == {0, 1, 2}
    assert all(900 <= n <= 1100 for n in counts.values()), counts
    assert [worker_of(p, 3) for p in people] == [worker_of(p, 3) for p in people]
    assert worker_of(-1001, 3) == worker_of(-1001, 3) and worker_of(7, 1) == 0
    # fixed values: the same in every process, run and Python version (not hash())
    assert [worker_of(p, 3) for p in (1, 2, 3, 123456789)] == [2, 2, 1, 2]
    assert [worker_of(p, 5) for p in (1, 2, 3, 123456789)] == [0, 0, 1, 2]


async def test_each_update_reaches_its_persons_worker_with_the_secret(dispatcher, workers):
    people = [person_routed_to(i) for i in range(3)] * 3
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(
            *(post(session, url_of(dispatcher), tap(100 + n, p)) for n, p in enumerate(people))
        )
    assert statuses == [200] * 9
    for index, worker in enumerate(workers):
        assert sorted(worker.received) == [100 + index, 103 + index, 106 + index]
        assert set(worker.secrets) == {SECRET}
    assert dispatcher.forwarded == [3, 3, 3] and dispatcher.failed == [0, 0, 0]


async def test_one_persons_updates_wait_for_each_other_and_nobody_else_waits(dispatcher, workers):
    alice, bob = person_routed_to(0), person_routed_to(0, start=person_routed_to(0) + 1)
    worker = workers[0]
    worker.slow[1] = 0.6  # Alice's first update is slow to be accepted
    async with aiohttp.ClientSession() as session:
        url = url_of(dispatcher)
        first = asyncio.create_task(post(session, url, tap(1, alice)))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(post(session, url, tap(2, alice)))
        await asyncio.sleep(0.05)
        third = asyncio.create_task(post(session, url, tap(3, alice)))
        assert await asyncio.wait_for(post(session, url, tap(4, bob)), 0.4) == 200
        assert worker.arrived == [1, 4]  # Bob on the same worker did not wait for Alice
        assert await asyncio.gather(first, second, third) == [200, 200, 200]
    assert worker.arrived == [1, 4, 2, 3]  # Alice's second only after her first was taken
    assert worker.received == [4, 1, 2, 3]


async def test_refusals_go_to_no_worker(dispatcher, workers):
    url = url_of(dispatcher)
    async with aiohttp.ClientSession() as session:
        assert await post(session, url, tap(1, 5), secret=None) == 403
        assert await post(session, url, tap(1, 5), secret="wrong-secret-0123456789") == 403
        assert await post(session, url, b"{not json") == 400
        assert await post(session, url, b"\xff\xfe") == 400
        assert await post(session, url, b"[1, 2]") == 400
        assert await post(session, url, b'{"update_id": "7"}') == 400
        assert await post(session, url, b"{" + b" " * 300_000 + b"}") == 413
    assert all(w.arrived == [] for w in workers)


async def test_a_worker_down_or_refusing_is_a_502_and_the_update_comes_again(dispatcher, workers):
    down, refusing = workers[1], workers[2]
    await down.stop()
    refusing.status = 403  # e.g. started with another secret
    url = url_of(dispatcher)
    async with aiohttp.ClientSession() as session:
        assert await post(session, url, tap(1, person_routed_to(1))) == 502
        assert await post(session, url, tap(2, person_routed_to(2))) == 502
        assert await post(session, url, tap(3, person_routed_to(0))) == 200
        assert dispatcher.failed == [0, 1, 1]
        await down.start()  # back on its port
        refusing.status = 200
        assert await post(session, url, tap(1, person_routed_to(1))) == 200
        assert await post(session, url, tap(2, person_routed_to(2))) == 200
    assert (workers[0].received, down.received, refusing.received) == ([3], [1], [2])


async def test_the_emulator_delivers_again_until_the_dead_worker_is_back(dispatcher, workers):
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        emulator.webhook = {"url": url_of(dispatcher), "secret_token": SECRET}
        emulator.update_pulse.fire()
        alice = emulator.user("alice")
        dead = workers[worker_of(alice.id, 3)]
        await dead.stop()
        await emulator.send_text("alice", "first")
        await emulator.send_text("alice", "second")
        await asyncio.sleep(1.2)  # two or three deliveries refused
        assert dead.received == [] and emulator.pending_updates(10)
        await dead.start()
        for _ in range(100):
            if len(dead.received) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(dead.received) == 2 and dead.received[0] < dead.received[1]
        for _ in range(100):  # taken off the queue once the answer is back
            if not emulator.pending_updates(10):
                break
            await asyncio.sleep(0.05)
        assert emulator.pending_updates(10) == []
    assert dispatcher.failed[worker_of(alice.id, 3)] >= 2


async def test_the_emulator_delivers_people_concurrently_and_each_in_order(workers):
    hook = workers[0]
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        alice = emulator.user("alice")
        hook.slow_people[alice.id] = 0.4
        emulator.webhook = {"url": hook.url, "secret_token": SECRET}
        emulator.update_pulse.fire()
        for text in ("one", "two", "three"):
            await emulator.send_text("alice", text)
        await emulator.send_text("bob", "hello")
        for _ in range(100):
            if len(hook.received) == 4:
                break
            await asyncio.sleep(0.05)
        first = min(hook.arrived)
        alices, bobs = [first, first + 1, first + 2], [first + 3]
        assert hook.arrived == [alices[0], *bobs, *alices[1:]]  # Bob did not wait
        assert hook.received == [*bobs, *alices]  # Alice's one after another, in order
        for _ in range(100):  # each is taken off the queue once its answer is back
            if not emulator.pending_updates(10):
                break
            await asyncio.sleep(0.05)
        assert emulator.pending_updates(10) == []


@pytest.mark.parametrize(
    ("workers", "port", "path", "words"),
    [
        ((), 8443, "/tg", "at least one"),
        (("ftp://x/tg",), 8443, "/tg", "is not an URL"),
        (("http://127.0.0.1:1/tg", "http://127.0.0.1:1/tg"), 8443, "/tg", "twice"),
        (("http://127.0.0.1:1/tg",), 70000, "/tg", "--port"),
        (("http://127.0.0.1:1/tg",), 8443, "tg", "--url-path"),
    ],
)
def test_bad_options_are_named(workers, port, path, words):
    problem = DispatchOptions(workers, port=port, url_path=path).check()
    assert problem is not None and words in problem
    assert DispatchOptions(("http://127.0.0.1:1/tg",), url_path="/tg").check() is None


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--workers", "ftp://x/tg"], "is not an URL"),
        (["--workers", "http://127.0.0.1:1/tg", "--secret-token", "short"], "16 to 256"),
        (["--workers", "http://127.0.0.1:1/tg", "--url-path", "tg"], "--url-path"),
    ],
)
def test_the_command_refuses_bad_options_with_a_clear_message(tmp_path, arguments, words):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
    env.update(WALLET_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-m", "bot", "dispatch", *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert words in run.stderr
