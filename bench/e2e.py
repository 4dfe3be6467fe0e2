"""Callback answers per second end to end: bare PTB bots beside the product, in one run.

    .venv/bin/python bench/e2e.py [--tappers 300,1000] [--rounds 5] [--dir PATH] [--profile]

For each ``--tappers`` size, that many members tap one button at once, and each answer is
timed from the burst to the bot's answerCallbackQuery for that tap, as the emulator saw it:

(a) a bare PTB bot that only answers callback queries, on PTB's default transport (httpx),
    with ``AIORateLimiter`` and 256 concurrent updates, as such a bot is configured;
(b) the same bare bot on the product's transport (``bot.transport.make_requests("aiohttp")``);
    both bare bots' button sits on a message shaped like the product's packet (the same
    text, a second button with a link), so all three parse taps of the same size;
(c) the product: ``build_application`` + ``open_wallet`` on a fresh SQLite file (WAL,
    synchronous=FULL), members grabbing a 100-share red packet that Alice posted in their
    group through the bot (``/redpacket``, Confirm, PIN): first members it has never seen,
    then the same members on a second packet (members it already knows). Its per-person
    and per-chat limits on taps (and Alice's on commands) are lifted, so that every tap
    is a real grab.

Each bot gets an emulator of its own, in a child process (``multiprocessing``, spawned),
which also makes the taps (``bot.sandbox.testing.tap_burst``): the bot's process does
nothing but be the bot, and on two cores each side has one. The bench drives the emulator
over a pipe. The taps are queued in one go and the clock starts when the last one is
queued, so making them counts for no bot. Before the measured bursts every bot answers an
unmeasured burst of as many other members (256 at most) on a stale button, so that the
connection pools are warm for all three alike.

Each bot answers ``--rounds`` bursts of every size, each by new members in a group of
their own (the product: they grab one packet, then the same members a second one; so no
group gets near Telegram's 20 messages a minute), and each row is the burst of median
taps/s among them, with the slowest and fastest beside it. A row gives taps per
second (the burst to the last answer), answer p50 and p99, the bot's CPU time per tap,
and the CPU use of the bot's process, of the emulator's (making the taps included) and of
every other process on the machine (from /proc/stat) during the burst, as CPU seconds per
wall second (100 % is one core). The bot near 100 % and the emulator well below means the
figures are the bot's; a busy machine is reported.

The design's targets, printed beside the ratios: the product reaches >= 0.6x the taps/s of
the bare bot on the same transport, (b), with a p99 no worse than 1.5x its. The product's
unhandled handler errors (ERROR records of its error handler) are counted: 0 expected.
``--profile`` prints where the bot and the emulator spent their CPU time in each measured
burst (cProfile, CPU time; a profiled bot is several times slower, so use small sizes:
past 15 s Telegram, and the emulator, refuse a late answer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import math
import multiprocessing
import os
import pstats
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.sandbox.emulator import Emulator
from bot.sandbox.server import start_sandbox
from bot.sandbox.testing import Burst, message_burst, polling, tap_burst
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.transport import make_requests

SHARES = 100
PACKET_FEN = 200_00
PIN = "739201"
ALICE = 100_002
WARM_UP_MAX = 256
BURST_TIMEOUT_S = 120.0
TAPS_TARGET, P99_TARGET = 0.6, 1.5
BUSY_MACHINE = 0.25  # others' share of a core above which a run is not trusted
TICKS_SPAN = 0.25  # /proc/stat counts 10 ms ticks: shorter bursts get no "others" figure
UNLIMITED = BucketLimit(1_000_000, 1_000_000)


# -- the emulator process ------------------------------------------------------------------


class EmulatorDriver:
    """What the bench asks of the emulator process; each method is one command."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def new_group(self, name: str, members: int) -> tuple[int, list[int]]:
        """A group of Alice and ``members`` new residents: its id and their user ids.

        Each burst gets a group of its own, as in a busy Telegram: no group holds more
        than two packets, so none reaches Telegram's 20 messages a minute.
        """
        emulator = self.emulator
        people = [emulator.add_user(f"{name}-{i}", f"{name}_{i}", "en") for i in range(members)]
        group = emulator.add_group(name, [emulator.user("alice"), *people])
        return group.id, [person.id for person in people]

    async def post_button(self, group_id: int, text: str, data: str) -> tuple[int, int]:
        """A message from the bot in the group with a ``text`` button (as if sent earlier),
        shaped like the product's red packet (its text, a second button with a link), so
        that the bare bots parse taps of the same size as the product does."""
        emulator = self.emulator
        link = f"https://t.me/{emulator.bot.username}?start=rp_AAAAAAAAAAA"
        markup = {
            "inline_keyboard": [
                [{"text": text, "callback_data": data}, {"text": "Open wallet", "url": link}]
            ]
        }
        body = "🧧 Alice sent a red packet: Best wishes, good fortune!\n0/100 grabbed"
        group = emulator.chats[group_id]
        message = emulator.new_message(group, emulator.bot, text=body, reply_markup=markup)
        return message.chat_id, message.message_id

    async def post_packet(self, group_id: int) -> tuple[int, int]:
        """Alice posts a red packet in the group through the bot; its message."""
        emulator = self.emulator
        group = emulator.chats[group_id]
        if not emulator.user("alice").started:  # the bot may write to her from now on
            await emulator.send_text("alice", "/start")
            await emulator.wait_for_message("alice", timeout=30)
        amount = f"{PACKET_FEN // 100}"
        await emulator.send_text("alice", f"/redpacket {amount} {SHARES}", group)
        card = await emulator.wait_for_message("alice", timeout=30)
        await emulator.tap("alice", card, "Confirm")
        await emulator.wait_for_edit(card, timeout=30)
        mark = emulator.mark()
        for digit in PIN:
            await emulator.tap("alice", card, digit)
        posted = await emulator.wait_for_message(group, text="🧧", since=mark, timeout=30)
        return posted.chat_id, posted.message_id

    async def burst(
        self, chat_id: int, message_id: int, user_ids: list[int], button: str, profile: bool
    ) -> dict[str, Any]:
        """All of ``user_ids`` tap ``button`` at once; latencies and this process's CPU."""
        emulator = self.emulator
        message = emulator.chats[chat_id].messages[message_id]
        refused = len(emulator.errors())
        with Profiled(profile) as profiled:
            burst = await tap_burst(emulator, user_ids, message, button, timeout=BURST_TIMEOUT_S)
        return {
            "latencies": burst.latencies,
            "span": burst.span,
            "unanswered": burst.unanswered,
            "cpu": profiled.cpu,
            "refused": len(emulator.errors()) - refused,
            "profile": profiled.top(),
        }


    async def write_burst(self, user_ids: list[int], text: str) -> dict[str, Any]:
        """All of ``user_ids`` send ``text`` to the bot in private at once; latencies of
        the bot's replies and this process's CPU."""
        emulator = self.emulator
        refused = len(emulator.errors())
        with Profiled(False) as profiled:
            burst = await message_burst(emulator, user_ids, text, timeout=BURST_TIMEOUT_S)
        return {
            "latencies": burst.latencies,
            "span": burst.span,
            "unanswered": burst.unanswered,
            "cpu": profiled.cpu,
            "refused": len(emulator.errors()) - refused,
            "profile": "",
        }


class Profiled:
    """This process's CPU time over a block, and where it went when ``profile`` is set."""

    def __init__(self, profile: bool) -> None:
        self.profiler = cProfile.Profile(time.process_time) if profile else None
        self.cpu = 0.0

    def __enter__(self) -> Profiled:
        if self.profiler is not None:
            self.profiler.enable()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cpu = time.process_time() - self.cpu
        if self.profiler is not None:
            self.profiler.disable()

    def top(self, lines: int = 20) -> str:
        """The functions that took the most CPU time themselves ("" without profiling)."""
        if self.profiler is None:
            return ""
        out = io.StringIO()
        pstats.Stats(self.profiler, stream=out).sort_stats("tottime").print_stats(lines)
        return out.getvalue()


def serve_emulator(conn: Connection) -> None:
    """The child process: a sandbox on a free port, driven by commands on ``conn``."""
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    sandbox = await start_sandbox()
    conn.send((sandbox.url, sandbox.token))
    driver = EmulatorDriver(sandbox.emulator)
    try:
        while True:
            command, kwargs = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            try:
                result = await getattr(driver, command)(**kwargs)
            except Exception:
                conn.send(("error", traceback.format_exc()))
            else:
                conn.send(("ok", result))
    finally:
        await sandbox.stop()


class EmulatorProcess:
    """The bench's side of the emulator process: ``await emulator.call("burst", ...)``."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve_emulator, args=(child,), name="emulator", daemon=True
        )
        self._child = child
        self.url = self.token = ""

    async def __aenter__(self) -> EmulatorProcess:
        self._process.start()
        self._child.close()
        self.url, self.token = await self._receive()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):  # it may have died already
            self._conn.send(("stop", {}))
        await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10)
        if self._process.is_alive():
            self._process.terminate()
        self._conn.close()

    async def call(self, command: str, **kwargs: Any) -> Any:
        self._conn.send((command, kwargs))
        status, result = await self._receive()
        if status == "error":
            raise RuntimeError(f"the emulator process failed at {command}:\n{result}")
        return result

    async def _receive(self) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)
        except EOFError:
            raise RuntimeError("the emulator process exited (see its traceback above)") from None


# -- the bots ------------------------------------------------------------------------------


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the callback query, and nothing else."""
    await update.callback_query.answer()


async def ignore(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say nothing of a failed answer: the emulator counts the calls it refused."""


def bare_bot(emulator: EmulatorProcess, transport: str) -> Application:
    """A bot that only answers callback queries, on PTB's default httpx or ``transport``."""
    builder = (
        Application.builder()
        .token(emulator.token)
        .base_url(f"{emulator.url}/bot")
        .base_file_url(f"{emulator.url}/file/bot")
        .rate_limiter(AIORateLimiter())
        .concurrent_updates(256)
    )
    if transport != "ptb-default":
        request, get_updates_request = make_requests(transport)
        builder = builder.request(request).get_updates_request(get_updates_request)
    application = builder.build()
    application.add_handler(CallbackQueryHandler(answer))
    application.add_error_handler(ignore)
    return application


class ErrorCount(logging.Handler):
    """Counts ERROR records: the error handler's (unhandled handler errors) and the rest."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.handler_errors = 0
        self.other = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "bot.handlers.errors":
            self.handler_errors += 1
        else:
            self.other += 1
        if len(self.first) < 3:
            error = f" ({record.exc_info[1]!r})" if record.exc_info else ""
            self.first.append(f"{record.name}: {record.getMessage()}{error}")


@dataclass(frozen=True)
class Row:
    """One measured burst."""

    bot: str
    tappers: int
    taps_per_s: float
    p50_ms: float
    p99_ms: float
    bot_cpu_ms_per_tap: float
    bot_cpu_share: float
    emulator_cpu_share: float
    others_cpu_share: float  # the rest of the machine during the burst (NaN: unknown)
    unanswered: int
    refused: int  # Bot API calls the emulator refused (4xx) during the burst
    spread: tuple[float, float] = (math.nan, math.nan)  # taps/s, slowest and fastest burst


def median(rows: list[Row]) -> Row:
    """The burst of median taps/s (the lower middle one of an even number), with the
    spread of taps/s and the unanswered taps and refused calls of all the bursts."""
    ranked = sorted(rows, key=lambda row: row.taps_per_s)
    return replace(
        ranked[(len(ranked) - 1) // 2],
        spread=(ranked[0].taps_per_s, ranked[-1].taps_per_s),
        unanswered=sum(row.unanswered for row in rows),
        refused=sum(row.refused for row in rows),
    )


def machine_cpu() -> float:
    """CPU seconds every process on the machine has used since boot (Linux; else NaN)."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Bench:
    """The runs, one emulator process each; ``profiles`` collects the --profile output."""

    def __init__(self, workdir: Path, rounds: int, profile: bool) -> None:
        self.workdir = workdir
        self.rounds = rounds
        self.profile = profile
        self.profiles: list[str] = []
        self.errors = ErrorCount()
        self.transport = "?"  # the product's, as build_application chose it
        self.collector = gc.get_threshold()  # Python's, for the bare bots

    async def measure(
        self,
        emulator: EmulatorProcess,
        label: str,
        message: tuple[int, int] | None,
        members: list[int],
        button: str,
        *,
        text: str | None = None,
    ) -> Row:
        """One burst of ``members`` tapping ``button`` on ``message`` (or, given ``text``,
        writing it to the bot in private), with both CPU figures."""
        machine = machine_cpu()
        with Profiled(self.profile) as bot:
            if text is not None:
                result = await emulator.call("write_burst", user_ids=members, text=text)
            else:
                assert message is not None
                result = await emulator.call(
                    "burst",
                    chat_id=message[0],
                    message_id=message[1],
                    user_ids=members,
                    button=button,
                    profile=self.profile,
                )
        others = machine_cpu() - machine - bot.cpu - result["cpu"]
        burst = Burst(result["latencies"], result["span"], result["unanswered"])
        if self.profile:
            title = f"{label}, {len(members)} tappers"
            self.profiles.append(f"== the bot: {title}\n{bot.top()}")
            self.profiles.append(f"== the emulator: {title}\n{result['profile']}")
        span = burst.span
        return Row(
            bot=label,
            tappers=len(members),
            taps_per_s=len(burst.latencies) / span,
            p50_ms=burst.percentile(0.5) * 1000,
            p99_ms=burst.percentile(0.99) * 1000,
            bot_cpu_ms_per_tap=bot.cpu * 1000 / len(members),
            bot_cpu_share=bot.cpu / span,
            emulator_cpu_share=result["cpu"] / span,
            others_cpu_share=max(0.0, others / span) if span >= TICKS_SPAN else float("nan"),
            unanswered=burst.unanswered,
            refused=result["refused"],
        )

    async def warm_up(self, emulator: EmulatorProcess, tappers: int) -> None:
        """An unmeasured burst on a stale button by other members: warm connection pools."""
        group, members = await emulator.call(
            "new_group", name="warm-up", members=min(tappers, WARM_UP_MAX)
        )
        stale = await emulator.call("post_button", group_id=group, text="Old poll", data="x:0")
        profile, self.profile = self.profile, False
        try:
            await self.measure(emulator, "warm-up", stale, members, "Old poll")
        finally:
            self.profile = profile

    async def bare(self, transport: str, label: str, tappers: int) -> Row:
        """The median of ``rounds`` bursts, each by members the bot has not seen tap.

        With Python's own garbage collector thresholds, as such a bot runs: the product
        raises them when it is built (``bot.ops.collector``), in this same process."""
        gc.set_threshold(*self.collector)
        rows = []
        async with EmulatorProcess() as emulator:
            application = bare_bot(emulator, transport)
            async with polling(application):
                await self.warm_up(emulator, tappers)
                for round_ in range(self.rounds):
                    group, members = await emulator.call(
                        "new_group", name=f"round-{round_}", members=tappers
                    )
                    message = await emulator.call(
                        "post_button", group_id=group, text="Tap", data="tap"
                    )
                    rows.append(await self.measure(emulator, label, message, members, "Tap"))
        return median(rows)

    async def product(self, tappers: int) -> tuple[Row, Row]:
        """Medians of ``rounds`` rounds: new members grab a packet, then a second one."""
        async with EmulatorProcess() as emulator:
            settings = Settings(
                telegram_bot_token=emulator.token,
                telegram_api_base_url=emulator.url,
                database_url=f"sqlite:///{self.workdir / f'product-{tappers}.db'}",
                data_dir=self.workdir,
                key_dir=self.workdir / "keys",  # removed with the rest of the work folder
            )
            wallet = await open_wallet(settings)
            limits = RateLimits(  # Alice posts 2 packets a round; every tap is a grab
                command_user=UNLIMITED, callback_user=UNLIMITED, callback_chat=UNLIMITED
            )
            application = build_application(settings, wallet=wallet, rate_limits=limits)
            self.transport = type(application.bot.request).__name__
            alice = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
            external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
            seed = 2 * self.rounds * PACKET_FEN
            await wallet.ledger.transfer("seed", external, alice.account_id, seed, "topup")
            await wallet.pins.set_pin(ALICE, PIN)
            new, known = [], []
            logging.getLogger().addHandler(self.errors)  # the product's errors only
            try:
                async with polling(application):
                    await self.warm_up(emulator, tappers)
                    for round_ in range(self.rounds):
                        group, members = await emulator.call(
                            "new_group", name=f"round-{round_}", members=tappers
                        )
                        for label, rows in (("new", new), ("known", known)):
                            packet = await emulator.call("post_packet", group_id=group)
                            rows.append(
                                await self.measure(
                                    emulator, f"product, {label} members", packet, members, "Grab"
                                )
                            )
            finally:
                logging.getLogger().removeHandler(self.errors)
                await wallet.close()
        return median(new), median(known)

    async def run(self, sizes: list[int]) -> dict[int, dict[str, Row]]:
        logging.getLogger().setLevel(logging.ERROR)  # nothing below is even formatted
        results: dict[int, dict[str, Row]] = {}
        for size in sizes:
            rows = {
                "httpx": await self.bare("ptb-default", "bare PTB, httpx (PTB's default)", size),
                "aiohttp": await self.bare("aiohttp", "bare PTB, aiohttp (bot.transport)", size),
            }
            rows["new"], rows["known"] = await self.product(size)
            results[size] = rows
        return results


# -- the report ----------------------------------------------------------------------------


HEADER = (
    f"{'':36}{'taps/s':>7} {'(slowest-fastest)':<18}{'p50':>8}{'p99':>9}"
    f"{'bot CPU/tap':>13}  CPU: bot emulator others"
)


def _row_line(row: Row) -> str:
    slowest, fastest = row.spread
    flags = ""
    if row.unanswered or row.refused:
        flags = f"  ({row.unanswered} unanswered, {row.refused} calls refused)"
    return (
        f"    {row.bot:<32}{row.taps_per_s:>7,.0f} {f'({slowest:,.0f}-{fastest:,.0f})':<18}"
        f"{row.p50_ms:>5.0f} ms{row.p99_ms:>6.0f} ms{row.bot_cpu_ms_per_tap:>10.2f} ms"
        f"  {row.bot_cpu_share:>8.0%}{row.emulator_cpu_share:>9.0%}"
        f"{_share(row.others_cpu_share):>7}{flags}"
    )


def _share(share: float) -> str:
    return "?" if math.isnan(share) else f"{share:.0%}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    results: dict[int, dict[str, Row]], rounds: int, transport: str, errors: ErrorCount
) -> None:
    """The table, the ratios against the design's targets, the product's error count."""
    print(
        "callback answers end to end (bot and emulator in separate processes,"
        f" {os.uname().sysname}, {os.cpu_count()} cores; the median burst of {rounds})"
    )
    print(HEADER)
    for size, rows in results.items():
        print(f"  {size} members tap at once")
        for key in ("httpx", "aiohttp", "new", "known"):
            print(_row_line(rows[key]))
    print(f"ratios (the product runs on {transport}; targets from DESIGN.md)")
    for size, rows in results.items():
        bare = rows["aiohttp"]
        transport_gain = bare.taps_per_s / rows["httpx"].taps_per_s
        print(
            f"  {size:>5} tappers: bare aiohttp / bare httpx".ljust(52)
            + f"taps/s {transport_gain:5.2f}x"
        )
        for key in ("new", "known"):
            taps = rows[key].taps_per_s / bare.taps_per_s
            p99 = rows[key].p99_ms / bare.p99_ms
            print(
                f"  {size:>5} tappers: product ({key}) / bare aiohttp".ljust(52)
                + f"taps/s {taps:5.2f}x (target >= {TAPS_TARGET}: {_verdict(taps >= TAPS_TARGET)})"
                f"   p99 {p99:5.2f}x (target <= {P99_TARGET}: {_verdict(p99 <= P99_TARGET)})"
            )
    print(
        f"unhandled handler errors in the product: {errors.handler_errors} (0 expected);"
        f" other ERROR log records: {errors.other}"
    )
    for line in errors.first:
        print(f"  {line}", file=sys.stderr)
    shares = [row.others_cpu_share for rows in results.values() for row in rows.values()]
    busiest = max((share for share in shares if not math.isnan(share)), default=0.0)
    if busiest > BUSY_MACHINE:
        print(
            f"note: other processes used up to {busiest:.0%} of a core during the bursts;"
            " the figures are not the bot's alone: rerun on a quiet machine"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tappers", default="300,1000", help="burst sizes, comma-separated (default 300,1000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="bursts per bot and size; the median is shown"
    )
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the bot and the emulator spent their CPU in each burst (slower)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.tappers.split(",") if size.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=args.dir))
    bench = Bench(workdir, args.rounds, args.profile)
    try:
        results = asyncio.run(bench.run(sizes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.rounds, bench.transport, bench.errors)
    if args.profile:
        print("\n".join(bench.profiles), file=sys.stderr)


if __name__ == "__main__":
    main()
