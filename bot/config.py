"""Settings from the environment (and an optional ``wallet.toml``), validated at start-up.

Every problem is reported at once, in words that say what to change:

    WALLET_ADMIN_IDS: 'abc' is not a numeric Telegram user id

The environment wins over the file. The file uses the variable names in lower case
without the ``WALLET_`` prefix (``database_url = "sqlite:///data/wallet.db"``,
``admin_ids = [1, 2]``); ``WALLET_CONFIG`` names it, else ``./wallet.toml`` if present.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.domain.errors import AmountError
from bot.domain.money import parse_amount
from bot.domain.users import LANGUAGES

__all__ = [
    "PAYOUT_GATEWAYS",
    "WEBHOOK_SECRET",
    "ConfigError",
    "Settings",
    "load_settings",
    "redact_url",
]

_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL")
_TRANSPORTS = ("aiohttp", "httpx")  # bot.transport.TRANSPORTS
PAYOUT_GATEWAYS = ("sandbox", "manual", "http")
PAYOUT_SECRET_MIN_BYTES = 16
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")  # Telegram allows 1-256 of these

# variable -> key in wallet.toml
_VARIABLES = {
    "TELEGRAM_BOT_TOKEN": "telegram_bot_token",
    "TELEGRAM_API_BASE_URL": "telegram_api_base_url",
    "WALLET_BOT_API_TRANSPORT": "bot_api_transport",
    "WALLET_DATABASE_URL": "database_url",
    "WALLET_ADMIN_IDS": "admin_ids",
    "WALLET_MASTER_KEY": "master_key",
    "WALLET_PAYMENT_PROVIDER_TOKEN": "payment_provider_token",
    "WALLET_CURRENCY": "currency",
    "WALLET_REDPACKET_EXPIRY": "redpacket_expiry",
    "WALLET_TOPUP_EXPIRY": "topup_expiry",
    "WALLET_REQUEST_EXPIRY": "request_expiry",
    "WALLET_DATA_DIR": "data_dir",
    "WALLET_SQLITE_SYNCHRONOUS": "sqlite_synchronous",
    "WALLET_DATABASE_POOL_SIZE": "database_pool_size",
    "WALLET_GATEWAY_LATENCY": "gateway_latency",
    "WALLET_GATEWAY_FAILURE_RATE": "gateway_failure_rate",
    "WALLET_GATEWAY_TIMEOUT_RATE": "gateway_timeout_rate",
    "WALLET_TOPUP_MAX": "topup_max",
    "WALLET_REDPACKET_MAX": "redpacket_max",
    "WALLET_REDPACKET_MAX_SHARES": "redpacket_max_shares",
    "WALLET_POINTS_SILVER": "points_silver",
    "WALLET_POINTS_GOLD": "points_gold",
    "WALLET_PAYOUT_GATEWAY": "payout_gateway",
    "WALLET_PAYOUT_URL": "payout_url",
    "WALLET_PAYOUT_SECRET": "payout_secret",
    "WALLET_PAYOUT_SECRET_FILE": "payout_secret_file",
    "WALLET_DEFAULT_LANGUAGE": "default_language",
    "WALLET_WEBHOOK_SECRET": "webhook_secret",
    # secrets from files (systemd credentials, Docker secrets): one of the two, not both
    "TELEGRAM_BOT_TOKEN_FILE": "telegram_bot_token_file",
    "WALLET_MASTER_KEY_FILE": "master_key_file",
    "WALLET_PAYMENT_PROVIDER_TOKEN_FILE": "payment_provider_token_file",
    # operations: where the key lives, metrics, logs, backups (see _ops_settings)
    "WALLET_KEY_DIR": "key_dir",
    "WALLET_METRICS_PORT": "metrics_port",
    "WALLET_METRICS_HOST": "metrics_host",
    "WALLET_LOG_FORMAT": "log_format",
    "WALLET_LOG_LEVEL": "log_level",
    "WALLET_LOG_FILE": "log_file",
    "WALLET_BACKUP_DIR": "backup_dir",
    "WALLET_BACKUP_INTERVAL": "backup_interval",
    "WALLET_BACKUP_KEEP": "backup_keep",
}
# wallet.toml keys whose values are secrets: such a file must be private (mode 0600)
_SECRET_KEYS = frozenset(
    {"telegram_bot_token", "master_key", "payment_provider_token", "payout_secret",
     "webhook_secret"}
)
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FILE_NAME = "wallet-bot.log"  # in the data folder, with WALLET_LOG_FILE=yes
_YES = ("1", "yes", "true", "on")


def environment_variables() -> list[str]:
    """Every variable the settings are read from, ``WALLET_CONFIG`` first (for ``--help``)."""
    return ["WALLET_CONFIG", *_VARIABLES]


def default_key_dir(data_dir: Path) -> Path:
    """Where the master key lives unless ``WALLET_KEY_DIR`` says: beside the data folder,
    never in it, so that a copy of the data folder is not also the key that opens it."""
    data_dir = Path(data_dir)
    return data_dir.parent / f"{data_dir.name or 'data'}-keys"


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class ConfigError(ValueError):
    """One or more settings are wrong; ``problems`` lists each in plain words."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    bot_api_transport: str = "aiohttp"  # the HTTP client of Bot API calls: aiohttp or httpx
    database_url: str = "sqlite:///data/wallet.db"
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    master_key: bytes | None = field(default=None, repr=False)
    payment_provider_token: str | None = field(default=None, repr=False)
    currency: str = "CNY"
    redpacket_expiry_s: int = 86_400
    topup_expiry_s: int = 3_600  # an unpaid top-up invoice is refused at checkout after this
    request_expiry_s: int = 604_800  # an unpaid payment request can no longer be paid: 7 days
    data_dir: Path = Path("data")
    sqlite_synchronous: str = "FULL"
    database_pool_size: int = 10  # PostgreSQL connections per bot process
    # the sandbox payout gateway: seconds per call, shares of declined and unanswered payouts
    gateway_latency_s: float = 0.0
    gateway_failure_rate: float = 0.0
    gateway_timeout_rate: float = 0.0
    topup_max_fen: int = 5_000_00  # the most one top-up may add: ¥5,000
    redpacket_max_fen: int = 200_00  # the most one red packet may hold: ¥200
    redpacket_max_shares: int = 100
    # loyalty tiers: points earned over the last 12 months for 银卡 (silver) and 金卡 (gold)
    points_silver: int = 1_000
    points_gold: int = 5_000
    default_language: str = "zh"  # for people whose Telegram language is neither zh nor en
    # how withdrawals are paid out: sandbox (pays nothing), manual (an admin payout
    # queue) or http (a payout provider at payout_url, requests signed with payout_secret)
    payout_gateway: str = "sandbox"
    payout_url: str | None = None
    payout_secret: bytes | None = field(default=None, repr=False)
    # webhook mode: Telegram's X-Telegram-Bot-Api-Secret-Token (None: bot.webhook keeps
    # a generated one in the data folder)
    webhook_secret: str | None = field(default=None, repr=False)
    # the master key's folder (master.key and master.key.old*); None: default_key_dir
    key_dir: Path | None = None
    # /healthz and /metrics on metrics_host:metrics_port; None: not served
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_format: str = "text"  # or json: one JSON object a line
    log_level: str = "INFO"
    log_file: Path | None = None  # also log to this file (WALLET_LOG_FILE)
    # scheduled backups: into backup_dir every backup_interval_s, the newest backup_keep kept
    backup_dir: Path | None = None
    backup_interval_s: int = 86_400
    backup_keep: int = 7

    @property
    def master_key_dir(self) -> Path:
        """The folder of the master key file and the old keys."""
        return self.key_dir if self.key_dir is not None else default_key_dir(self.data_dir)

    def __repr__(self) -> str:  # never print secrets in logs
        token = "set" if self.telegram_bot_token else "unset"
        return (
            f"Settings(token={token}, api={self.telegram_api_base_url!r}, "
            f"database_url={redact_url(self.database_url)!r}, admins={sorted(self.admin_ids)}, "
            f"currency={self.currency!r}, data_dir={str(self.data_dir)!r},"
            f" payout_gateway={self.payout_gateway!r})"
        )

    @property
    def bot_api_url(self) -> str:
        """``base_url`` for PTB: the bot calls ``{this}{token}/{method}``."""
        return f"{self.telegram_api_base_url}/bot"

    @property
    def bot_file_url(self) -> str:
        return f"{self.telegram_api_base_url}/file/bot"


def _read_file(env: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    path = env.get("WALLET_CONFIG")
    candidate = Path(path) if path else Path("wallet.toml")
    if not candidate.is_file():
        return {}, ([f"WALLET_CONFIG: no file at {candidate}"] if path else [])
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{candidate}: cannot be read as TOML ({exc})"]
    known = set(_VARIABLES.values())
    problems = [f"{candidate}: unknown setting '{k}'" for k in data if k not in known]
    if unsafe := _unsafe_file(candidate, holds_secrets=bool(_SECRET_KEYS & set(data))):
        return {}, [unsafe]
    return data, problems


def _unsafe_file(path: Path, *, holds_secrets: bool) -> str | None:
    """Why the config file must not be used as it is, or None. Like the master key file:
    a file that others may change is refused (they could name another database or make
    themselves admins), and one holding a secret must not be readable by others either."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if mode & 0o022:
        return f"{path}: other users may change it (mode {mode:04o}); run: chmod 600 {path}"
    if holds_secrets and mode & 0o077:
        return (
            f"{path}: holds secrets and other users may read it (mode {mode:04o});"
            f" run: chmod 600 {path}"
        )
    return None


def _secret(raw: Callable[[str], object | None], variable: str) -> tuple[str | None, str | None]:
    """(the value, a problem) of a secret set either directly or by ``<variable>_FILE``,
    a file holding it (systemd credentials, Docker secrets); surrounding blanks dropped."""
    value, path = raw(variable), raw(f"{variable}_FILE")
    if value is not None and path is not None:
        return None, f"{variable}: set it or {variable}_FILE, not both"
    if path is None:
        return (None if value is None else str(value)), None
    try:
        text = Path(str(path)).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return None, f"{variable}_FILE: cannot read {path} ({reason})"
    if not text:
        return None, f"{variable}_FILE: {path} is empty"
    return text, None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    file_values, problems = _read_file(env)

    def raw(variable: str) -> object | None:
        value = env.get(variable)
        if value is not None and value.strip() != "":
            return value.strip()
        return file_values.get(_VARIABLES[variable])

    values: dict[str, object] = {}

    token, problem = _secret(raw, "TELEGRAM_BOT_TOKEN")
    problems.extend([problem] if problem else [])
    if token is not None:
        if isinstance(token, str) and _TOKEN.fullmatch(token):
            values["telegram_bot_token"] = token
        else:
            problems.append(
                "TELEGRAM_BOT_TOKEN: does not look like a bot token"
                " (digits:letters, as @BotFather gives it)"
            )

    base_url = raw("TELEGRAM_API_BASE_URL")
    if base_url is not None:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"TELEGRAM_API_BASE_URL: {base_url!r} is not an http(s) URL"
                " such as https://api.telegram.org"
            )
        else:
            values["telegram_api_base_url"] = str(base_url).rstrip("/")

    transport = raw("WALLET_BOT_API_TRANSPORT")
    if transport is not None:
        if str(transport).lower() in _TRANSPORTS:
            values["bot_api_transport"] = str(transport).lower()
        else:
            problems.append(
                f"WALLET_BOT_API_TRANSPORT: {transport!r} is not one of {', '.join(_TRANSPORTS)}"
            )

    data_dir = Path(str(raw("WALLET_DATA_DIR") or "data"))
    values["data_dir"] = data_dir

    database_url = raw("WALLET_DATABASE_URL")
    if database_url is None:
        values["database_url"] = f"sqlite:///{data_dir / 'wallet.db'}"
    else:
        url = str(database_url)
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            values["database_url"] = url
        elif url.startswith(("postgresql://", "postgres://")) and urlsplit(url).hostname:
            values["database_url"] = url
        else:
            problems.append(
                f"WALLET_DATABASE_URL: {redact_url(url)!r} is neither sqlite:///path.db"
                " nor postgresql://user@host/db"
            )

    admins = raw("WALLET_ADMIN_IDS")
    if admins is not None:
        items = admins if isinstance(admins, list) else str(admins).split(",")
        ids = set()
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            if re.fullmatch(r"\d{1,20}", text):
                ids.add(int(text))
            else:
                problems.append(f"WALLET_ADMIN_IDS: {text!r} is not a numeric Telegram user id")
        values["admin_ids"] = frozenset(ids)

    master_key, problem = _secret(raw, "WALLET_MASTER_KEY")
    problems.extend([problem] if problem else [])
    if master_key is not None:
        try:
            key = base64.b64decode(str(master_key), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) == 32:
            values["master_key"] = key
        else:
            problems.append(
                "WALLET_MASTER_KEY: must be 32 random bytes in base64"
                ' (make one with: python -c "import os,base64;'
                'print(base64.b64encode(os.urandom(32)).decode())")'
            )

    provider, problem = _secret(raw, "WALLET_PAYMENT_PROVIDER_TOKEN")
    problems.extend([problem] if problem else [])
    if provider is not None:
        values["payment_provider_token"] = str(provider)

    currency = raw("WALLET_CURRENCY")
    if currency is not None:
        if _CURRENCY.fullmatch(str(currency)):
            values["currency"] = str(currency)
        else:
            problems.append(f"WALLET_CURRENCY: {currency!r} is not an ISO 4217 code such as CNY")

    for variable, name in (
        ("WALLET_REDPACKET_EXPIRY", "redpacket_expiry_s"),
        ("WALLET_TOPUP_EXPIRY", "topup_expiry_s"),
        ("WALLET_REQUEST_EXPIRY", "request_expiry_s"),
    ):
        expiry = raw(variable)
        if expiry is None:
            continue
        text = str(expiry)
        if re.fullmatch(r"\d{1,9}", text) and int(text) > 0:
            values[name] = int(text)
        else:
            problems.append(f"{variable}: {expiry!r} is not a positive number of seconds")

    pool_size = raw("WALLET_DATABASE_POOL_SIZE")
    if pool_size is not None:
        if re.fullmatch(r"\d{1,3}", str(pool_size)) and 1 <= int(str(pool_size)) <= 500:
            values["database_pool_size"] = int(str(pool_size))
        else:
            problems.append(
                f"WALLET_DATABASE_POOL_SIZE: {pool_size!r} is not a whole number from 1 to 500"
            )

    synchronous = raw("WALLET_SQLITE_SYNCHRONOUS")
    if synchronous is not None:
        if str(synchronous).upper() in _SYNCHRONOUS:
            values["sqlite_synchronous"] = str(synchronous).upper()
        else:
            problems.append(
                f"WALLET_SQLITE_SYNCHRONOUS: {synchronous!r} is not one of"
                f" {', '.join(_SYNCHRONOUS)}"
            )

    for variable, name, example in (
        ("WALLET_TOPUP_MAX", "topup_max_fen", "5000"),
        ("WALLET_REDPACKET_MAX", "redpacket_max_fen", "200"),
    ):
        text = raw(variable)
        if text is None:
            continue
        try:
            values[name] = parse_amount(str(text))
        except AmountError:
            problems.append(f"{variable}: {text!r} is not an amount of money such as {example}")
    shares = raw("WALLET_REDPACKET_MAX_SHARES")
    if shares is not None:
        if re.fullmatch(r"\d{1,4}", str(shares)) and 1 <= int(str(shares)) <= 1_000:
            values["redpacket_max_shares"] = int(str(shares))
        else:
            problems.append(
                f"WALLET_REDPACKET_MAX_SHARES: {shares!r} is not a whole number from 1 to 1000"
            )

    for variable, name in (
        ("WALLET_POINTS_SILVER", "points_silver"),
        ("WALLET_POINTS_GOLD", "points_gold"),
    ):
        points = raw(variable)
        if points is None:
            continue
        if re.fullmatch(r"\d{1,9}", str(points)) and int(str(points)) > 0:
            values[name] = int(str(points))
        else:
            problems.append(f"{variable}: {points!r} is not a positive whole number of points")
    silver = values.get("points_silver", Settings.points_silver)
    if silver >= values.get("points_gold", Settings.points_gold):
        problems.append("WALLET_POINTS_SILVER: must be below WALLET_POINTS_GOLD")

    for variable, name, top in (
        ("WALLET_GATEWAY_LATENCY", "gateway_latency_s", 60.0),
        ("WALLET_GATEWAY_FAILURE_RATE", "gateway_failure_rate", 1.0),
        ("WALLET_GATEWAY_TIMEOUT_RATE", "gateway_timeout_rate", 1.0),
    ):
        text = raw(variable)
        if text is None:
            continue
        try:
            number = float(str(text))
        except ValueError:
            number = -1.0
        if 0.0 <= number <= top:  # also refuses nan
            values[name] = number
        else:
            problems.append(f"{variable}: {text!r} is not a number from 0 to {top:g}")

    language = raw("WALLET_DEFAULT_LANGUAGE")
    if language is not None:
        if str(language).lower() in LANGUAGES:
            values["default_language"] = str(language).lower()
        else:
            problems.append(
                f"WALLET_DEFAULT_LANGUAGE: {language!r} is not one of {', '.join(LANGUAGES)}"
            )

    _payout_settings(raw, token is not None, values, problems)

    webhook_secret = raw("WALLET_WEBHOOK_SECRET")
    if webhook_secret is not None:
        if WEBHOOK_SECRET.fullmatch(str(webhook_secret)):
            values["webhook_secret"] = str(webhook_secret)
        else:
            problems.append(
                "WALLET_WEBHOOK_SECRET: use 16 to 256 of A-Z a-z 0-9 _ - (make one with:"
                ' python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )

    _ops_settings(raw, values, problems)

    if problems:
        raise ConfigError(problems)
    return Settings(**values)  # type: ignore[arg-type]


def _payout_settings(
    raw: Callable[[str], object | None], token_set: bool, values: dict, problems: list[str]
) -> None:
    """WALLET_PAYOUT_GATEWAY and, for http, its URL and secret.

    With no bot token (the sandbox run) the gateway defaults to the sandbox; with a token
    the operator must choose, since the sandbox pays nothing.
    """
    gateway = raw("WALLET_PAYOUT_GATEWAY")
    if gateway is None:
        if token_set:
            problems.append(
                "WALLET_PAYOUT_GATEWAY: must be set when TELEGRAM_BOT_TOKEN is set: manual"
                " (admins pay each withdrawal by hand, from /payouts), http (a payout"
                " provider; also set WALLET_PAYOUT_URL and WALLET_PAYOUT_SECRET) or sandbox"
                " (pays nothing; `run` then also needs --allow-sandbox-payouts)"
            )
    elif str(gateway).lower() in PAYOUT_GATEWAYS:
        values["payout_gateway"] = gateway = str(gateway).lower()
    else:
        problems.append(
            f"WALLET_PAYOUT_GATEWAY: {gateway!r} is not one of {', '.join(PAYOUT_GATEWAYS)}"
        )

    url = raw("WALLET_PAYOUT_URL")
    if url is not None:
        parts = urlsplit(str(url))
        try:
            host = parts.hostname
        except ValueError:
            host = None
        secure = parts.scheme == "https" or (parts.scheme == "http" and host == "127.0.0.1")
        if not (secure and host):
            problems.append(
                f"WALLET_PAYOUT_URL: {redact_url(str(url))!r} is not an https:// URL"
                " (plain http only to 127.0.0.1, such as a local proxy)"
            )
        elif parts.query or parts.fragment:
            problems.append(
                f"WALLET_PAYOUT_URL: {redact_url(str(url))!r} has a query or fragment; give the"
                " payout API's base URL, such as https://bank.example/payouts/v1"
            )
        else:
            values["payout_url"] = str(url)
    elif gateway == "http":
        problems.append("WALLET_PAYOUT_URL: must be set when WALLET_PAYOUT_GATEWAY is http")

    secret, problem = _secret(raw, "WALLET_PAYOUT_SECRET")
    key = None if secret is None else secret.encode("utf-8")
    if problem:
        problems.append(problem)
    elif secret is None and gateway == "http":
        problems.append(
            "WALLET_PAYOUT_SECRET: must be set (or WALLET_PAYOUT_SECRET_FILE) when"
            " WALLET_PAYOUT_GATEWAY is http"
        )
    if key is not None:
        if len(key) >= PAYOUT_SECRET_MIN_BYTES:
            values["payout_secret"] = key
        else:
            file_set = raw("WALLET_PAYOUT_SECRET_FILE") is not None
            name = "WALLET_PAYOUT_SECRET" + ("_FILE" if file_set else "")
            problems.append(
                f"{name}: the secret is too short; use at least"
                f" {PAYOUT_SECRET_MIN_BYTES} random bytes (make one with: openssl rand -hex 32)"
            )


def _ops_settings(raw: Callable[[str], object | None], values: dict, problems: list[str]) -> None:
    """Where the key lives, the metrics endpoint, the logs and the scheduled backups."""
    data_dir = values["data_dir"]
    key_dir = raw("WALLET_KEY_DIR")
    if key_dir is not None:
        values["key_dir"] = Path(str(key_dir))

    port = raw("WALLET_METRICS_PORT")
    if port is not None:
        if re.fullmatch(r"\d{1,5}", str(port)) and int(str(port)) <= 65_535:
            values["metrics_port"] = int(str(port)) or None  # 0: off
        else:
            problems.append(f"WALLET_METRICS_PORT: {port!r} is not a port number (0 turns it off)")
    host = raw("WALLET_METRICS_HOST")
    if host is not None:
        values["metrics_host"] = str(host)

    log_format = raw("WALLET_LOG_FORMAT")
    if log_format is not None:
        if str(log_format).lower() in LOG_FORMATS:
            values["log_format"] = str(log_format).lower()
        else:
            problems.append(
                f"WALLET_LOG_FORMAT: {log_format!r} is not one of {', '.join(LOG_FORMATS)}"
            )
    level = raw("WALLET_LOG_LEVEL")
    if level is not None:
        if str(level).upper() in LOG_LEVELS:
            values["log_level"] = str(level).upper()
        else:
            problems.append(f"WALLET_LOG_LEVEL: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    log_file = raw("WALLET_LOG_FILE")
    if log_file is not None and str(log_file).lower() not in ("0", "no", "false", "off"):
        text = str(log_file)
        values["log_file"] = data_dir / LOG_FILE_NAME if text.lower() in _YES else Path(text)

    backup_dir = raw("WALLET_BACKUP_DIR")
    if backup_dir is not None:
        values["backup_dir"] = Path(str(backup_dir))
    interval = raw("WALLET_BACKUP_INTERVAL")
    if interval is not None:
        if re.fullmatch(r"\d{1,9}", str(interval)) and int(str(interval)) >= 60:
            values["backup_interval_s"] = int(str(interval))
        else:
            problems.append(
                f"WALLET_BACKUP_INTERVAL: {interval!r} is not a number of seconds of at least 60"
            )
    keep = raw("WALLET_BACKUP_KEEP")
    if keep is not None:
        if re.fullmatch(r"\d{1,4}", str(keep)) and int(str(keep)) >= 1:
            values["backup_keep"] = int(str(keep))
        else:
            problems.append(f"WALLET_BACKUP_KEEP: {keep!r} is not a whole number of at least 1")
