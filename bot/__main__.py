"""Command line: ``python -m bot run|sandbox|migrate|audit`` (also ``wallet-bot``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import threading

from bot.config import ConfigError, Settings, load_settings, redact_url
from bot.domain.errors import StorageError
from bot.domain.events import verify_events
from bot.domain.money import format_fen
from bot.domain.security_errors import MasterKeyError
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot (the sandbox when no token is set)")
    run.add_argument("--webhook", metavar="URL", help="receive updates by webhook at URL")
    run.add_argument("--listen", default="127.0.0.1", help="webhook: address to listen on")
    run.add_argument("--port", type=int, default=8443, help="webhook: port to listen on")
    run.add_argument(
        "--url-path", help="webhook: the path this process serves (default: the URL's path)"
    )
    run.add_argument(
        "--secret-token",
        help="webhook: the secret token Telegram sends (default: WALLET_WEBHOOK_SECRET, else"
        " one kept in the data folder)",
    )
    run.add_argument(
        "--allow-sandbox-payouts",
        action="store_true",
        help="staging only: run with a real bot token although WALLET_PAYOUT_GATEWAY=sandbox"
        " pays no withdrawal",
    )
    sandbox = commands.add_parser("sandbox", help="run the bot against the local emulator")
    for parser_ in (run, sandbox):
        parser_.add_argument("--sandbox-port", type=int, default=8080, help="sandbox page port")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("audit", help="verify the ledger invariants (read-only; exit 0 if ok)")
    commands.add_parser(
        "rotate-keys", help="re-encrypt stored secrets under the current master key"
    )
    return parser


async def _migrate(settings: Settings) -> int:
    from bot.app import open_wallet

    wallet = await open_wallet(settings)
    await wallet.close()
    print(f"database ready: {redact_url(settings.database_url)}")
    return EXIT_OK


async def _rotate_keys(settings: Settings) -> int:
    from bot.security.cipher import load_keyring
    from bot.security.rotation import rotate_keys
    from bot.storage import open_store

    keyring = load_keyring(settings.master_key, settings.data_dir)
    db = await open_store(settings.database_url, synchronous=settings.sqlite_synchronous)
    try:
        saved = await db.meta("key_check")
        if saved is not None and keyring.key_id_for_check(saved) is None:
            print(
                "error: none of the configured keys wrote this database; put the key it was"
                " written with in data/master.key.old1 (or keep it current)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        report = await rotate_keys(db.rotation, keyring)
    finally:
        await db.close()
    print(
        f"re-encrypted {report.values} values and {report.indexes} blind indexes under key"
        f" {report.key_id}"
    )
    return EXIT_OK


async def _audit(settings: Settings) -> int:
    async with open_store_snapshot(settings.database_url) as snapshot:
        report = await audit_ledger(snapshot)
        events, event_problems = await verify_events(snapshot.events())
    report.problems.extend(event_problems)
    print(f"ledger audit of {redact_url(settings.database_url)}")
    print(
        f"  accounts: {report.accounts}  transfers: {report.transfers}"
        f"  open reservations: {report.open_pending}"
    )
    print(f"  money held for users and merchants: {format_fen(report.total_user_money)}")
    print(f"  security events: {events}")
    if report.ok:
        print("OK: balances match their transfers, Σ balances = 0, no negative user balance,")
        print("    the hash chains of the transfers and of the security events verify")
        return EXIT_OK
    print(f"FAILED: {len(report.problems) + report.more_problems} problem(s)")
    for problem in report.problems:
        print(f"  - {problem}")
    if report.more_problems:
        print(f"  … and {report.more_problems} more")
    return EXIT_PROBLEMS


def sandbox_payouts_refusal(settings: Settings, *, allowed: bool) -> str | None:
    """Why ``run`` must not start, or None: with a real bot token the sandbox payout
    gateway would tell people their withdrawals are on the way while paying nothing."""
    if not settings.telegram_bot_token or settings.payout_gateway != "sandbox" or allowed:
        return None
    return (
        "error: WALLET_PAYOUT_GATEWAY is sandbox, which pays no withdrawal, but"
        " TELEGRAM_BOT_TOKEN is a real bot's token. Set WALLET_PAYOUT_GATEWAY=manual (admins"
        " pay each withdrawal by hand, from /payouts) or WALLET_PAYOUT_GATEWAY=http (a payout"
        " provider), or, for a staging bot whose users know that nothing is paid, pass"
        " --allow-sandbox-payouts."
    )


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import ALLOWED_UPDATES, build_application

    if args.command == "run" and args.webhook and not settings.telegram_bot_token:
        print(
            "error: --webhook needs TELEGRAM_BOT_TOKEN (without a token, run serves the"
            " sandbox by polling)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "sandbox" or not settings.telegram_bot_token:
        return _run_sandbox(settings, args.sandbox_port)
    refusal = sandbox_payouts_refusal(settings, allowed=args.allow_sandbox_payouts)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    if settings.payout_gateway == "sandbox":
        logging.getLogger("bot").warning(
            "--allow-sandbox-payouts: withdrawals are paid by the sandbox gateway, which pays"
            " nothing; users are told so"
        )
    if args.webhook:
        return _run_webhook(settings, args)
    build_application(settings).run_polling(allowed_updates=ALLOWED_UPDATES)
    return EXIT_OK


def _run_webhook(settings: Settings, args: argparse.Namespace) -> int:
    from telegram.error import TelegramError

    from bot.app import build_application
    from bot.webhook import WebhookOptions, run_webhook, secret_token

    options = WebhookOptions(
        args.webhook, args.listen, args.port, args.url_path, args.secret_token
    )
    if problem := options.check():
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = dataclasses.replace(
            options, secret_token=secret_token(settings, options.secret_token)
        )
    except (OSError, ValueError) as exc:
        print(f"error: the webhook's secret token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_webhook(build_application(settings), settings, options)
    except OSError as exc:
        where = f"{args.listen}:{args.port}"
        print(f"error: cannot serve the webhook on {where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TelegramError as exc:
        print(f"error: setWebhook failed: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _run_sandbox(settings: Settings, port: int) -> int:
    """The emulator and its page on a thread of their own; the bot polls it as usual."""
    from bot.app import build_application
    from bot.sandbox.server import start_sandbox

    loop = asyncio.new_event_loop()
    try:
        sandbox = loop.run_until_complete(start_sandbox("127.0.0.1", port))
    except OSError as exc:
        print(f"error: cannot serve the sandbox on port {port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    server = threading.Thread(target=loop.run_forever, name="sandbox", daemon=True)
    server.start()
    settings = dataclasses.replace(
        settings,
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        # the emulator's payments are pretend ones: /topup can be tried on the page
        payment_provider_token=settings.payment_provider_token or "sandbox:TEST",
    )
    print(f"Sandbox: open {sandbox.page_url} in a browser to chat with the bot (Ctrl+C stops).")
    try:
        build_application(settings).run_polling()
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        server.join(timeout=10)
        loop.close()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("httpx", "httpcore"):  # they log every URL, and URLs hold the bot token
        logging.getLogger(chatty).setLevel(logging.WARNING)
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
        if args.command == "rotate-keys":
            return asyncio.run(_rotate_keys(settings))
        return _run(settings, args)
    except (StorageError, MasterKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
