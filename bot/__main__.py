"""Command line: ``python -m bot run|sandbox|migrate|audit`` (also ``wallet-bot``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.errors import StorageError
from bot.wallet.money import format_fen

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot (the sandbox when no token is set)")
    run.add_argument("--webhook", metavar="URL", help="receive updates by webhook at URL")
    commands.add_parser("sandbox", help="run the bot against the local Bot API emulator")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("audit", help="verify the ledger invariants (read-only; exit 0 if ok)")
    return parser


async def _migrate(settings: Settings) -> int:
    from bot.app import open_wallet

    wallet = await open_wallet(settings)
    await wallet.close()
    print(f"database ready: {settings.database_url}")
    return EXIT_OK


async def _audit(settings: Settings) -> int:
    async with open_store_snapshot(settings.database_url) as snapshot:
        report = await audit_ledger(snapshot)
    print(f"ledger audit of {settings.database_url}")
    print(
        f"  accounts: {report.accounts}  transfers: {report.transfers}"
        f"  open reservations: {report.open_pending}"
    )
    print(f"  money held for users and merchants: {format_fen(report.total_user_money)}")
    if report.ok:
        print("OK: balances match their transfers, Σ balances = 0, no negative user balance,")
        print("    the hash chain verifies")
        return EXIT_OK
    print(f"FAILED: {len(report.problems) + report.more_problems} problem(s)")
    for problem in report.problems:
        print(f"  - {problem}")
    if report.more_problems:
        print(f"  … and {report.more_problems} more")
    return EXIT_PROBLEMS


def _run(settings: Settings, webhook: str | None) -> int:
    if not settings.telegram_bot_token:
        print(
            "No TELEGRAM_BOT_TOKEN is set. The local sandbox (a Bot API emulator with a web"
            " chat page) is what runs without a token; it is not built yet.\n"
            "Set TELEGRAM_BOT_TOKEN to run against Telegram.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print("The chat application is not wired yet (see the open issues).", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "audit":
            return asyncio.run(_audit(settings))
        return _run(settings, getattr(args, "webhook", None))
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
