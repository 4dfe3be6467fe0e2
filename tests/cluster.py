"""Several bot processes in webhook mode on one database, behind a front that sends each
update to the process of its person, against the sandbox: N ``python -m bot run --webhook
…`` as child processes behind either the dispatcher (``python -m bot dispatch``) or nginx
with deploy/'s way of spreading updates (``hash $wallet_person consistent`` over the
upstream, ``$wallet_person`` from ``deploy/nginx-wallet-person.conf``); each child writes
its log to a file of its own (used by tests/e2e/test_scale_out.py and bench/postgres.py).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bot.dispatch import worker_of

__all__ = ["Child", "Cluster", "free_port", "log_problems", "nginx_binary", "nginx_child"]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PATH = "/tg/updates"
SECRET = "scale-out-secret_0123456789abcdef"
START_TIMEOUT_S = 60.0


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections (and to ``bind(0)``)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


_EPHEMERAL = _ephemeral_ports()
# Ports handed out below the ephemeral range, each process from its own place in it: a
# port from ``bind(0)`` is one the kernel may give the next outgoing connection (the
# tests' own clients make hundreds) between the probe's close and the server's bind.
_FIRST = 20_000 if _EPHEMERAL.start > 30_000 else 61_000
_SPAN = 10_000 if _EPHEMERAL.start > 30_000 else 4_000
_next = _FIRST + (os.getpid() * 97) % _SPAN
_given: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, for a server that will bind it: never
    one the kernel hands to outgoing connections, never the same twice in a process."""
    global _next
    for _ in range(_SPAN):
        port = _next
        _next = _FIRST + (_next - _FIRST + 1) % _SPAN
        if port in _given or port in _EPHEMERAL:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def nginx_binary() -> str | None:
    """nginx's path (``scripts/nginx.sh install`` installs it), or None."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


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
    program: Sequence[str] = (sys.executable, "-m", "bot")
    process: asyncio.subprocess.Process | None = None
    _file: IO[bytes] | None = field(default=None, repr=False)

    async def start(self, ready: str) -> None:
        """Start it and wait until its log holds ``ready`` (written by this start)."""
        self._file = self.log.open("ab")
        offset = self._file.tell()
        self.process = await asyncio.create_subprocess_exec(
            *self.program,
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


NGINX_CONF = """\
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/log.txt notice;
{user}
events {{}}
http {{
    include {person};
    log_format person '$wallet_person $upstream_addr $status';
    access_log {access_log};
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{upstream}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 256k;
        client_body_buffer_size 256k;
        location = {path} {{
            proxy_pass http://wallet_bot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 30s;{extra}
        }}
    }}
}}
"""


def nginx_upstream(ports: Sequence[int]) -> str:
    """deploy/nginx-wallet-bot.conf's upstream block, its servers replaced by ``ports``."""
    sample = (DEPLOY / "nginx-wallet-bot.conf").read_text()
    block = re.search(r"^upstream wallet_bot \{\n(.*?)^\}", sample, re.M | re.S)
    assert block, "deploy/nginx-wallet-bot.conf has no upstream wallet_bot"
    lines = [
        line
        for line in block.group(1).splitlines()
        if not re.match(r"\s*#?\s*server ", line) and not line.strip().startswith("#")
    ]
    assert any("hash $wallet_person consistent;" in line for line in lines), lines
    servers = [f"    server 127.0.0.1:{port};" for port in ports]
    return "\n".join(["upstream wallet_bot {", *lines, *servers, "}"])


def nginx_child(
    folder: Path, ports: Sequence[int], port: int, path: str, *, log: bool = True, extra: str = ""
) -> Child:
    """nginx on 127.0.0.1:``port`` passing ``path`` to ``ports`` as deploy/ spreads them
    (its person map and upstream block), its files in ``folder``; with ``log``, an access
    log of ``$wallet_person``, the upstream and the status (``access.log``); ``extra``:
    more directives for the location."""
    binary = nginx_binary()
    assert binary, "nginx is not installed (scripts/nginx.sh install)"
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            folder=folder,
            user="user root;" if os.geteuid() == 0 else "",
            person=DEPLOY / "nginx-wallet-person.conf",
            access_log=f"{folder}/access.log person" if log else "off",
            upstream=nginx_upstream(ports),
            port=port,
            path=path,
            extra=f"\n            {extra}" if extra else "",
        )
    )
    return Child(
        "nginx",
        ["-c", str(conf), "-e", str(folder / "log.txt")],
        folder / "log.txt",
        dict(os.environ),
        program=(binary,),
    )


class Cluster:
    """``workers`` bot processes behind a front on a free port: the dispatcher
    (``front="dispatch"``) or nginx with deploy/'s configuration (``front="nginx"``); each
    bot sets the emulator's webhook to the front's URL."""

    def __init__(
        self,
        folder: Path,
        *,
        api_url: str,
        token: str,
        database_url: str,
        workers: int,
        env: dict[str, str] | None = None,
        front: str = "dispatch",
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
        self.kind = front
        if front == "nginx":
            self.front = self._nginx()
        else:
            hooks = ",".join(f"http://127.0.0.1:{port}{PATH}" for port in self.worker_ports)
            self.front = Child(
                "dispatcher",
                [
                    "dispatch",
                    "--port",
                    str(self.port),
                    "--url-path",
                    PATH,
                    "--secret-token",
                    SECRET,
                    "--workers",
                    hooks,
                ],
                self._folder("dispatcher") / "log.txt",
                {**base, "WALLET_DATA_DIR": str(self._folder("dispatcher"))},
            )

    def _nginx(self) -> Child:
        return nginx_child(self._folder("nginx"), self.worker_ports, self.port, PATH)

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
            [
                "run",
                "--webhook",
                self.url,
                "--port",
                str(self.worker_ports[index]),
                "--url-path",
                PATH,
                "--secret-token",
                SECRET,
            ],
            folder / "log.txt",
            {**self.env, "WALLET_DATA_DIR": str(folder)},
        )

    async def start(self) -> None:
        ready = "start worker process" if self.kind == "nginx" else "dispatch: listening"
        await self.front.start(ready)
        await asyncio.gather(*(self.start_worker(i) for i in range(len(self.workers))))

    async def start_worker(self, index: int) -> None:
        await self.workers[index].start("webhook: listening")

    async def stop_worker(self, index: int) -> int:
        return await self.workers[index].stop()

    async def stop(self) -> list[int]:
        """Stop the bots, then the front; their exit statuses."""
        codes = list(await asyncio.gather(*(w.stop() for w in self.workers)))
        return [*codes, await self.front.stop()]

    def logs(self) -> dict[str, str]:
        """The bots' logs, and the dispatcher's (nginx's is not a Python log)."""
        children = self.workers if self.kind == "nginx" else [*self.workers, self.front]
        return {c.name: c.text() for c in children}

    def _delivered(self) -> list[tuple[int, int]]:
        """(person, worker index) of each update nginx delivered (its access log)."""
        index = {f"127.0.0.1:{port}": i for i, port in enumerate(self.worker_ports)}
        found = []
        log = self.folder / "nginx" / "access.log"
        for line in log.read_text().splitlines() if log.exists() else []:
            person, *addresses, status = line.replace(",", " ").split()
            if status.startswith("2"):
                found.append((int(person), index[addresses[-1]]))
        return found

    def workers_of(self, person: int) -> set[int]:
        """The workers ``person``'s updates went to so far (behind nginx, read from its
        access log), or would go to (the dispatcher's ``worker_of``)."""
        if self.kind == "nginx":
            return {worker for who, worker in self._delivered() if who == person}
        return {worker_of(person, len(self.workers))}

    def forwarded(self) -> list[int]:
        """The updates the front forwarded to each bot (the dispatcher logs them when it
        stops; nginx, in its access log)."""
        if self.kind == "nginx":
            workers = [worker for _, worker in self._delivered()]
            return [workers.count(i) for i in range(len(self.workers))]
        counts, log = [], self.front.text()
        for port in self.worker_ports:
            hook = re.escape(f"http://127.0.0.1:{port}{PATH}")
            found = re.findall(rf"dispatch: (\d+) updates forwarded to {hook},", log)
            counts.append(int(found[-1]) if found else 0)
        return counts
