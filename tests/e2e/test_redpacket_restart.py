"""A bot killed while a packet is open: the next start refunds it once it is due."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

from bot.app import build_application
from bot.sandbox.testing import polling
from tests.e2e.conftest import FAST_FINGERS
from tests.e2e.test_redpacket import edits, escrow, fen_of, grab, send_packet
from tests.e2e.test_send import ALICE, BOB, available, fund, start_private

ROOT = Path(__file__).resolve().parents[2]
EXPIRY_S = 3

# The bot, polling the test's emulator, in a process of its own (killed with SIGKILL).
BOT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    from bot.app import build_application, open_wallet
    from bot.config import Settings
    from bot.sandbox.testing import polling
    from bot.security.ratelimit import BucketLimit, RateLimits

    token, url, db, data_dir, expiry = sys.argv[1:6]

    async def main():
        settings = Settings(
            telegram_bot_token=token,
            telegram_api_base_url=url,
            database_url=db,
            data_dir=Path(data_dir),
            redpacket_expiry_s=int(expiry),
        )
        fast = RateLimits(callback_user=BucketLimit(1_000, 1_000))
        wallet = await open_wallet(settings)
        application = build_application(settings, wallet=wallet, rate_limits=fast)
        async with polling(application):
            print("polling", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_a_packet_open_when_the_bot_was_killed_is_refunded_after_the_restart(
    sandbox, settings, wallet, tmp_path
):
    emulator = sandbox.emulator
    await fund(wallet, ALICE, 50_00)
    script = tmp_path / "bot_process.py"
    script.write_text(BOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WALLET_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(ROOT)
    db = settings.database_url  # SQLite's file or PostgreSQL's database
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        sandbox.token,
        sandbox.url,
        db,
        str(tmp_path),
        str(EXPIRY_S),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        assert line.strip() == b"polling", (await child.stderr.read()).decode()
        await start_private(emulator, "alice")
        _, posted = await send_packet(emulator, "/redpacket 10 3")
        got = fen_of(await grab(emulator, "bob", posted))
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
        (tmp_path / "bot_process.stderr").write_bytes(await child.stderr.read())
    assert child.returncode == -signal.SIGKILL
    assert await available(wallet, ALICE) == 40_00 and await escrow(wallet) == 10_00 - got

    await asyncio.sleep(EXPIRY_S)  # the deadline passes while no bot runs
    mark = emulator.mark()
    async with polling(build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)):
        dm = await emulator.wait_for_message("alice", text="expired", since=mark, timeout=10)
        final = await emulator.wait_for(
            lambda e: edits(e, posted) and "Expired" in e.text,
            since=mark,
        )
    assert fen_of(dm.text) == 10_00 - got
    assert "Bob" in final.text
    assert await available(wallet, ALICE) == 50_00 - got
    assert await available(wallet, BOB) == got
    assert await escrow(wallet) == 0
