"""Several bot processes in webhook mode on one database, behind the dispatcher, against
the sandbox: ``python -m bot dispatch`` and N ``python -m bot run --webhook …`` as child
processes, each writing its log to a file of its own (used by tests/e2e/test_scale_out.py
and bench/postgres.py).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["Child", "Cluster", "free_port", "log_problems"]

ROOT = Path(__file__).resolve().parent.parent
PATH = "/tg/updates"
SECRET = "scale-out-secret_0123456789abcdef"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_problems(text: str) -> list[str]:
    """The lines of a log that tell of an error: ERROR records and tracebacks."""
    return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]


@dataclass
class Child:
    """One child process and its log file."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    _file: IO[bytes] | None = field(default=None, repr=False)

    async def start(self, ready: str) -> None:
        """Start it and wait until its log holds ``ready`` (written by this start)."""
        self._file = self.log.open("ab")
        offset = self._file.tell()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.args,
            cwd=self.log.parent,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._file,
            stderr=asyncio.subprocess.STDOUT,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while ready.encode() not in self.log.read_bytes()[offset:]:
            if self.process.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.text()[-4000:]}")
            await asyncio.sleep(0.1)

    async def stop(self) -> int:
        """SIGTERM, then its exit status (SIGKILL after 30 s)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.process.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    """The dispatcher on a free port and ``workers`` bot processes behind it; each bot sets
    the emulator's webhook to the dispatcher's URL."""

    def __init__(
        self,
        folder: Path,
        *,
        api_url: str,
        token: str,
        database_url: str,
        workers: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
        base.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            TELEGRAM_BOT_TOKEN=token,
            TELEGRAM_API_BASE_URL=api_url,
            WALLET_DATABASE_URL=database_url,
            WALLET_MASTER_KEY=base64.b64encode(b"k" * 32).decode(),
            WALLET_PAYOUT_GATEWAY="manual",
        )
        base.update(env or {})
        self.env = base
        self.worker_ports = [free_port() for _ in range(workers)]
        self.workers = [self._worker(i) for i in range(workers)]
        hooks = ",".join(f"http://127.0.0.1:{port}{PATH}" for port in self.worker_ports)
        self.dispatcher = Child(
            "dispatcher",
            ["dispatch", "--port", str(self.port), "--url-path", PATH, "--secret-token", SECRET,
             "--workers", hooks],
            self._folder("dispatcher") / "log.txt",
            {**base, "WALLET_DATA_DIR": str(self._folder("dispatcher"))},
        )

    @property
    def master_key(self) -> bytes:
        return base64.b64decode(self.env["WALLET_MASTER_KEY"])

    def _folder(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _worker(self, index: int) -> Child:
        folder = self._folder(f"bot{index}")
        return Child(
            f"bot{index}",
            ["run", "--webhook", self.url, "--port", str(self.worker_ports[index]),
             "--url-path", PATH, "--secret-token", SECRET],
            folder / "log.txt",
            {**self.env, "WALLET_DATA_DIR": str(folder)},
        )

    async def start(self) -> None:
        await self.dispatcher.start("dispatch: listening")
        await asyncio.gather(*(self.start_worker(i) for i in range(len(self.workers))))

    async def start_worker(self, index: int) -> None:
        await self.workers[index].start("webhook: listening")

    async def stop_worker(self, index: int) -> int:
        return await self.workers[index].stop()

    async def stop(self) -> list[int]:
        """Stop the bots, then the dispatcher; their exit statuses."""
        codes = list(await asyncio.gather(*(w.stop() for w in self.workers)))
        return [*codes, await self.dispatcher.stop()]

    def logs(self) -> dict[str, str]:
        return {c.name: c.text() for c in (*self.workers, self.dispatcher)}

    def forwarded(self) -> list[int]:
        """The updates the dispatcher forwarded to each bot (logged when it stopped)."""
        counts, log = [], self.dispatcher.text()
        for port in self.worker_ports:
            hook = re.escape(f"http://127.0.0.1:{port}{PATH}")
            found = re.findall(rf"dispatch: (\d+) updates forwarded to {hook},", log)
            counts.append(int(found[-1]) if found else 0)
        return counts
