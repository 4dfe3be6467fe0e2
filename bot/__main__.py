"""Command line: ``python -m bot run|dispatch|sandbox|migrate|audit|rotate-keys|backup|restore``
(also ``wallet-bot``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fcntl
import importlib.metadata
import logging
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from bot.config import (
    WEBHOOK_SECRET,
    ConfigError,
    Settings,
    environment_variables,
    load_settings,
    redact_url,
)
from bot.domain.errors import StorageError
from bot.domain.events import verify_events
from bot.domain.money import format_fen
from bot.domain.security_errors import MasterKeyError
from bot.storage import holds_wallet, is_postgres_url, open_store_snapshot, sqlite_path
from bot.wallet.audit import audit_ledger

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a program stopped by Ctrl+C


def version() -> str:
    try:
        return importlib.metadata.version("wallet-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def _epilog() -> str:
    names = textwrap.fill(", ".join(environment_variables()), width=78)
    return (
        "environment (or the same names, lower case and without WALLET_, in wallet.toml;"
        " see README.md, Configuration):\n" + textwrap.indent(names, "  ")
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallet-bot",
        description="A Telegram community wallet bot.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wallet-bot {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    dispatch = commands.add_parser(
        "dispatch",
        help="serve the webhook and forward each update to one of several bot processes,"
        " chosen by the person it comes from (deploy/README.md)",
    )
    dispatch.add_argument(
        "--workers",
        required=True,
        metavar="URL,URL,…",
        help="the webhook URLs of the bot processes (run --webhook … --port N), in a fixed order",
    )
    dispatch.add_argument("--listen", default="127.0.0.1", help="address to listen on")
    dispatch.add_argument("--port", type=int, default=8443, help="port to listen on")
    dispatch.add_argument("--url-path", default="/", help="the path Telegram posts to")
    dispatch.add_argument(
        "--secret-token",
        help="the secret token Telegram sends, forwarded to the processes (default:"
        " WALLET_WEBHOOK_SECRET, else one kept in the data folder)",
    )
    sandbox = commands.add_parser("sandbox", help="run the bot against the local emulator")
    for parser_ in (run, sandbox):
        parser_.add_argument("--sandbox-port", type=int, default=8080, help="sandbox page port")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("audit", help="verify the ledger invariants (read-only; exit 0 if ok)")
    commands.add_parser(
        "rotate-keys", help="re-encrypt stored secrets under the current master key"
    )
    backup = commands.add_parser(
        "backup", help="copy the database to PATH while the bot runs (never the master key)"
    )
    backup.add_argument("path", metavar="PATH", type=Path, help="a new file, or a folder")
    restore = commands.add_parser(
        "restore", help="put the backup at PATH in place of the database, then audit it"
    )
    restore.add_argument("path", metavar="PATH", type=Path, help="a file made by backup")
    restore.add_argument(
        "--force", action="store_true", help="replace an existing database (the bot stopped)"
    )
    return parser


def _no_wallet(settings: Settings) -> str | None:
    """Why a maintenance command that needs an existing wallet cannot run, or None: it
    must never create an empty database (nor a master key) in the wrong place."""
    if asyncio.run(holds_wallet(settings.database_url)):
        return None
    if is_postgres_url(settings.database_url):
        where = f"the PostgreSQL database {redact_url(settings.database_url)}"
    else:
        where = str(sqlite_path(settings.database_url).resolve())
    return (
        f"error: no wallet database at {where}: set WALLET_DATABASE_URL (or WALLET_DATA_DIR)"
        " as the bot's service does, or create one with migrate"
    )


def _backup(settings: Settings, path: Path) -> int:
    from bot.ops.backup import BackupError, backup

    try:
        made = backup(settings, path)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"backup of {redact_url(settings.database_url)} written to {made}")
    print("the master key is not in it: keep a copy of the key apart from the backups")
    return EXIT_OK


def _restore(settings: Settings, path: Path, force: bool) -> int:
    from bot.ops.backup import BackupError, restore

    try:
        report = restore(settings, path, force=force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"restored {path.resolve()} (schema {report.schema}) to {report.target}")
    if report.replaced is not None:
        print(f"the database it replaced is kept as {report.replaced}")
    if report.key_matches is False:
        print(
            "warning: the configured master key did not write this database; the bot will"
            f" refuse to start until the key it was written with is in {settings.master_key_dir}"
            " (or WALLET_MASTER_KEY)",
            file=sys.stderr,
        )
    return asyncio.run(_audit(settings))


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

    keyring = load_keyring(
        settings.master_key, settings.master_key_dir, legacy_dir=settings.data_dir
    )
    db = await open_store(
        settings.database_url,
        synchronous=settings.sqlite_synchronous,
        pool_size=settings.database_pool_size,
    )
    try:
        saved = await db.meta("key_check")
        if saved is not None and keyring.key_id_for_check(saved) is None:
            print(
                "error: none of the configured keys wrote this database; put the key it was"
                f" written with in {settings.master_key_dir / 'master.key.old1'} (or keep it"
                " current)",
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


def _data_folder(settings: Settings) -> str | None:
    """Make the data folder (mode 0700) when it is missing; why it cannot hold the bot's
    files, or None."""
    folder = settings.data_dir
    name = f"the data folder {folder.resolve()} (WALLET_DATA_DIR)"
    if folder.exists() and not folder.is_dir():
        return f"error: {name} is a file, not a folder"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return f"error: cannot create {name}: {exc.strerror or exc}"
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        why = "is on a read-only file system" if read_only else "cannot be written by this user"
        return f"error: {name} {why}"
    return None


def _start_failure(settings: Settings, exc: Exception) -> str:
    """The one sentence for a bot that could not start talking to Telegram (never the
    token in clear)."""
    from telegram.error import BadRequest, InvalidToken, NetworkError

    from bot.ops.logs import Redactor

    redact = Redactor.for_settings(settings)
    if isinstance(exc, InvalidToken):
        bot_id = (settings.telegram_bot_token or "").split(":", 1)[0]
        return (
            f"error: Telegram rejected the bot token ({bot_id}:…, TELEGRAM_BOT_TOKEN or"
            " TELEGRAM_BOT_TOKEN_FILE): copy it again from @BotFather, or make a new one there"
        )
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return redact(
            f"error: cannot reach the Bot API at {settings.telegram_api_base_url}"
            f" (TELEGRAM_API_BASE_URL): {exc.message}"
        )
    return redact(f"error: Telegram refused to start the bot: {exc}")


def _serve(settings: Settings, start: Callable[[], object]) -> int:
    """Run ``start`` (the bot serving until it stops); the problems that stop it at start
    become one sentence."""
    from telegram.error import TelegramError

    from bot.ops.operations import MetricsUnavailable

    try:
        start()
    except MetricsUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TelegramError as exc:
        print(_start_failure(settings, exc), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _one_process(settings: Settings) -> tuple[int | None, str | None]:
    """On SQLite, an exclusive ``flock`` on ``<database>.lock``, held for the life of the
    process (the descriptor returned), with this process's id in it; or why not: another
    process holds it. One process serves a SQLite database: a second one's jobs would run
    twice. PostgreSQL: nothing to hold (several processes share it)."""
    if is_postgres_url(settings.database_url):
        return None, None
    database = sqlite_path(settings.database_url).resolve()
    lock = database.with_name(f"{database.name}.lock")
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f" (process {holder})" if holder.isdigit() else ""
        return None, (
            f"error: a bot{who} is running on {database} already: with SQLite one process"
            " serves a database (stop that one first; several processes need PostgreSQL,"
            " deploy/README.md)"
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd, None


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "run" and args.webhook and not settings.telegram_bot_token:
        print(
            "error: --webhook needs TELEGRAM_BOT_TOKEN (without a token, run serves the"
            " sandbox by polling)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "run" and settings.telegram_bot_token:
        refusal = sandbox_payouts_refusal(settings, allowed=args.allow_sandbox_payouts)
        if refusal is not None:
            print(refusal, file=sys.stderr)
            return EXIT_USAGE
    if problem := _data_folder(settings):
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    held, refusal = _one_process(settings)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run_one(settings, args)
    finally:
        if held is not None:
            os.close(held)


def _run_one(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import ALLOWED_UPDATES, build_application

    if args.command == "sandbox" or not settings.telegram_bot_token:
        return _run_sandbox(settings, args.sandbox_port)
    if settings.payout_gateway == "sandbox":
        logging.getLogger("bot").warning(
            "--allow-sandbox-payouts: withdrawals are paid by the sandbox gateway, which pays"
            " nothing; users are told so"
        )
    if args.webhook:
        return _run_webhook(settings, args)
    application = build_application(settings)
    return _serve(settings, lambda: application.run_polling(allowed_updates=ALLOWED_UPDATES))


def _run_webhook(settings: Settings, args: argparse.Namespace) -> int:
    from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

    from bot.app import build_application
    from bot.ops.logs import Redactor
    from bot.ops.operations import MetricsUnavailable
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
    except MetricsUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f"{args.listen}:{args.port}"
        print(f"error: cannot serve the webhook on {where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (InvalidToken, NetworkError) as exc:
        if isinstance(exc, BadRequest):
            redact = Redactor.for_settings(settings)
            print(redact(f"error: setWebhook failed: {exc}"), file=sys.stderr)
        else:
            print(_start_failure(settings, exc), file=sys.stderr)
        return EXIT_USAGE
    except TelegramError as exc:
        redact = Redactor.for_settings(settings)
        print(redact(f"error: setWebhook failed: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    from bot.dispatch import DispatchOptions, run_dispatcher
    from bot.webhook import secret_token

    workers = tuple(url.strip() for url in args.workers.split(",") if url.strip())
    options = DispatchOptions(workers, args.listen, args.port, args.url_path)
    if problem := options.check():
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.secret_token is not None and not WEBHOOK_SECRET.fullmatch(args.secret_token):
        print("error: --secret-token: use 16 to 256 of A-Z a-z 0-9 _ -", file=sys.stderr)
        return EXIT_USAGE
    try:
        secret = secret_token(settings, args.secret_token)
    except (OSError, ValueError) as exc:
        print(f"error: the webhook's secret token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_dispatcher(options, secret)
    except OSError as exc:
        print(f"error: cannot serve on {args.listen}:{args.port}: {exc}", file=sys.stderr)
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
        return _serve(settings, build_application(settings).run_polling)
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        server.join(timeout=10)
        loop.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.command == "migrate" and (problem := _data_folder(settings)):
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    from bot.ops.logs import configure_logging

    try:  # text or JSON lines, secrets masked, the chatty libraries quieted
        configure_logging(settings)
    except OSError as exc:
        print(f"error: WALLET_LOG_FILE: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command in ("audit", "rotate-keys", "backup") and (
            refusal := _no_wallet(settings)
        ):
            print(refusal, file=sys.stderr)
            return EXIT_USAGE
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "audit":
            return asyncio.run(_audit(settings))
        if args.command == "rotate-keys":
            return asyncio.run(_rotate_keys(settings))
        if args.command == "backup":
            return _backup(settings, args.path)
        if args.command == "restore":
            return _restore(settings, args.path, args.force)
        if args.command == "dispatch":
            return _dispatch(settings, args)
        return _run(settings, args)
    except (StorageError, MasterKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # what the machine refused (a folder, a port, a name)
        from bot.ops.logs import Redactor

        print(Redactor.for_settings(settings)(f"error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl+C before the bot serves (it stops cleanly after)
        print("stopped (Ctrl+C)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
