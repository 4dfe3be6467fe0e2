"""The group commit's work in one transaction (see ``batch.py``): the registrations of
newcomers all at once, the locks in the one-by-one paths' order, one statement that reads
what the checks need, the checks in memory with the domain's rules, and one statement
that writes it all."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import asyncpg

from bot.domain.chain import GENESIS_HASH, hash_fields
from bot.domain.errors import (
    IdempotencyConflict,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketNotFound,
    UserNotFound,
    WalletError,
)
from bot.domain.kinds import TransferKind
from bot.domain.ledger_rules import refusal
from bot.domain.model import (
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
    TransferSpec,
)
from bot.domain.redpackets import (
    Grab,
    GrabAttempt,
    GrabRequest,
    PacketState,
    RedPacket,
    check_burst,
    check_open,
    grab_chat_id,
    grab_transfer,
)
from bot.domain.risk import RecentGrab
from bot.domain.users import Profile, User
from bot.storage.postgres.ledger_store import MAY_DEBIT_SQL, row_to_transfer
from bot.storage.postgres.port import JOURNAL_LOCK, USERNAME_LOCK
from bot.storage.postgres.redpackets_store import PACKET_COLUMNS, row_to_packet
from bot.storage.postgres.users_store import USER_COLUMNS, row_to_user, upsert_user
from bot.storage.rows import TRANSFER_COLUMNS

__all__ = ["BEGIN", "BEGIN_LOCKED", "GroupRefused", "register_together", "write_group"]


# SQL ---------------------------------------------------------------------------------------

# The group's statements take arrays: one generic plan each serves every group (planning
# one costs more than running it).
BEGIN = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"
BEGIN_LOCKED = f"{BEGIN}; SELECT pg_advisory_xact_lock({JOURNAL_LOCK})"
# the open packets, locked in id order, and only then the journal (count(*) reads them all)
_LOCK_PACKETS_THEN_JOURNAL = (
    "WITH p AS MATERIALIZED (SELECT id FROM red_packets WHERE id = ANY($1::text[])"
    "  AND state = 'open' ORDER BY id FOR UPDATE)"
    " SELECT pg_advisory_xact_lock($2) FROM (SELECT count(*) FROM p) AS c"
)
_GRAB_KIND = TransferKind.RED_PACKET_GRAB.value
_READ = (
    "WITH acc AS MATERIALIZED (SELECT id, kind, status, currency,"
    "  credits_posted - debits_posted - debits_pending FROM accounts"
    "  WHERE id = ANY($1::bigint[] || ARRAY(SELECT account_id FROM users"
    "   WHERE telegram_id = ANY($4::bigint[])))"
    "  ORDER BY id FOR UPDATE)"
    " SELECT (SELECT row(id, hash) FROM transfers ORDER BY id DESC LIMIT 1),"
    f" ARRAY(SELECT row({TRANSFER_COLUMNS}) FROM transfers WHERE key = ANY($2::text[])),"
    " ARRAY(SELECT row(acc.*) FROM acc),"
    f" ARRAY(SELECT row({PACKET_COLUMNS}) FROM red_packets WHERE id = ANY($3::text[])),"
    " ARRAY(SELECT row(packet_id, position, amount, user_id) FROM red_packet_shares"
    "  WHERE packet_id = ANY($3::text[]) ORDER BY packet_id, position),"
    " ARRAY(SELECT row(telegram_id, account_id) FROM users"
    "  WHERE telegram_id = ANY($4::bigint[])),"
    " ARRAY(SELECT row(t.credit_account_id, t.created_at, t.ref) FROM transfers AS t"
    "  JOIN users AS u ON t.credit_account_id = u.account_id"
    f"  WHERE u.telegram_id = ANY($4::bigint[]) AND t.kind = '{_GRAB_KIND}'"
    "  AND t.flag = 'posted' AND t.created_at > $5 ORDER BY t.created_at, t.id)"
)
_MAY_DEBIT_RUN = MAY_DEBIT_SQL.replace("$2", "(v.debit - v.credit)")
_WRITE = (
    "WITH moved AS (UPDATE accounts SET debits_posted = debits_posted + v.debit,"
    "  credits_posted = credits_posted + v.credit"
    "  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])"
    "   AS v(id, debit, credit, currency)"
    "  WHERE accounts.id = v.id AND accounts.currency = v.currency"
    f"  AND (v.debit = 0 OR ({_MAY_DEBIT_RUN})) RETURNING 1),"
    f" journal AS (INSERT INTO transfers ({TRANSFER_COLUMNS})"
    "  SELECT * FROM unnest($5::bigint[], $6::text[], $7::bigint[], $8::bigint[],"
    "  $9::bigint[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[],"
    "  $15::text[], $16::bigint[], $17::bigint[], $18::text[], $19::text[]) RETURNING 1),"
    " took AS (UPDATE red_packet_shares AS s SET user_id = v.user_id,"
    "  transfer_id = v.transfer_id, grabbed_at = v.at"
    "  FROM unnest($20::text[], $21::int[], $22::bigint[], $23::bigint[], $24::bigint[])"
    "   AS v(packet_id, position, user_id, transfer_id, at)"
    "  WHERE s.packet_id = v.packet_id AND s.position = v.position AND s.user_id IS NULL"
    "  RETURNING 1),"
    " done AS (UPDATE red_packets AS p SET state = 'finished', settled_at = v.at"
    "  FROM unnest($25::text[], $26::bigint[]) AS v(id, at)"
    "  WHERE p.id = v.id AND p.state = 'open' RETURNING 1)"
    " SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM journal),"
    " (SELECT count(*) FROM took), (SELECT count(*) FROM done)"
)
# registrations, all at once (``upsert_user`` one by one)
_OPEN_ACCOUNTS = (
    "INSERT INTO accounts (name, kind, currency, created_at)"
    " SELECT name, 'user', currency, $3 FROM unnest($1::text[], $2::text[])"
    " AS v(name, currency) ORDER BY name ON CONFLICT (name, currency) DO NOTHING"
)
_LOCK_NAMES_AND_READ_ACCOUNTS = (
    "SELECT (SELECT count(pg_advisory_xact_lock($3, h)) FROM (SELECT DISTINCT"
    "  hashtext(lower(n)) AS h FROM unnest($4::text[]) AS n ORDER BY 1) AS names),"
    " ARRAY(SELECT row(a.name, a.currency, a.id) FROM accounts AS a"
    "  JOIN unnest($1::text[], $2::text[]) AS v(name, currency)"
    "  ON a.name = v.name AND a.currency = v.currency)"
)
# ($2: the names in lower case, $3: who claims each; by the index users_by_username)
_CLEAR_NAMES = (
    "UPDATE users AS u SET username = NULL, updated_at = $1"
    " WHERE u.username IS NOT NULL AND lower(u.username) = ANY($2::text[])"
    " AND (lower(u.username), u.telegram_id)"
    " NOT IN (SELECT * FROM unnest($2::text[], $3::bigint[]))"
)
_UPSERT_USERS = (
    "INSERT INTO users AS u (telegram_id, account_id, username, first_name, language_code,"
    " private_chat, created_at, updated_at)"
    " SELECT v.*, FALSE, $6, $6 FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
    " $4::text[], $5::text[]) AS v ORDER BY 1"
    " ON CONFLICT (telegram_id) DO UPDATE SET username = excluded.username,"
    " first_name = excluded.first_name, language_code = excluded.language_code,"
    " updated_at = excluded.updated_at"
    f" RETURNING {USER_COLUMNS}, xmax = 0"
)


class GroupRefused(Exception):
    """The database refused what the checks accepted: the group runs one by one."""


# Registrations -----------------------------------------------------------------------------


async def register_together(
    conn: asyncpg.Connection, clock: Callable[[], int], asked: Sequence[tuple[Profile, str]]
) -> tuple[list[User], set[int]]:
    """``upsert_user(profile, currency, private_chat=False)`` for each of ``asked``, in a
    few statements: the user each one left (in ``asked``'s order), and the ids registered
    for the first time. (Two of them for one person or one username: one by one, in
    order, each answered with the user as it left it.)"""
    ids = [profile.telegram_id for profile, _ in asked]
    names = [profile.username.lower() for profile, _ in asked if profile.username]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        known = await conn.fetch(
            "SELECT telegram_id FROM users WHERE telegram_id = ANY($1::bigint[])", ids
        )
        users = [
            await upsert_user(conn, clock, profile, currency, False) for profile, currency in asked
        ]
        return users, set(ids) - {row[0] for row in known}
    now = clock()
    account_names = [f"user:{n}" for n in ids]
    currencies = [currency for _, currency in asked]
    await conn.execute(_OPEN_ACCOUNTS, account_names, currencies, now)
    usernames = [p.username for p, _ in asked if p.username]
    _, accounts = await conn.fetchrow(
        _LOCK_NAMES_AND_READ_ACCOUNTS, account_names, currencies, USERNAME_LOCK, usernames
    )
    account_of = {(name, currency): account for name, currency, account in accounts}
    if usernames:
        await conn.execute(
            _CLEAR_NAMES,
            now,
            [name.lower() for name in usernames],
            [p.telegram_id for p, _ in asked if p.username],
        )
    rows = await conn.fetch(
        _UPSERT_USERS,
        ids,
        [account_of[(f"user:{p.telegram_id}", c)] for p, c in asked],
        [p.username for p, _ in asked],
        [p.first_name for p, _ in asked],
        [p.language_code for p, _ in asked],
        now,
    )
    users = {row[0]: row_to_user(row) for row in rows}
    return [users[telegram_id] for telegram_id in ids], {row[0] for row in rows if row[-1]}


# The group's checks in memory ------------------------------------------------------------


class _Standing(NamedTuple):
    """An account as the group starts: what the ledger's rules read of it."""

    kind: AccountKind
    status: AccountStatus
    currency: str
    available: int


@dataclass
class _Live:
    """A packet as the group sees it: its free shares in order, who took which."""

    packet: RedPacket
    free: deque[tuple[int, int]] = field(default_factory=deque)  # (position, amount)
    taken: dict[int, int] = field(default_factory=dict)  # user id -> amount


class _Run:
    """What the group has checked so far and will write: the journal's tail, what it did
    to each account, the rows of its transfers, shares and finished packets."""

    def __init__(self, clock: Callable[[], int], tail: tuple[int, str] | None) -> None:
        self.clock = clock
        self.last_id, self.last_hash = tail if tail else (0, GENESIS_HASH)
        self.accounts: dict[int, _Standing] = {}
        self.moved: dict[int, int] = {}  # change of available money by the group
        self.sides: dict[int, list] = {}  # account -> [debited, credited, currency]
        self.rows: list[tuple] = []
        self.stored: dict[str, Transfer] = {}  # key -> transfer (journal and group)
        self.takes: list[tuple] = []
        self.finished: list[tuple[str, int]] = []

    def refusal(self, specs: Sequence[TransferSpec]) -> WalletError | None:
        """Why the accounts refuse these transfers after what the group did, or None."""
        change: dict[int, int] = {}
        for spec in specs:
            debit, credit = spec.debit_account_id, spec.credit_account_id
            refused = refusal(
                spec,
                self.accounts.get(debit),
                self.accounts.get(credit),
                self.moved.get(debit, 0) + change.get(debit, 0),
            )
            if refused is not None:
                return refused
            change[debit] = change.get(debit, 0) - spec.amount
            change[credit] = change.get(credit, 0) + spec.amount
        return None

    def replay(self, key: str, specs: Sequence[TransferSpec]) -> tuple[Transfer, ...] | None:
        """The first answer under ``key`` if it was given (or IdempotencyConflict)."""
        if key not in self.stored:
            return None
        keys = [key if i == 0 else f"{key}#{i}" for i in range(len(specs))]
        found = [self.stored.get(k) for k in keys]
        if any(t is None or not t.matches(s) for t, s in zip(found, specs, strict=True)):
            raise IdempotencyConflict(key=key)
        if f"{key}#{len(specs)}" in self.stored:
            raise IdempotencyConflict(key=key)  # the first request had more transfers
        return tuple(found)  # type: ignore[arg-type]

    def append(self, key: str, specs: Sequence[TransferSpec], now: int) -> tuple[Transfer, ...]:
        """Write these (checked) transfers: the journal's next rows, the balances."""
        transfers = []
        for i, spec in enumerate(specs):
            debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
            self.moved[debit] = self.moved.get(debit, 0) - amount
            self.moved[credit] = self.moved.get(credit, 0) + amount
            currency = self.accounts[debit].currency
            self.sides.setdefault(debit, [0, 0, currency])[0] += amount
            self.sides.setdefault(credit, [0, 0, currency])[1] += amount
            own = key if i == 0 else f"{key}#{i}"
            row = (
                self.last_id + 1, own, debit, credit, amount, currency, str(spec.kind),
                TransferFlag.POSTED.value, None, spec.ref, spec.memo, 0, now, self.last_hash,
            )  # fmt: skip
            digest = hash_fields(list(row))
            self.last_id, self.last_hash = row[0], digest
            self.rows.append((*row, digest))
            transfer = Transfer(*row[:7], TransferFlag.POSTED, *row[8:], digest)
            self.stored[own] = transfer
            transfers.append(transfer)
        return tuple(transfers)

    def transfer(self, key: str, specs: Sequence[TransferSpec]) -> tuple[Transfer, ...]:
        """``create_transfers(key, specs)`` as one by one would answer it now."""
        replayed = self.replay(key, specs)
        if replayed is not None:
            return replayed
        refused = self.refusal(specs)
        if refused is not None:
            raise refused
        return self.append(key, specs, self.clock())

    def grab(
        self,
        request: GrabRequest,
        live: dict[str, _Live],
        people: dict[int, int],
        recent: dict[int, list[RecentGrab]],
    ) -> Grab:
        """``_take_share`` of ``redpackets_store`` on the group's memory."""
        state = live.get(request.packet_id)
        if state is None:
            raise RedPacketNotFound(packet_id=request.packet_id)
        packet = state.packet
        if request.place is not None and not request.place.shows(packet):
            raise RedPacketNotFound(packet_id=packet.id)  # a copy outside its chat
        if request.user_id in state.taken:
            raise RedPacketAlreadyGrabbed(packet_id=packet.id, amount=state.taken[request.user_id])
        now = self.clock()
        check_open(packet, request, now)
        if not state.free:
            raise RedPacketExhausted(packet_id=packet.id)
        account = people.get(request.user_id)
        if account is None:
            raise UserNotFound(telegram_id=request.user_id)
        since = now - request.check.window_ms
        mine = recent.setdefault(account, [])
        check_burst(request, [g for g in mine if g.at_ms > since], now)
        position, amount = state.free[0]
        key, spec = grab_transfer(packet, request, account, position, amount)
        if key in self.stored:  # as ``create_transfers`` answers a key seen before
            raise IdempotencyConflict(key=key)
        refused = self.refusal((spec,))
        if refused is not None:
            raise refused
        (transfer,) = self.append(key, (spec,), now)
        state.free.popleft()
        state.taken[request.user_id] = amount
        mine.append(RecentGrab(now, grab_chat_id(spec.ref)))
        self.takes.append((packet.id, position, request.user_id, transfer.id, now))
        remaining = len(state.free)
        if remaining == 0:
            state.packet = replace(packet, state=PacketState.FINISHED, settled_at=now)
            self.finished.append((packet.id, now))
        return Grab(state.packet, amount, remaining, remaining == 0)

    def write_args(self) -> list[list]:
        moves = list(self.sides.items())
        columns = [list(c) for c in zip(*self.rows, strict=True)] if self.rows else [[]] * 15
        takes = [list(c) for c in zip(*self.takes, strict=True)] if self.takes else [[]] * 5
        done = [list(c) for c in zip(*self.finished, strict=True)] if self.finished else [[]] * 2
        return [
            [account for account, _ in moves],
            [side[0] for _, side in moves],
            [side[1] for _, side in moves],
            [side[2] for _, side in moves],
            *columns,
            *takes,
            *done,
        ]


async def write_group(
    conn: asyncpg.Connection, clock: Callable[[], int], ops: list[object], locked: bool
) -> list[tuple[bool, object]]:
    """Check and write ``ops`` (``(key, specs)`` pairs and ``GrabRequest``s) in the
    transaction open on ``conn`` (which holds the journal's lock when ``locked``)."""
    grabs = [op for op in ops if isinstance(op, GrabRequest)]
    registered: list[User] = []
    new: set[int] = set()
    asked = [(r.profile, r.currency) for r in grabs if r.profile is not None]
    if asked:
        registered, new = await register_together(conn, clock, asked)
    users = iter(registered)  # each registering grab's user, in the queue's order
    packet_ids = sorted({r.packet_id for r in grabs})
    if not locked:
        await conn.execute(_LOCK_PACKETS_THEN_JOURNAL, packet_ids, JOURNAL_LOCK)
    keys: list[str] = []
    account_ids: set[int] = set()
    for op in ops:
        if isinstance(op, GrabRequest):
            account_ids.add(op.escrow_id)
            continue
        key, specs = op
        keys.extend([key, *(f"{key}#{i}" for i in range(1, len(specs) + 1))])
        account_ids.update(n for s in specs for n in (s.debit_account_id, s.credit_account_id))
    grabbers = list({r.user_id for r in grabs})
    since = clock() - max((r.check.window_ms for r in grabs), default=0)
    tail, seen, accounts, packets, shares, people, recent_rows = await conn.fetchrow(
        _READ, list(account_ids), keys, packet_ids, grabbers, since
    )
    run = _Run(clock, tail)
    for account_id, kind, status, currency, available in accounts:
        run.accounts[account_id] = _Standing(
            AccountKind(kind), AccountStatus(status), currency, available
        )
    for row in seen:
        run.stored[row[1]] = row_to_transfer(row)
    live = {row[0]: _Live(row_to_packet(row)) for row in packets}
    for packet_id, position, amount, user_id in shares:
        if user_id is None:
            live[packet_id].free.append((position, amount))
        else:
            live[packet_id].taken[user_id] = amount
    known = {telegram_id: account for telegram_id, account in people if telegram_id not in new}
    recent: dict[int, list[RecentGrab]] = {}
    for account, at, ref in recent_rows:
        recent.setdefault(account, []).append(RecentGrab(at, grab_chat_id(ref)))
    answers: list[tuple[bool, object]] = []
    for op in ops:
        if isinstance(op, GrabRequest):
            user = next(users) if op.profile is not None else None
            if user is not None:
                known[user.telegram_id] = user.account_id  # registered at its turn
            try:
                answers.append((True, GrabAttempt(user, run.grab(op, live, known, recent))))
            except WalletError as refused:
                answers.append((True, GrabAttempt(user, None, refused)))
            continue
        try:
            answers.append((True, run.transfer(*op)))
        except WalletError as refused:
            answers.append((False, refused))
    if run.rows:
        counts = tuple(await conn.fetchrow(_WRITE, *run.write_args()))
        if counts != (len(run.sides), len(run.rows), len(run.takes), len(run.finished)):
            raise GroupRefused(f"the database refused what the checks accepted: {counts}")
    return answers


