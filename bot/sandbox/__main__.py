"""``python -m bot.sandbox [--port N]``: serve the emulator and its page on 127.0.0.1.

Point a bot at the printed root (TELEGRAM_API_BASE_URL) with the printed token, and open the
page to chat with it as the residents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bot.sandbox.server import start_sandbox


async def _serve(host: str, port: int, token: str | None) -> None:
    sandbox = await start_sandbox(host, port, token)
    print(f"Bot API root:  {sandbox.url}  (TELEGRAM_API_BASE_URL)")
    print(f"Bot token:     {sandbox.token}")
    print(f"Sandbox page:  {sandbox.page_url}")
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", help="the bot token to accept (default: a new one)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
