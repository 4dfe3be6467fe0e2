"""The operations side of one application: metrics, health, the per-update log line,
the heartbeat and the scheduled backups; served on ``WALLET_METRICS_HOST:PORT``.

``GET /metrics`` answers in the Prometheus text format; ``GET /healthz`` answers 200 when
the database takes a write, the Bot API answers ``getMe`` and the job queue is alive (its
heartbeat job ran lately), else 503; both with what each check found, as JSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import logging
import os
import socket
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, Job

from bot.config import Settings
from bot.handlers.context import WALLET_KEY, Wallet
from bot.handlers.leases import lease
from bot.handlers.send_limits import SendLimiter
from bot.ops.backup import BackupError, scheduled_backup
from bot.ops.metrics import CONTENT_TYPE, Metrics

__all__ = ["OPS_KEY", "MetricsUnavailable", "Operations"]

log = logging.getLogger(__name__)
updates_log = logging.getLogger("bot.updates")

OPS_KEY = "operations"
HEARTBEAT_S = 10.0
CHECK_TIMEOUT_S = 5.0
BACKUP_LEASE_SHARE = 0.9  # of the backup interval: the next turn anywhere takes it again
_UPDATE = contextvars.ContextVar[dict]("wallet_update")


class MetricsUnavailable(Exception):
    """/healthz and /metrics cannot be served where the settings say; the message says why."""


def update_type(update: object) -> str:
    """``message``, ``callback_query``, … : the kind of update it is."""
    if isinstance(update, Update):
        for name in Update.ALL_TYPES:
            if getattr(update, name, None) is not None:
                return str(name)
    return "other"


def _command(update: Update) -> str | None:
    """The command a message is (``/send``), never its arguments."""
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    if update.message is None or not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0].split("@", 1)[0][:32]


class Operations:
    """Created before the application (its update processor needs :meth:`around`), then
    :meth:`attach` ed to it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.application: Application | None = None
        self.last_beat: float | None = None
        self._salt = os.urandom(16)  # the user hash when no wallet is open (yet)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._attached = time.monotonic()
        self._heartbeat: Job | None = None

    # wiring ---------------------------------------------------------------------------

    def attach(self, application: Application) -> None:
        self.application = application
        self._attached = time.monotonic()
        application.bot_data[OPS_KEY] = self
        application.add_error_handler(self._on_error)
        limiter = getattr(application.bot, "rate_limiter", None)
        if isinstance(limiter, SendLimiter):
            limiter.on_retry_after = self.metrics.count_429
        jobs = application.job_queue
        self._heartbeat = jobs.run_repeating(
            self._beat,
            interval=HEARTBEAT_S,
            name="ops.heartbeat",
            job_kwargs={"misfire_grace_time": None, "coalesce": True},  # late is still a beat
        )
        if self.settings.backup_dir is not None:
            jobs.run_repeating(
                self._backup,
                interval=self.settings.backup_interval_s,
                first=60,
                name="ops.backup",
            )

    def watch(self, wallet: Wallet) -> None:
        """Count the risk engine's decisions of this wallet."""
        wallet.guard.on_decision = self.metrics.count_decision

    async def start(self) -> None:
        """Serve /healthz and /metrics if a port is configured; :class:`MetricsUnavailable`
        if they cannot be served there."""
        if not self.settings.metrics_port:
            return
        host, port = self.settings.metrics_host, self.settings.metrics_port
        try:
            await self.serve(host, port)
        except OSError as exc:
            await self.stop()
            if isinstance(exc, socket.gaierror):
                raise MetricsUnavailable(
                    f"WALLET_METRICS_HOST {host} does not resolve to an address ({exc.strerror})"
                ) from exc
            raise MetricsUnavailable(
                f"cannot serve /healthz and /metrics on {host}:{port} (WALLET_METRICS_HOST,"
                f" WALLET_METRICS_PORT): {exc.strerror or exc}"
            ) from exc

    async def serve(self, host: str, port: int) -> int:
        """Serve on ``host:port`` (0: any free port); return the port."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("health and metrics on http://%s:%s/healthz and /metrics", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # counting -------------------------------------------------------------------------

    async def around(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle one update (``coroutine``), then count it and log its one line."""
        state: dict[str, BaseException | None] = {"error": None}
        token = _UPDATE.set(state)
        started = time.perf_counter()
        try:
            await coroutine
        finally:
            _UPDATE.reset(token)
            seconds = time.perf_counter() - started
            kind = update_type(update)
            self.metrics.count_update(kind, seconds)
            self._log_update(update, kind, seconds, state["error"])

    async def _on_error(self, update: object, context: Any) -> None:
        """Count an unhandled error (the bot's own error handler logs and answers it)."""
        self.metrics.count_error(context.error)
        state = _UPDATE.get(None)
        if state is not None:
            state["error"] = context.error

    def user_hash(self, user_id: int) -> str:
        """A keyed hash of a Telegram user id: the same user is the same hash in every
        line, and the id cannot be read back without the master key."""
        wallet = self._wallet()
        if wallet is not None:
            return wallet.keyring.blind_index(str(user_id), "log_user")[:12]
        return hashlib.blake2b(str(user_id).encode(), key=self._salt, digest_size=6).hexdigest()

    def _log_update(
        self, update: object, kind: str, seconds: float, error: BaseException | None
    ) -> None:
        if not updates_log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {"update": kind, "ms": round(seconds * 1000, 1)}
        if isinstance(update, Update):
            fields["update_id"] = update.update_id
            if update.effective_chat is not None:
                fields["chat"] = update.effective_chat.type
            if update.effective_user is not None:
                fields["user"] = self.user_hash(update.effective_user.id)
            fields["command"] = _command(update)
        fields["outcome"] = "ok" if error is None else f"error:{type(error).__name__}"
        fields = {k: v for k, v in fields.items() if v is not None}
        updates_log.info("update handled", extra={"fields": fields})

    # jobs -----------------------------------------------------------------------------

    async def _beat(self, context: Any) -> None:
        self.last_beat = time.monotonic()

    async def _backup(self, context: Any) -> None:
        """One backup per interval, in one process of those sharing the database: the
        job's lease (``bot.handlers.leases``) is left to run out near the next turn."""
        wallet = self._wallet()
        if wallet is None:
            await self.backup_now()
            return
        period_s = self.settings.backup_interval_s * BACKUP_LEASE_SHARE
        async with lease(wallet, "ops.backup", period_s, release=False) as held:
            if held:  # else another process backs up in this period
                await self.backup_now()

    async def backup_now(self) -> None:
        try:
            made, removed = await asyncio.to_thread(scheduled_backup, self.settings)
        except (BackupError, OSError) as exc:
            self.metrics.count_backup(ok=False)
            log.error("scheduled backup failed: %s", exc)
            return
        self.metrics.count_backup(ok=True)
        log.info("backup written: %s (%d old ones removed)", made, len(removed))

    # health ---------------------------------------------------------------------------

    def _wallet(self) -> Wallet | None:
        return None if self.application is None else self.application.bot_data.get(WALLET_KEY)

    async def health(self) -> dict[str, str]:
        """Each check's finding: ``ok`` or what is wrong."""
        checks = {
            "database": self._check_database(),
            "bot_api": self._check_bot_api(),
            "job_queue": self._check_jobs(),
        }
        found = await asyncio.gather(
            *(asyncio.wait_for(c, CHECK_TIMEOUT_S) for c in checks.values()),
            return_exceptions=True,
        )
        return {
            name: (
                "ok"
                if result is None
                else "timed out"
                if isinstance(result, TimeoutError)
                else str(result)
            )
            for name, result in zip(checks, found, strict=True)
        }

    async def _check_database(self) -> None:
        wallet = self._wallet()
        if wallet is None:
            raise RuntimeError("the wallet is not open")
        await wallet.store.operations.probe_write()

    async def _check_bot_api(self) -> None:
        assert self.application is not None
        await self.application.bot.get_me(read_timeout=CHECK_TIMEOUT_S)

    async def _check_jobs(self) -> None:
        assert self.application is not None
        scheduler = self.application.job_queue.scheduler
        if not scheduler.running:
            raise RuntimeError("the job queue is not running")
        due = self._heartbeat.next_t if self._heartbeat is not None else None
        overdue = due is not None and (dt.datetime.now(dt.UTC) - due).total_seconds()
        last = self.last_beat if self.last_beat is not None else self._attached
        if time.monotonic() - last > 3 * HEARTBEAT_S or (overdue and overdue > 2 * HEARTBEAT_S):
            raise RuntimeError("the heartbeat job has not run lately")

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await self.health()
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        wallet = self._wallet()
        if wallet is not None:
            try:
                await self.metrics.refresh(wallet.store.operations)
            except Exception:  # the counters still answer; the health check says why
                log.warning("could not read the ledger's figures", exc_info=True)
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE}
        )
