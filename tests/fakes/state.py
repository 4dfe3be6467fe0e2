"""The tables behind every in-memory store, their one writer, and a clock the test moves.

Like ``SqliteDatabase``, one state owns the clock and the tables, and each port's store is
a view over it, so a write that spans ports (a hold and its audit event) is one write.

A write runs through :meth:`MemoryState.write`: all of it or none of it. The tables are
copied before it starts and put back if it raises; every row is an immutable value (a
frozen dataclass, a tuple), so a shallow copy of each table is a whole copy. As on the
SQLite writer, an error that is not a ``WalletError`` (a broken constraint, a misuse of
the store) comes out as ``StorageError``. A write yields to the event loop once before
it runs and never while it runs, so the writes of concurrent coroutines interleave as
they would on the real writer and are applied one at a time, each whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from bot.domain.errors import StorageError, WalletError
from bot.domain.events import GENESIS_HASH, canonical_details, event_hash
from bot.domain.model import Transfer
from bot.domain.security_ports import SecurityEvent

__all__ = [
    "START_MS",
    "Credentials",
    "IntegrityError",
    "ManualClock",
    "MemoryState",
    "record_event",
]

T = TypeVar("T")
START_MS = 1_700_000_000_000  # 2023-11-14 22:13 UTC, as in the integration tests

# every table of the state: copied before a write, put back if it fails
_TABLES = (
    "meta",
    "accounts",
    "account_ids",
    "transfers",
    "transfer_ids",
    "resolutions",
    "users",
    "user_by_account",
    "credentials",
    "actions",
    "events",
    "identities",
    "cards",
    "password_free",
    "holds",
    "requests",
    "topups",
    "inbox",
    "withdrawals",
    "packets",
    "shares",
    "campaigns",
    "campaign_keys",
    "coupons",
    "coupon_keys",
    "redemptions",
    "voucher_issues",
    "issue_keys",
    "vouchers",
    "points",
    "notices",
    "notice_keys",
)


class ManualClock:
    """A store clock in unix milliseconds that stands still until the test moves it."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, *, seconds: int = 0, ms: int = 0) -> None:
        self.now_ms += seconds * 1000 + ms


class IntegrityError(Exception):
    """A row broke a constraint the SQLite schema declares (a unique column, a reference)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A person's PIN, 2FA and password-free settings (the ``credentials`` table)."""

    pin_hash: str | None = None
    pin_key_id: str | None = None
    pin_failed: int = 0
    pin_locked_until: int = 0
    pin_lockouts: int = 0
    totp_secret: str | None = None
    totp_enabled: bool = False
    totp_last_step: int | None = None
    nopin_per_payment: int = 0
    nopin_daily: int = 0


class MemoryState:
    """The tables (each keyed as its SQLite table is) and the writer over them."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.closed = False
        self.meta: dict[str, str] = {}
        self.accounts: dict = {}  # id -> Account
        self.account_ids: dict = {}  # (name, currency) -> account id
        self.transfers: list = []  # Transfer, id i at index i - 1
        self.transfer_ids: dict = {}  # idempotency key -> transfer id
        self.resolutions: dict = {}  # pending transfer id -> the id of its post/void/expiry
        self.users: dict = {}  # telegram id -> User
        self.user_by_account: dict = {}  # account id -> telegram id
        self.credentials: dict = {}  # telegram id -> Credentials
        self.actions: dict = {}  # action id -> Action
        self.events: list = []  # SecurityEvent, id i at index i - 1
        self.identities: dict = {}  # telegram id -> EncryptedIdentity
        self.cards: dict = {}  # telegram id -> EncryptedCard
        self.password_free: dict = {}  # transfer key -> (telegram id, created_at)
        self.holds: dict = {}  # hold id -> HoldRow
        self.requests: dict = {}  # token -> PaymentRequest
        self.topups: dict = {}  # id -> TopUp
        self.inbox: dict = {}  # update id -> the kept payment update's JSON
        self.withdrawals: dict = {}  # id -> Withdrawal
        self.packets: dict = {}  # id -> RedPacket
        self.chat_titles: dict = {}  # packet id -> the title of the group it was posted in
        self.shares: dict = {}  # packet id -> tuple of Share, by position
        self.campaigns: dict = {}  # id -> Campaign
        self.campaign_keys: dict = {}  # create key -> campaign id
        self.coupons: dict = {}  # id -> Coupon
        self.coupon_keys: dict = {}  # (grant key, holder id) -> coupon id
        self.redemptions: dict = {}  # payment id -> (coupon id, campaign id, holder id)
        self.voucher_issues: dict = {}  # id -> IssueRow (tests.fakes.offers)
        self.issue_keys: dict = {}  # issue key -> issue id
        self.vouchers: dict = {}  # id -> Voucher
        self.points: list = []  # PointsEntry, the points journal in order
        self.notices: dict = {}  # id -> _Row (tests.fakes.notices)
        self.notice_keys: dict = {}  # notice key -> notice id

    # Reading and writing ----------------------------------------------------------------

    def check_open(self) -> MemoryState:
        if self.closed:
            raise StorageError("the database is closed")
        return self

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A savepoint: if the block raises, every table is as it was when it began."""
        saved = {name: getattr(self, name).copy() for name in _TABLES}
        try:
            yield
        except BaseException:
            for name, table in saved.items():
                setattr(self, name, table)
            raise

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` as one write: whole or not at all, errors as the writer's.

        The caller is suspended once first, as a real store's caller is while its write
        waits for the writer: concurrent service calls interleave at their writes.
        """
        self.check_open()
        await asyncio.sleep(0)
        self.check_open()
        try:
            with self.transaction():
                return fn(*args)
        except WalletError:
            raise
        except Exception as exc:
            raise StorageError(f"{type(exc).__name__}: {exc}") from exc

    # What several stores share -----------------------------------------------------------

    def transfer(self, transfer_id: object) -> Transfer | None:
        """The transfer with this id, or None."""
        if isinstance(transfer_id, int) and 1 <= transfer_id <= len(self.transfers):
            return self.transfers[transfer_id - 1]
        return None

    def require_user(self, telegram_id: int | None) -> None:
        """The ``REFERENCES users (telegram_id)`` of the SQLite schema."""
        if telegram_id is not None and telegram_id not in self.users:
            raise IntegrityError("FOREIGN KEY constraint failed")

    def account_of(self, telegram_id: int) -> int | None:
        user = self.users.get(telegram_id)
        return user.account_id if user is not None else None


def record_event(
    state: MemoryState,
    actor_id: int | None,
    event: str,
    subject_id: int | None,
    details: dict,
) -> SecurityEvent:
    """Append to the security log's hash chain, as ``SecurityOps.record_event`` does: the
    stored details are the JSON it stores; the answer carries the details as given."""
    event_id = len(state.events) + 1
    prev_hash = state.events[-1].hash if state.events else GENESIS_HASH
    text = canonical_details(details)
    at = state.clock()
    digest = event_hash(
        id=event_id,
        at=at,
        actor_id=actor_id,
        event=event,
        subject_id=subject_id,
        details=text,
        prev_hash=prev_hash,
    )
    stored = SecurityEvent(
        event_id, at, actor_id, event, subject_id, json.loads(text), prev_hash, digest
    )
    state.events.append(stored)
    return SecurityEvent(event_id, at, actor_id, event, subject_id, details, prev_hash, digest)
