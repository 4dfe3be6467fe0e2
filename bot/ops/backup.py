"""Backups and restores of the wallet database.

SQLite: ``VACUUM INTO`` from a connection of its own, which reads one snapshot: the copy
holds every transfer committed before it began and nothing half written, while the bot
goes on writing. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore``.

A backup never holds the master key, and is refused in a folder where a key file lies
(the key lives apart from the data it protects: ``Settings.master_key_dir``). A restore
refuses a database newer than this code (its migrations unknown here), refuses to
replace an existing database without ``force``, and never one a running bot has open
(the bot holds a shared ``flock`` on the file; see ``bot.storage.sqlite.database``).
Replacing keeps the replaced file beside it as ``<name>.before-restore-<time>``.

On PostgreSQL every open wallet holds an advisory lock shared (``IN_USE_LOCK`` of
``bot.storage.postgres.port``) on a connection of its own; a restore takes it exclusively
for its whole length, so it is refused while a bot uses the database and no bot starts
on it meanwhile. The database it replaces is first dumped beside the backup, as
``wallet-before-restore-<time>.dump``.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.config import Settings, redact_url
from bot.security.cipher import KEY_FILE, OLD_KEY_FILES
from bot.storage import sqlite_path
from bot.storage.sqlite import schema

__all__ = [
    "BackupError",
    "RestoreReport",
    "backup",
    "latest_schema",
    "prune",
    "restore",
    "scheduled_backup",
]

BACKUP_NAME = re.compile(r"wallet-\d{8}T\d{6}Z\.(db|dump)")
_BUSY_MS = 30_000


class BackupError(Exception):
    """A backup or restore refused or failed; the message says what to do."""


@dataclass(frozen=True)
class RestoreReport:
    target: str  # where the data now is
    schema: int  # the restored database's schema version
    replaced: Path | None  # the copy of the database that was replaced, if any
    key_matches: bool | None  # whether the configured master key wrote it (None: unknown)


def latest_schema(database_url: str = "sqlite:///") -> int:
    """The newest schema version this code knows for the back end of ``database_url``."""
    if _is_postgres(database_url):
        from bot.storage.postgres import schema as pg_schema

        return max(version for version, _, _ in pg_schema.migrations())
    return max(version for version, _, _ in schema.migrations())


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _stamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


def _target(destination: Path, suffix: str, now: float | None) -> Path:
    """The file to write: ``destination`` itself if it names a file (``….db``, or
    ``….dump`` for PostgreSQL), else a new ``wallet-<UTC time>.<suffix>`` in that folder."""
    if destination.is_dir() or destination.suffix not in (".db", ".dump", ".sqlite"):
        destination.mkdir(parents=True, exist_ok=True)
        destination = destination / f"wallet-{_stamp(now)}.{suffix}"
    if destination.exists():
        raise BackupError(f"{destination} exists already; name a new file or a folder")
    if not destination.parent.is_dir():
        raise BackupError(f"no folder {destination.parent}")
    return destination


def _refuse_beside_keys(folder: Path, settings: Settings) -> None:
    folder = folder.resolve()
    keys = [folder / KEY_FILE, *folder.glob(OLD_KEY_FILES)]
    if folder == settings.master_key_dir.resolve() or any(p.exists() for p in keys):
        raise BackupError(
            f"{folder} holds the master key: a backup beside the key that opens it is no"
            " protection. Write backups to another folder (and keep the key apart)"
        )


def backup(settings: Settings, destination: Path, *, now: float | None = None) -> Path:
    """Copy the database into ``destination`` (a new file, or a folder to name one in)."""
    destination = Path(destination)
    suffix = "dump" if _is_postgres(settings.database_url) else "db"
    try:
        target = _target(destination, suffix, now)
    except OSError as exc:
        raise BackupError(f"cannot make the folder {destination}: {exc.strerror or exc}") from exc
    _refuse_beside_keys(target.parent, settings)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        try:
            if _is_postgres(settings.database_url):
                _pg_dump(settings.database_url, partial)
            else:
                _sqlite_backup(sqlite_path(settings.database_url), partial)
            os.chmod(partial, 0o600)
            with open(partial, "rb") as file:
                os.fsync(file.fileno())
            os.replace(partial, target)
            _fsync_dir(target.parent)
        finally:
            partial.unlink(missing_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot write {target.resolve()}: {exc.strerror or exc}") from exc
    return target


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no wallet database at {source}")
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        if _schema_of(conn) < 1:
            raise BackupError(f"{source} is not a wallet database (no migrations applied)")
        conn.execute("VACUUM INTO ?", (str(target),))  # one read transaction: a snapshot
    except sqlite3.Error as exc:
        why = os.strerror(errno.EROFS) if _read_only(target.parent) else exc
        raise BackupError(f"cannot back up {source} to {target.parent}: {why}") from exc
    finally:
        conn.close()
    _check_copy(target)


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_copy(path: Path) -> int:
    """The schema version of a sound wallet database file; BackupError if it is not one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot be opened ({exc})") from exc
    try:
        (verdict,) = conn.execute("PRAGMA quick_check").fetchone()
        version = _schema_of(conn)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from exc
    finally:
        conn.close()
    if verdict != "ok":
        raise BackupError(f"{path}: damaged ({verdict})")
    if version < 1:
        raise BackupError(f"{path} is not a wallet database (no migrations applied)")
    return version


def _schema_of(conn: sqlite3.Connection) -> int:
    return schema.schema_version(conn)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def scheduled_backup(settings: Settings, *, now: float | None = None) -> tuple[Path, list[Path]]:
    """The scheduled job's work: a backup into ``WALLET_BACKUP_DIR``, then only the newest
    ``WALLET_BACKUP_KEEP`` kept; return the new file and the files removed."""
    if settings.backup_dir is None:
        raise BackupError("WALLET_BACKUP_DIR is not set")
    folder = Path(settings.backup_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = backup(settings, folder, now=now)
    return made, prune(folder, settings.backup_keep)


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest backups (``wallet-<time>.db``) of ``folder``;
    other files there are left alone."""
    backups = sorted(p for p in Path(folder).iterdir() if BACKUP_NAME.fullmatch(p.name))
    old = backups[: max(0, len(backups) - keep)]
    for path in old:
        path.unlink()
    return old


def restore(settings: Settings, source: Path, *, force: bool = False) -> RestoreReport:
    """Put the backup ``source`` in place of the configured database."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    if _is_postgres(settings.database_url):
        return _pg_restore(settings, source, force=force)
    version = _check_copy(source)
    _refuse_newer(version)
    target = sqlite_path(settings.database_url).resolve()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot make the folder {target.parent}: {exc.strerror}") from exc
    replaced = None
    with _exclusive(target):
        if target.exists():
            if not force:
                raise BackupError(
                    f"{target} exists: restoring replaces it and every payment made since the"
                    " backup. Stop the bot, then run restore again with --force (a copy of the"
                    " replaced database is kept beside it)"
                )
            replaced = target.with_name(f"{target.name}.before-restore-{_stamp()}")
            _sqlite_backup_any(target, replaced)
        partial = target.with_name(f".{target.name}.restoring")
        partial.unlink(missing_ok=True)
        try:
            shutil.copyfile(source, partial)
            os.chmod(partial, 0o600)
            with open(partial, "rb") as file:
                os.fsync(file.fileno())
            for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
                leftover.unlink(missing_ok=True)  # they belong to the replaced file
            os.replace(partial, target)
            _fsync_dir(target.parent)
        finally:
            partial.unlink(missing_ok=True)
    return RestoreReport(
        str(target), version, replaced, _key_matches(settings, _key_check_of(target))
    )


def _refuse_newer(version: int, database_url: str = "sqlite:///") -> None:
    known = latest_schema(database_url)
    if version > known:
        raise BackupError(
            f"the backup's database is newer than this code (schema {version}, this code knows"
            f" up to {known}): install the bot's version that wrote it, then restore"
        )


def _sqlite_backup_any(source: Path, target: Path) -> None:
    """A copy of ``source`` even if it is no wallet database (the replaced file)."""
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error:
        conn.close()
        shutil.copyfile(source, target)  # not even SQLite: keep its bytes
        return
    conn.close()
    os.chmod(target, 0o600)


class _exclusive:
    """Hold the database file exclusively for a restore: refused while a bot has it open
    (each open wallet holds a shared ``flock`` on the file)."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, None

    def __enter__(self) -> None:
        if not self.path.exists():
            return
        self.fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise BackupError(
                f"{self.path} is open in a running bot: stop it first (systemctl stop"
                " wallet-bot@…, docker compose stop bot)"
            ) from None

    def __exit__(self, *exc_info: object) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _key_check_of(path: Path) -> str | None:
    """The master key's check value stored in the SQLite database at ``path``, if any."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM wallet_meta WHERE name = 'key_check'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    return None if row is None else row[0]


def _key_matches(settings: Settings, saved: str | None) -> bool | None:
    """Whether the configured master key wrote the database whose key check is ``saved``;
    None when no key is configured yet (none is made here) or the database has no check."""
    from bot.security.cipher import load_keyring

    key_file = settings.master_key_dir / KEY_FILE
    if saved is None or (settings.master_key is None and not key_file.exists()):
        return None
    keyring = load_keyring(settings.master_key, settings.master_key_dir)
    return keyring.key_id_for_check(saved) is not None


# PostgreSQL ---------------------------------------------------------------------------


def _pg_dump(url: str, target: Path) -> None:
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", url], "pg_dump")


def _without_password(command: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command with any URL's password moved to ``PGPASSWORD`` (not seen in ``ps``)."""
    env = dict(os.environ)
    cleaned = []
    for arg in command:
        prefix, _, url = arg.rpartition("=") if arg.startswith("--dbname=") else ("", "", arg)
        if url.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(url)
            if parts.password is not None:
                env["PGPASSWORD"] = unquote(parts.password)
                netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
                url = parts._replace(netloc=netloc).geturl()
            arg = f"{prefix}={url}" if prefix else url
        cleaned.append(arg)
    return cleaned, env


def _pg_restore(settings: Settings, source: Path, *, force: bool) -> RestoreReport:
    listing = _run(
        ["pg_restore", "--data-only", "--table=schema_migrations", "--file=-", str(source)],
        "pg_restore",
    )
    versions = [int(m) for m in re.findall(r"^(\d+)\t", listing, re.MULTILINE)]
    if not versions:
        raise BackupError(f"{source} is not a dump of a wallet database")
    _refuse_newer(max(versions), settings.database_url)
    url = settings.database_url
    replaced = None
    with _PgSession(url) as session:
        session.hold_exclusively()
        if session.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            if not force:
                raise BackupError(
                    "the database holds a wallet: restoring replaces it and every payment made"
                    " since the backup. Stop the bot, then run restore again with --force (a"
                    " dump of the replaced database is kept beside the backup)"
                )
            replaced = _keep_replaced(settings, source.resolve().parent)
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
             f"--dbname={url}", str(source)],
            "pg_restore",
        )
        saved = session.fetchval("SELECT value FROM wallet_meta WHERE name = 'key_check'")
    return RestoreReport(redact_url(url), max(versions), replaced, _key_matches(settings, saved))


def _keep_replaced(settings: Settings, folder: Path) -> Path:
    """A dump of the database about to be replaced, in ``folder`` (the backup's)."""
    target = folder / f"wallet-before-restore-{_stamp()}.dump"
    try:
        return backup(settings, target)
    except BackupError as exc:
        raise BackupError(
            f"nothing was restored: a copy of the database it would replace could not be kept"
            f" ({exc})"
        ) from exc


class _PgSession:
    """A connection of the restore's own, on an event loop in a thread of its own
    (``restore`` is plain code, called from the command line and from running loops),
    which takes the wallet's in-use lock exclusively: refused while any bot has the
    database open, and no bot starts on it until the restore is done."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="restore", daemon=True)
        self.conn = None

    def __enter__(self) -> _PgSession:
        import asyncpg

        from bot.storage.postgres.port import APPLICATION_NAME

        self.thread.start()
        try:
            self.conn = self._call(
                asyncpg.connect(
                    self.url, server_settings={"application_name": f"{APPLICATION_NAME} restore"}
                )
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self._stop()
            raise BackupError(f"cannot connect to the PostgreSQL database: {exc}") from None
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.conn is not None:
                self._call(self.conn.close())
        finally:
            self._stop()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def fetchval(self, sql: str, *args: object):
        return self._query("fetchval", sql, *args)

    def fetch(self, sql: str, *args: object) -> list:
        return self._query("fetch", sql, *args)

    def _query(self, method: str, sql: str, *args: object):
        import asyncpg

        try:
            return self._call(getattr(self.conn, method)(sql, *args))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise BackupError(f"PostgreSQL: {exc}") from None

    def hold_exclusively(self) -> None:
        from bot.storage.postgres.port import IN_USE_LOCK

        if self.fetchval("SELECT pg_try_advisory_lock($1)", IN_USE_LOCK):
            return
        holders = self.fetch(
            "SELECT a.pid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " ORDER BY a.pid",
            IN_USE_LOCK,
        )
        who = ", ".join(
            f"session {pid} from {addr if addr is not None else 'the local socket'}"
            for pid, addr in holders
        )
        raise BackupError(
            f"the database is open in a running bot ({who or 'one process'}): stop it first"
            " (systemctl stop 'wallet-bot@*', docker compose stop bot)"
        )


def _run(command: list[str], name: str) -> str:
    command, env = _without_password(command)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=3600, env=env
        )
    except FileNotFoundError:
        raise BackupError(f"{name} is not installed (apt install postgresql-client)") from None
    if done.returncode != 0:
        raise BackupError(f"{name} failed: {done.stderr.strip()[:500]}")
    return done.stdout
