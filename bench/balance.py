"""``/balance`` replies per second end to end: a bare PTB bot beside the product, in one run.

    .venv/bin/python bench/balance.py [--senders 300,1000] [--rounds 3] [--dir PATH]

For each ``--senders`` size, that many new residents write to the bot in private at once,
and each reply is timed from the burst to the bot's sendMessage in that person's chat, as
the emulator saw it:

(a) a bare PTB bot on the product's transport (``bot.transport.make_requests("aiohttp")``)
    that answers any text message with a one-line reply shaped like the product's;
(b) the product (``build_application`` + ``open_wallet`` on a fresh SQLite file) answering
    ``/balance``: each sender's first command, so the wallet registers them, reads their
    account and replies with the balance card in their language.

The machinery is ``bench/e2e.py``'s: each bot polls an emulator in a process of its own,
which also makes the messages, and the median burst of ``--rounds`` is shown, with the
bot's CPU time per reply. Telegram lets a bot send about 30 messages a second overall;
both bots' overall send limit is lifted here (PTB's ``AIORateLimiter`` and the product's
``SendLimiter`` with ``overall_max_rate=0``), so the figures are what the bot itself can
do, not what Telegram lets through. No target is stated for this figure; the ratio to the
bare bot is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2e import HEADER, Bench, EmulatorProcess, Row, _row_line, median
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.handlers.send_limits import SendLimiter
from bot.sandbox.testing import polling
from bot.transport import make_requests

REPLY = "余额 Balance: ¥0.00"  # the product's reply to a new person


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer any text message with a balance-shaped line."""
    await update.effective_message.reply_text(REPLY)


async def ignore(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say nothing of a failed reply: the emulator counts the calls it refused."""


def bare_bot(emulator: EmulatorProcess) -> Application:
    """A bot that only answers text messages, on the product's transport."""
    request, get_updates_request = make_requests("aiohttp")
    application = (
        Application.builder()
        .token(emulator.token)
        .base_url(f"{emulator.url}/bot")
        .base_file_url(f"{emulator.url}/file/bot")
        .rate_limiter(AIORateLimiter(overall_max_rate=0))
        .concurrent_updates(256)
        .request(request)
        .get_updates_request(get_updates_request)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, reply))
    application.add_error_handler(ignore)
    return application


class BalanceBench(Bench):
    """``bench/e2e.py``'s runs, with people writing in private instead of tapping."""

    async def rounds_of(self, emulator: EmulatorProcess, label: str, size: int, text: str):
        rows = []
        for round_ in range(self.rounds):
            _, members = await emulator.call("new_group", name=f"round-{round_}", members=size)
            rows.append(await self.measure(emulator, label, None, members, "", text=text))
        return median(rows)

    async def warm(self, emulator: EmulatorProcess, size: int, text: str) -> None:
        """An unmeasured burst by other people: warm connection pools (and caches)."""
        _, members = await emulator.call("new_group", name="warm-up", members=min(size, 256))
        await self.measure(emulator, "warm-up", None, members, "", text=text)

    async def bare_replies(self, size: int) -> Row:
        gc.set_threshold(*self.collector)  # Python's own, as in Bench.bare
        async with EmulatorProcess() as emulator:
            application = bare_bot(emulator)
            async with polling(application):
                await self.warm(emulator, size, "hello")
                return await self.rounds_of(emulator, "bare PTB, aiohttp, text", size, "hello")

    async def product_replies(self, size: int) -> Row:
        async with EmulatorProcess() as emulator:
            settings = Settings(
                telegram_bot_token=emulator.token,
                telegram_api_base_url=emulator.url,
                database_url=f"sqlite:///{self.workdir / f'balance-{size}.db'}",
                data_dir=self.workdir,
                key_dir=self.workdir / "keys",
            )
            wallet = await open_wallet(settings)
            limiter = SendLimiter(overall_max_rate=0)
            application = build_application(settings, wallet=wallet, rate_limiter=limiter)
            logging.getLogger().addHandler(self.errors)
            try:
                async with polling(application):
                    await self.warm(emulator, size, "/balance")
                    return await self.rounds_of(emulator, "product, /balance", size, "/balance")
            finally:
                logging.getLogger().removeHandler(self.errors)
                await wallet.close()

    async def run(self, sizes: list[int]) -> dict[int, dict[str, Row]]:
        logging.getLogger().setLevel(logging.ERROR)
        results: dict[int, dict[str, Row]] = {}
        for size in sizes:
            bare = await self.bare_replies(size)
            results[size] = {"bare": bare, "product": await self.product_replies(size)}
        return results


def measure(sizes: list[int], rounds: int, directory: Path) -> tuple[dict, BalanceBench]:
    """The median rows per size (``bare``, ``product``) and the bench (its error count)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-balance-", dir=directory))
    bench = BalanceBench(workdir, rounds, profile=False)
    try:
        return asyncio.run(bench.run(sizes)), bench
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", default="300,1000", help="burst sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per bot and size")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    sizes = [int(size) for size in args.senders.split(",") if size.strip()]
    results, bench = measure(sizes, args.rounds, args.dir)
    print(f"/balance replies end to end (the median burst of {args.rounds})")
    print(HEADER.replace("taps/s", "msgs/s").replace("CPU/tap", "CPU/msg"))
    for size, rows in results.items():
        print(f"  {size} people write at once")
        print(_row_line(rows["bare"]))
        print(_row_line(rows["product"]))
    print("ratios (no target stated)")
    for size, rows in results.items():
        ratio = rows["product"].taps_per_s / rows["bare"].taps_per_s
        p99 = rows["product"].p99_ms / rows["bare"].p99_ms
        print(f"  {size:>5} senders: product /balance / bare reply   replies/s {ratio:5.2f}x"
              f"   p99 {p99:5.2f}x")
    errors = bench.errors
    print(f"unhandled handler errors in the product: {errors.handler_errors} (0 expected)")


if __name__ == "__main__":
    main()
