"""Ledger write operations, run on the writer thread inside a SAVEPOINT.

Balances change only through conditional updates: the debit succeeds only while the
account may send and holds enough available money or may go negative (the sets
``MAY_SEND`` and ``MAY_GO_NEGATIVE`` of the model, which the ledger's rules read too);
the CHECK constraint on ``accounts`` is the second lock on the same door. Why a transfer
was refused is always the answer of ``bot.domain.ledger_rules``, on both paths.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields as dataclass_fields
from functools import lru_cache, partial
from typing import NamedTuple

from bot.domain.chain import GENESIS_HASH, hash_fields, hash_posted, transfer_hash
from bot.domain.errors import (
    AccountNotFound,
    IdempotencyConflict,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
)
from bot.domain.ledger_rules import key_error, operation_error, refusal, spec_error
from bot.domain.model import (
    MAY_GO_NEGATIVE,
    MAY_SEND,
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
    TransferSpec,
)
from bot.storage.rows import ACCOUNT_COLUMNS, TRANSFER_COLUMNS, row_to_account, row_to_transfer
from bot.storage.sqlite.bulk import run_chunked, values
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "ACCOUNT_COLUMNS",
    "TRANSFER_COLUMNS",
    "LedgerOps",
    "row_to_account",
    "row_to_transfer",
]

_INSERT_TRANSFER = f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES ({', '.join('?' * 15)})"


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(values))


def _may_debit(amount: str) -> str:
    """SQL: the account may be debited ``amount`` (a parameter) now, by the model's sets."""
    return (
        f"status IN ({_sql_list(MAY_SEND)}) AND (kind IN ({_sql_list(MAY_GO_NEGATIVE)})"
        f" OR credits_posted - debits_posted - debits_pending >= {amount})"
    )


_CAN_SEND = _may_debit("?")
# One statement moves the money: it touches both rows only if the debit account may send
# the amount and the credit account exists in the same currency (rowcount 2), else less.
_POST = (
    "UPDATE accounts SET"
    " debits_posted = debits_posted + CASE id WHEN ? THEN ? ELSE 0 END,"
    " credits_posted = credits_posted + CASE id WHEN ? THEN ? ELSE 0 END"
    f" WHERE (id = ? AND {_CAN_SEND}) OR (id = ? AND currency = ?)"
)


@lru_cache(maxsize=8)
def _move_sql(rows: int) -> str:
    """What a run moved through ``rows`` accounts, each a row (account, debited,
    credited, currency): only in that currency, and a debit only while the account may
    send what the run took out of it, as in _POST."""
    return (
        "UPDATE accounts SET debits_posted = debits_posted + v.column2,"
        " credits_posted = credits_posted + v.column3"
        f" FROM (VALUES {values(rows, 4)}) AS v"
        " WHERE accounts.id = v.column1 AND accounts.currency = v.column4"
        f" AND (v.column2 = 0 OR ({_may_debit('v.column2 - v.column3')}))"
    )


@lru_cache(maxsize=8)
def _insert_transfers_sql(rows: int) -> str:
    return f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES {values(rows, 15)}"


_HOLD = f"UPDATE accounts SET debits_pending = debits_pending + ? WHERE id = ? AND {_CAN_SEND}"
_KEY_EXISTS = "transfers.key"  # in "UNIQUE constraint failed: transfers.key"
# How many transfers ``create_transfers_together`` takes in one call.
TOGETHER_MAX_TRANSFERS = 512
_KINDS = {kind.value: kind for kind in AccountKind}
_STATUSES = {status.value: status for status in AccountStatus}


class _Standing(NamedTuple):
    """An account as a run taken together starts: what the ledger's rules read of it."""

    kind: AccountKind
    status: AccountStatus
    currency: str
    available: int


# _Standing from a tuple of its fields, without the Python-level __new__ of a NamedTuple
# (a run reads up to two accounts per transfer, on the hot path)
_standing = partial(tuple.__new__, _Standing)


def _slot_setters() -> list[Callable[[Transfer, object], None]] | None:
    """The setters of :class:`Transfer`'s slots in the order of ``TRANSFER_COLUMNS``, if
    it is a plain slotted dataclass of exactly those fields (else None)."""
    names = [field.name for field in dataclass_fields(Transfer)]
    plain = (
        getattr(Transfer, "__slots__", None) == tuple(names)
        and names == [column.strip() for column in TRANSFER_COLUMNS.split(",")]
        and not hasattr(Transfer, "__post_init__")
    )
    return [getattr(Transfer, name).__set__ for name in names] if plain else None


_SETTERS = _slot_setters()
_new = object.__new__


def _transfer_of(row: tuple, flag: TransferFlag) -> Transfer:
    """The :class:`Transfer` of a journal row (``flag`` as the member): what
    ``Transfer(*row)`` builds, slot by slot, in half the time of the frozen dataclass's
    ``__init__`` (a run builds one per transfer on the writer thread)."""
    if _SETTERS is None:
        return Transfer(*row[:7], flag, *row[8:])
    transfer = _new(Transfer)
    for set_field, value in zip(_SETTERS, row, strict=True):
        set_field(transfer, value)
    _SETTERS[7](transfer, flag)
    return transfer


class LedgerOps:
    """The ledger's writes. Also the writer's state: the journal tail and a cache.

    Before each group the tail (last transfer id and hash) is read again, so a second
    process writing the same file keeps the chain intact; an operation that rolls back
    restores the tail it started from.
    """

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.last_id = 0
        self.last_hash = GENESIS_HASH
        self._currency: dict[int, str] = {}  # accounts never change currency

    # WriterState ----------------------------------------------------------------------

    def begin(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT id, hash FROM transfers ORDER BY id DESC LIMIT 1").fetchone()
        self.last_id, self.last_hash = row if row else (0, GENESIS_HASH)

    def checkpoint(self) -> tuple[int, str]:
        return self.last_id, self.last_hash

    def restore(self, token: object) -> None:
        self.last_id, self.last_hash = token  # type: ignore[misc]

    def discard(self) -> None:
        self._currency.clear()

    # Accounts -------------------------------------------------------------------------

    def open_account(
        self, conn: sqlite3.Connection, name: str, kind: AccountKind, currency: str
    ) -> Account:
        conn.execute(
            "INSERT INTO accounts (name, kind, currency, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, currency) DO NOTHING",
            (name, kind.value, currency, self.clock()),
        )
        row = conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ? AND currency = ?",
            (name, currency),
        ).fetchone()
        account = row_to_account(row)
        if account.kind is not kind:
            raise LedgerError(f"account {name} exists as a {account.kind} account")
        return account

    def set_status(
        self, conn: sqlite3.Connection, account_id: int, status: AccountStatus
    ) -> Account:
        row = conn.execute(
            f"UPDATE accounts SET status = ? WHERE id = ? RETURNING {ACCOUNT_COLUMNS}",
            (status.value, account_id),
        ).fetchall()
        if not row:
            raise AccountNotFound(account_id=account_id)
        return row_to_account(row[0])

    def change_status(
        self, conn: sqlite3.Connection, account_id: int, status: AccountStatus
    ) -> bool:
        changed = conn.execute(
            "UPDATE accounts SET status = ?1 WHERE id = ?2 AND status <> ?1",
            (status.value, account_id),
        ).rowcount
        if not changed and not conn.execute(
            "SELECT 1 FROM accounts WHERE id = ?", (account_id,)
        ).fetchone():
            raise AccountNotFound(account_id=account_id)
        return bool(changed)

    def _currency_of(self, conn: sqlite3.Connection, account_id: int) -> str | None:
        currency = self._currency.get(account_id)
        if currency is None:
            row = conn.execute("SELECT currency FROM accounts WHERE id = ?", (account_id,))
            row = row.fetchone()
            if row is None:
                return None
            currency = self._currency[account_id] = row[0]
        return currency

    # Transfers ------------------------------------------------------------------------

    def create_transfers(
        self, conn: sqlite3.Connection, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        """Apply ``specs``; a key seen before is answered from the journal instead.

        The common path does not look the key up: the UNIQUE index on ``transfers.key``
        says when it exists, and so does any refusal (a replay must get the first answer,
        not today's refusal); then the writer undoes this try and runs :meth:`_replay`.
        """
        refused = operation_error(key, specs)  # the store keeps the rules itself too:
        if refused is not None:  # no key with '#' is ever stored, so k#i is k's alone
            raise refused
        keys = [key if i == 0 else f"{key}#{i}" for i in range(len(specs))]
        now = self.clock()
        first_id = self.last_id + 1  # rows from first_id on are this operation's own
        try:
            return tuple(
                self._apply(conn, k, spec, now) for k, spec in zip(keys, specs, strict=True)
            )
        except sqlite3.IntegrityError as exc:
            if _KEY_EXISTS not in str(exc):
                raise
        except LedgerError:
            seen_before = conn.execute(
                "SELECT 1 FROM transfers WHERE key = ? AND id < ?", (key, first_id)
            ).fetchone()
            if not seen_before:
                raise
        raise RollBackThen(self._replay, key, keys, specs)

    def create_transfers_together(
        self,
        conn: sqlite3.Connection,
        calls: list[tuple[str, Sequence[TransferSpec]]],
        *,
        as_rows: bool = False,
        new_keys: bool = False,
    ) -> list[tuple[bool, object]]:
        """:meth:`create_transfers` for a run of operations, in a few statements.

        Used by the writer for neighbours in a group (see ``writer.py``). It takes the
        leading operations that move posted money under keys never seen before, checks
        them in order against the accounts read once (with ``ledger_rules.refusal``, as
        the one-by-one path does), then applies the accepted ones: one conditional
        balance update per account the run touches, by what the run moved in and out of
        it (the same conditions as one by one, on the run's sum: the order was checked
        above), and their journal rows, each in multi-row statements (``bulk.py``).
        Anything else (a replay, a reservation, a resolution, a spec the rules refuse as
        asked, a key one of them writes) ends the run; the writer gives it to
        :meth:`create_transfers`. If the database disagrees with the checks (an update
        matched no row, a CHECK failed), this raises and the writer rolls it all back
        and runs each operation one by one.

        With ``as_rows`` an accepted operation is answered with its journal rows (tuples
        in the order of ``TRANSFER_COLUMNS``) instead of :class:`Transfer` objects, for a
        caller that needs no more than their ids. With ``new_keys`` the caller vouches
        that no key of the run is stored yet (a grab's key names a share it found free):
        the look-up is skipped, and should one be stored after all, the journal's unique
        key refuses the insert, which raises and the writer goes one by one.
        """
        taken: list[tuple[str, Sequence[TransferSpec]]] = []
        written: set[str] = set()  # every key the taken operations write: k, k#1, ...
        size = 0
        for key, specs in calls:
            n = len(specs)
            size += n
            if size > TOGETHER_MAX_TRANSFERS:
                break
            # anything the rules refuse as asked: the one-by-one path answers (refuses) it
            if n == 1:  # the common case, without the keys of several
                if key in written or key_error(key) is not None or not _plain_posted(specs[0]):
                    break
                written.add(key)
            else:
                own = [key, *(f"{key}#{i}" for i in range(1, n))]
                if (
                    not written.isdisjoint(own)
                    or key_error(key) is not None
                    or not all(map(_plain_posted, specs))
                ):
                    break
                written.update(own)
            taken.append((key, specs))
        if not taken:
            return []
        first_keys = [key for key, _ in taken]
        seen = set()
        if not new_keys:
            seen = {
                row[0]
                for row in conn.execute(
                    f"SELECT key FROM transfers WHERE key IN ({', '.join('?' * len(first_keys))})",
                    first_keys,
                )
            }
        if seen:  # answer up to the first replay; the one-by-one path answers that
            taken = taken[: next(i for i, key in enumerate(first_keys) if key in seen)]
        if not taken:
            return []
        clock = self.clock
        nows = [clock() for _ in taken]  # once per operation, in order, as one by one
        answers = self._run_by_sums(conn, taken, nows, as_rows)
        if answers is None:
            answers = self._run_in_order(conn, taken, nows, as_rows)
        return answers

    def _run_by_sums(
        self,
        conn: sqlite3.Connection,
        taken: list[tuple[str, Sequence[TransferSpec]]],
        nows: list[int],
        as_rows: bool,
    ) -> list[tuple[bool, object]] | None:
        """Every operation of ``taken`` accepted, without reading the accounts; None (and
        no trace) when that cannot be shown so, for :meth:`_run_in_order` to answer.

        When no account of the run both pays and is paid in it, its available money only
        falls through the run, so every transfer in order passes the ledger's rules
        exactly when each paying account may send the run's sum out of it, every account
        exists in the currency it is known in (accounts never change currency), and the
        two sides of each transfer share that currency. The conditional balance update
        asks the database just that, one row per account; a row it leaves alone means
        some transfer is refused (or the cache was wrong): its savepoint undoes the run.
        """
        currency_of = self._currency
        debited: dict[int, int] = {}  # paying account -> what the run takes out of it
        credited: dict[int, int] = {}  # paid account -> what the run puts into it
        rows: list[tuple] = []
        answers: list[tuple[bool, object]] = []
        last_id, last_hash = self.last_id, self.last_hash
        posted = TransferFlag.POSTED
        for (key, specs), now in zip(taken, nows, strict=True):
            if type(now) is not int:
                return None
            transfers = []
            for i, spec in enumerate(specs):
                debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
                ref, memo = spec.ref, spec.memo
                currency = currency_of.get(debit)
                if (
                    currency is None
                    or currency_of.get(credit) != currency
                    or debit in credited
                    or credit in debited
                    or type(amount) is not int
                    or type(ref) is not str
                    or type(memo) is not str
                ):
                    return None
                debited[debit] = debited.get(debit, 0) + amount
                credited[credit] = credited.get(credit, 0) + amount
                kind = str(spec.kind)
                own = key if i == 0 else f"{key}#{i}"
                last_id += 1
                digest = hash_posted(
                    last_id, own, debit, credit, amount, currency, kind, ref, memo, now, last_hash
                )
                row = (
                    last_id,
                    own,
                    debit,
                    credit,
                    amount,
                    currency,
                    kind,
                    "posted",
                    None,
                    ref,
                    memo,
                    0,
                    now,
                    last_hash,
                    digest,
                )
                last_hash = digest
                rows.append(row)
                transfers.append(row if as_rows else _transfer_of(row, posted))
            answers.append((True, tuple(transfers)))
        moves = [(n, amount, 0, currency_of[n]) for n, amount in debited.items()]
        moves += [(n, 0, amount, currency_of[n]) for n, amount in credited.items()]
        conn.execute("SAVEPOINT by_sums")
        try:
            try:
                run_chunked(conn, _insert_transfers_sql, rows)
                moved = run_chunked(conn, _move_sql, moves)
            except sqlite3.IntegrityError:  # a key stored already, say: not this path's
                moved = -1
            if moved != len(moves):
                conn.execute("ROLLBACK TO by_sums")
                return None
        except BaseException:
            conn.execute("ROLLBACK TO by_sums")
            raise
        finally:
            conn.execute("RELEASE by_sums")
        self.last_id, self.last_hash = last_id, last_hash
        return answers

    def _run_in_order(
        self,
        conn: sqlite3.Connection,
        taken: list[tuple[str, Sequence[TransferSpec]]],
        nows: list[int],
        as_rows: bool,
    ) -> list[tuple[bool, object]]:
        """Each operation of ``taken`` checked in order against the accounts read once,
        the accepted ones written together (see :meth:`create_transfers_together`)."""
        ids = list(
            {
                n
                for _, specs in taken
                for s in specs
                for n in (s.debit_account_id, s.credit_account_id)
            }
        )
        accounts = {
            account_id: _standing((_KINDS[kind], _STATUSES[status], currency, available))
            for account_id, kind, status, currency, available in conn.execute(
                "SELECT id, kind, status, currency,"
                " credits_posted - debits_posted - debits_pending FROM accounts"
                f" WHERE id IN ({', '.join('?' * len(ids))})",
                ids,
            )
        }
        moved: dict[int, int] = {}  # what the accepted operations did to available money
        sides: dict[int, list] = {}  # account -> [debited, credited, currency] by the run
        rows: list[tuple] = []
        answers: list[tuple[bool, object]] = []
        posted = TransferFlag.POSTED
        for (key, specs), now in zip(taken, nows, strict=True):
            if len(specs) == 1:  # the common case, without the bookkeeping of several
                (spec,) = specs
                debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
                refused = refusal(
                    spec, accounts.get(debit), accounts.get(credit), moved.get(debit, 0)
                )
                if refused is not None:
                    answers.append((False, refused))
                    continue
                moved[debit] = moved.get(debit, 0) - amount
                moved[credit] = moved.get(credit, 0) + amount
            else:
                change: dict[int, int] = {}  # this operation's own, on top of ``moved``
                refused = None
                for spec in specs:
                    debit, credit = spec.debit_account_id, spec.credit_account_id
                    refused = refusal(
                        spec,
                        accounts.get(debit),
                        accounts.get(credit),
                        moved.get(debit, 0) + change.get(debit, 0),
                    )
                    if refused is not None:
                        break
                    change[debit] = change.get(debit, 0) - spec.amount
                    change[credit] = change.get(credit, 0) + spec.amount
                if refused is not None:
                    answers.append((False, refused))
                    continue
                for account_id, delta in change.items():
                    moved[account_id] = moved.get(account_id, 0) + delta
            transfers = []
            for i, spec in enumerate(specs):
                debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
                currency = accounts[debit].currency
                side = sides.get(debit)
                if side is None:
                    side = sides[debit] = [0, 0, currency]
                side[0] += amount
                side = sides.get(credit)
                if side is None:
                    side = sides[credit] = [0, 0, currency]
                side[1] += amount
                # the transfer that follows the journal's tail (which moves on to it)
                row = (
                    self.last_id + 1,
                    key if i == 0 else f"{key}#{i}",
                    debit,
                    credit,
                    amount,
                    currency,
                    str(spec.kind),
                    posted.value,
                    None,
                    spec.ref,
                    spec.memo,
                    0,
                    now,
                    self.last_hash,
                )
                digest = hash_fields(list(row))
                self.last_id, self.last_hash = row[0], digest
                full = (*row, digest)
                rows.append(full)
                transfers.append(full if as_rows else _transfer_of(full, posted))
            answers.append((True, tuple(transfers)))
        if rows:
            # The database still refuses every debit that the checks above should have
            # refused: the same conditions as one by one, on what the run moved.
            moves = [(account_id, *side) for account_id, side in sides.items()]
            if run_chunked(conn, _move_sql, moves) != len(moves):
                raise LedgerError("the accounts disagree with the checks; one by one instead")
            run_chunked(conn, _insert_transfers_sql, rows)
        for account_id, standing in accounts.items():
            self._currency[account_id] = standing.currency
        return answers

    def _replay(
        self, conn: sqlite3.Connection, key: str, keys: list[str], specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        stored = []
        for k, spec in zip(keys, specs, strict=True):
            row = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ?", (k,))
            row = row.fetchone()
            if row is None or not row_to_transfer(row).matches(spec):
                raise IdempotencyConflict(key=key)
            stored.append(row_to_transfer(row))
        if conn.execute(
            "SELECT 1 FROM transfers WHERE key = ?", (f"{key}#{len(specs)}",)
        ).fetchone():
            raise IdempotencyConflict(key=key)  # the first request had more transfers
        return tuple(stored)

    def _apply(self, conn: sqlite3.Connection, key: str, spec: TransferSpec, now: int) -> Transfer:
        if spec.flag.resolves_pending:
            return self._resolve(conn, key, spec, now)
        debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
        currency = self._currency_of(conn, debit)
        if currency is None:
            raise self._refusal(conn, spec)
        if spec.flag is TransferFlag.POSTED:
            moved = conn.execute(
                _POST, (debit, amount, credit, amount, debit, amount, credit, currency)
            )
            if moved.rowcount != 2:
                raise self._refusal(conn, spec)
        else:
            held = conn.execute(_HOLD, (amount, debit, amount))
            if held.rowcount != 1 or self._currency_of(conn, credit) != currency:
                raise self._refusal(conn, spec)
        return self._insert(
            conn,
            key=key,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=currency,
            kind=str(spec.kind),
            flag=spec.flag,
            pending_id=None,
            ref=spec.ref,
            memo=spec.memo,
            timeout_ms=spec.timeout_ms,
            created_at=now,
        )

    def _resolve(
        self, conn: sqlite3.Connection, key: str, spec: TransferSpec, now: int
    ) -> Transfer:
        row = conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ? AND flag = 'pending'",
            (spec.pending_id,),
        ).fetchone()
        if row is None:
            raise PendingTransferNotFound(pending_id=spec.pending_id)
        pending = row_to_transfer(row)
        if conn.execute("SELECT 1 FROM transfers WHERE pending_id = ?", (pending.id,)).fetchone():
            raise PendingTransferAlreadyResolved(pending_id=pending.id)
        timed_out = pending.timeout_ms > 0 and now >= pending.created_at + pending.timeout_ms
        if spec.flag is TransferFlag.POST_PENDING and timed_out:
            raise PendingTransferExpired(pending_id=pending.id)
        if spec.flag is TransferFlag.EXPIRE_PENDING and not timed_out:
            raise PendingTransferNotExpired(pending_id=pending.id)

        if spec.flag is TransferFlag.POST_PENDING:
            conn.execute(
                "UPDATE accounts SET debits_pending = debits_pending - ?,"
                " debits_posted = debits_posted + ? WHERE id = ?",
                (pending.amount, pending.amount, pending.debit_account_id),
            )
            conn.execute(
                "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
                (pending.amount, pending.credit_account_id),
            )
        else:
            conn.execute(
                "UPDATE accounts SET debits_pending = debits_pending - ? WHERE id = ?",
                (pending.amount, pending.debit_account_id),
            )
        return self._insert(
            conn,
            key=key,
            debit_account_id=pending.debit_account_id,
            credit_account_id=pending.credit_account_id,
            amount=pending.amount,
            currency=pending.currency,
            kind=pending.kind,
            flag=spec.flag,
            pending_id=pending.id,
            ref=spec.ref,
            memo=spec.memo,
            timeout_ms=0,
            created_at=now,
        )

    def _insert(self, conn: sqlite3.Connection, **fields) -> Transfer:
        transfer = self._chain(**fields)
        conn.execute(_INSERT_TRANSFER, _transfer_row(transfer))
        return transfer

    def _chain(self, **fields) -> Transfer:
        """The transfer that follows the journal's tail (which moves on to it)."""
        fields["id"] = self.last_id + 1
        fields["prev_hash"] = self.last_hash
        transfer = Transfer(**fields, hash=transfer_hash(**fields))
        self.last_id, self.last_hash = transfer.id, transfer.hash
        return transfer

    def _refusal(self, conn: sqlite3.Connection, spec: TransferSpec) -> Exception:
        """Why ``spec`` was not applied: the ledger's rules on its accounts as they stand.

        Called once an update refused it. The update may have moved one side already (the
        savepoint undoes that): then the other side is missing or in another currency, and
        the rules answer so before they read any money.
        """
        debit, credit = spec.debit_account_id, spec.credit_account_id
        found = {
            row[0]: row_to_account(row)
            for row in conn.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN (?, ?)", (debit, credit)
            )
        }
        return (
            refusal(spec, found.get(debit), found.get(credit))
            or spec_error(spec)  # a spec the service would not have let through
            or LedgerError("the database refused a transfer the rules allow")
        )


def _transfer_row(transfer: Transfer) -> tuple:
    return (
        transfer.id,
        transfer.key,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.amount,
        transfer.currency,
        transfer.kind,
        transfer.flag.value,
        transfer.pending_id,
        transfer.ref,
        transfer.memo,
        transfer.timeout_ms,
        transfer.created_at,
        transfer.prev_hash,
        transfer.hash,
    )


def _plain_posted(spec: TransferSpec) -> bool:
    """A posted transfer the rules let through as asked, of values that Python and SQLite
    compare alike (so the checks in memory see what the database would)."""
    return (
        spec.flag is TransferFlag.POSTED
        and type(spec.debit_account_id) is int
        and type(spec.credit_account_id) is int
        and 0 < spec.debit_account_id < 2**63
        and 0 < spec.credit_account_id < 2**63
        and spec_error(spec) is None
    )
