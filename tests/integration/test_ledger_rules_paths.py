"""Both write paths of the ledger answer with the same rules, and write the same rows.

The writer applies a transfer one by one (``LedgerOps.create_transfers``: a conditional
update, and the rules of ``bot.domain.ledger_rules`` to say why it refused) or checks a
run of them in memory with those rules and writes the run at once
(``create_transfers_together``). Here the same random operations run through each path
on two identical databases, with a clock that moves on every reading: every answer,
error and row (balances, journal rows with their hashes) must be the same. The mix has
transfers that go through, overdrafts, frozen user and system accounts, unknown
accounts, other currencies, system accounts going below zero, replays and conflicting
reuses of keys, reservations with and without timeouts, and their posts, voids and
expiries (some too late, some too early, some of things that are no reservation).
Both paths read the clock in the same order, so the times and hashes match exactly.

Last, the database's own guard (the conditional updates, built from the model's sets,
and the CHECK of the schema) lets through exactly what the rules allow.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.domain.errors import WalletError
from bot.domain.ledger_rules import refusal
from bot.domain.model import AccountKind, AccountStatus, TransferFlag, TransferSpec
from bot.storage.sqlite import ledger_ops
from bot.storage.sqlite.ledger_ops import ACCOUNT_COLUMNS, LedgerOps, row_to_account
from bot.storage.sqlite.schema import apply_migrations
from bot.storage.sqlite.writer import GroupCommitWriter

NOW_MS = 1_763_776_000_000
SYSTEM, USER, MERCHANT = AccountKind.SYSTEM, AccountKind.USER, AccountKind.MERCHANT
POSTED, PENDING = TransferFlag.POSTED, TransferFlag.PENDING
POST, VOID, EXPIRE = (
    TransferFlag.POST_PENDING,
    TransferFlag.VOID_PENDING,
    TransferFlag.EXPIRE_PENDING,
)

OPENED = [  # ids 1-9, in this order
    ("external", SYSTEM, "CNY"),  # 1: funds everyone, so it is below zero from the start
    ("escrow:redpackets", SYSTEM, "CNY"),  # 2: at zero: any debit takes it below
    ("promotions", SYSTEM, "CNY"),  # 3: frozen
    ("external", SYSTEM, "USD"),  # 4
    ("user:1", USER, "CNY"),  # 5
    ("user:2", USER, "CNY"),  # 6
    ("user:3", USER, "CNY"),  # 7: frozen
    ("merchant:1", MERCHANT, "CNY"),  # 8
    ("user:4", USER, "USD"),  # 9
]
FROZEN = [3, 7]
SEEDS = [(1, 5, 2_000), (1, 6, 2_000), (1, 7, 2_000), (1, 8, 1_000), (4, 9, 500)]  # ids 1-5
RESERVATIONS = [  # ids 6-8: (debit, credit, amount, timeout_ms); 7 is past its timeout
    (5, 6, 300, 0),
    (6, 8, 200, 2),
    (8, 5, 100, 10**9),
]
UNKNOWN = 998
ACCOUNT_IDS = [1, 2, 5, 6, 8] * 3 + [3, 4, 7, 9, UNKNOWN]  # mostly ones that may trade
REUSED = ["r0", "r1", "r2", "r0#1", "seed-5", "hold-6"]  # replays and conflicts


@functools.cache
def _migrated() -> sqlite3.Connection:
    """The schema, migrated once; each database of the tests starts as a copy of it."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    apply_migrations(conn)
    return conn


def _open(clock) -> tuple[sqlite3.Connection, LedgerOps, GroupCommitWriter]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _migrated().backup(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    ops = LedgerOps(clock)
    return conn, ops, GroupCommitWriter(conn, ops)


def _group(writer: GroupCommitWriter, ops: LedgerOps, calls, *, together: bool) -> list:
    """``calls`` (key, specs) as one group of the writer; the outcome of each."""
    taking = ops.create_transfers_together if together else None
    return writer._commit_group([(None, ops.create_transfers, call, taking) for call in calls])


def _setup(writer: GroupCommitWriter, ops: LedgerOps) -> None:
    done = writer._commit_group([(None, ops.open_account, opened, None) for opened in OPENED])
    assert [value.id for _, value in done] == list(range(1, len(OPENED) + 1))
    for account_id in FROZEN:
        writer._commit_group([(None, ops.set_status, (account_id, AccountStatus.FROZEN), None)])
    seeds = [(f"seed-{c}", (TransferSpec(d, c, n, "topup"),)) for d, c, n in SEEDS]
    holds = [
        (f"hold-{i}", (TransferSpec(d, c, n, "hold", flag=PENDING, timeout_ms=t),))
        for i, (d, c, n, t) in enumerate(RESERVATIONS, start=len(SEEDS) + 1)
    ]
    done = _group(writer, ops, seeds + holds, together=False)
    assert all(ok for ok, _ in done), done


def _comparable(outcome) -> tuple:
    ok, value = outcome
    if ok:
        return ("ok", value)
    params = value.params if isinstance(value, WalletError) else None
    return (type(value).__name__, params, str(value))


def _rows(conn: sqlite3.Connection) -> tuple[list, list]:
    return (
        conn.execute("SELECT * FROM transfers ORDER BY id").fetchall(),
        conn.execute("SELECT * FROM accounts ORDER BY id").fetchall(),
    )


def _run(calls, before=(), *, together: bool) -> tuple:
    """Everything that can be seen of ``calls`` run as one group on a new database."""
    ticks = itertools.count(NOW_MS)
    conn, ops, writer = _open(lambda: next(ticks))
    try:
        _setup(writer, ops)
        _group(writer, ops, before, together=False)
        outcomes = _group(writer, ops, calls, together=together)
        transfers, accounts = _rows(conn)
    finally:
        conn.close()
    # the ledger's invariants hold on either path
    kinds = {i: kind for i, (_, kind, _) in enumerate(OPENED, start=1)}
    assert sum(row[6] - row[5] for row in accounts) == 0
    assert all(row[6] - row[5] - row[7] >= 0 for row in accounts if kinds[row[0]] is not SYSTEM)
    seen = ([_comparable(o) for o in outcomes], (ops.last_id, ops.last_hash), transfers, accounts)
    return seen, writer.taken_together, writer.together_failed


def _both(calls, before=()) -> tuple[list, list, int]:
    """``calls`` one by one and taken together: the same in every respect.

    Returns the answers, the accounts' rows and how many operations were taken together.
    """
    one_by_one, _, _ = _run(calls, before, together=False)
    together, taken, failed = _run(calls, before, together=True)
    assert together == one_by_one
    assert failed == 0  # the checks in memory never disagreed with the database
    answers, _, _, accounts = together
    return answers, accounts, taken


@st.composite
def transfer_specs(draw) -> TransferSpec:
    memo = draw(st.sampled_from(["", "午饭 🍜", 'a "quote"']))
    if draw(st.integers(0, 5)) == 0:  # a post, void or expiry of (perhaps) a reservation
        pending_id = draw(st.one_of(st.sampled_from([6, 7, 8]), st.integers(4, 24)))
        return TransferSpec.resolving(pending_id, draw(st.sampled_from([POST, VOID, EXPIRE])))
    debit = draw(st.sampled_from(ACCOUNT_IDS))
    credit = draw(st.sampled_from(ACCOUNT_IDS).filter(lambda n: n != debit))
    amount = draw(st.one_of(st.integers(1, 2_500), st.sampled_from([100, 1_000, 2_000])))
    if draw(st.integers(0, 4)) == 0:
        timeout_ms = draw(st.sampled_from([0, 1, 3, 10**9]))  # the clock moves 1 a reading
        return TransferSpec(
            debit, credit, amount, "hold", flag=PENDING, timeout_ms=timeout_ms, memo=memo
        )
    return TransferSpec(debit, credit, amount, draw(st.sampled_from(["p2p", "tip"])), memo=memo)


keys = st.one_of(st.sampled_from(REUSED), *[st.uuids().map(str)] * 3)  # a quarter reused
operations = st.lists(
    st.tuples(keys, st.lists(transfer_specs(), min_size=1, max_size=3).map(tuple)),
    min_size=2,
    max_size=40,
)
history = st.lists(
    st.tuples(
        st.sampled_from(REUSED), st.lists(transfer_specs(), min_size=1, max_size=2).map(tuple)
    ),
    max_size=3,
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(before=history, calls=operations)
def test_both_write_paths_give_the_same_answers_and_rows(before, calls):
    answers, accounts, taken = _both(calls, before)
    event(f"taken together: {'none' if not taken else 'some'}")
    for answer in answers:
        event(f"answer: {answer[0]}")
    if accounts[1][6] < accounts[1][5]:
        event("escrow below zero")


def test_every_rule_answers_alike_on_both_paths_in_one_group():
    calls = [
        ("a", (TransferSpec(5, 6, 500, "p2p"),)),  # 2,000 - 300 reserved: 1,700 available
        ("b", (TransferSpec(2, 6, 700, "redpacket_grab"),)),  # escrow goes to -700
        ("c", (TransferSpec(5, UNKNOWN, 1, "p2p"),)),
        ("d", (TransferSpec(UNKNOWN, 5, 1, "p2p"),)),
        ("e", (TransferSpec(5, 9, 1, "p2p"),)),  # 9 is in USD
        ("f", (TransferSpec(7, 5, 1, "p2p"),)),  # a frozen user
        ("g", (TransferSpec(3, 5, 1, "promotion"),)),  # a frozen system account
        ("h", (TransferSpec(5, 6, 1_201, "p2p"),)),  # 1,200 left
        ("i", (TransferSpec(5, 6, 1_200, "p2p"), TransferSpec(6, 8, 4_200, "p2p"))),
        ("a", (TransferSpec(5, 6, 500, "p2p"),)),  # a replay: the first answer
        ("a", (TransferSpec(5, 6, 501, "p2p"),)),  # the same key, another request
        ("j", (TransferSpec.resolving(6, POST),)),  # 5's 300 reserved for 6
        ("k", (TransferSpec.resolving(7, POST),)),  # past its timeout
        ("l", (TransferSpec.resolving(7, EXPIRE),)),
        ("m", (TransferSpec.resolving(8, EXPIRE),)),  # not yet
        ("n", (TransferSpec.resolving(8, VOID),)),
        ("o", (TransferSpec.resolving(8, VOID),)),  # once only
        ("p", (TransferSpec.resolving(3, VOID),)),  # a top-up, not a reservation
        ("q", (TransferSpec(8, 6, 5_201, "p2p"),)),  # 1,000 + 4,200, and its 100 back
        ("r", (TransferSpec(8, 6, 5_200, "p2p"),)),
        ("s", (TransferSpec(2, 5, 50, "redpacket_grab"), TransferSpec(5, 7, 50, "p2p"))),
    ]
    answers, _, taken = _both(calls)
    names = [answer[0] for answer in answers]
    assert names == [
        "ok",
        "ok",
        "AccountNotFound",
        "AccountNotFound",
        "CurrencyMismatch",
        "AccountFrozen",
        "AccountFrozen",
        "InsufficientFunds",
        "ok",
        "ok",
        "IdempotencyConflict",
        "ok",
        "PendingTransferExpired",
        "ok",
        "PendingTransferNotExpired",
        "ok",
        "PendingTransferAlreadyResolved",
        "PendingTransferNotFound",
        "InsufficientFunds",
        "ok",
        "ok",
    ]
    assert answers[2][1] == {"account_id": UNKNOWN}
    assert answers[3][1] == {"account_id": UNKNOWN}
    assert answers[4][1] == {"account_id": 9, "expected": "CNY", "actual": "USD"}
    assert answers[5][1] == {"account_id": 7} and answers[6][1] == {"account_id": 3}
    assert answers[7][1] == {"account_id": 5, "available": 1_200, "amount": 1_201}
    assert answers[9] == answers[0]
    assert answers[18][1] == {"account_id": 8, "available": 5_200, "amount": 5_201}
    assert taken == 9 + 3  # a-i, then q-s (the replay and what follows it one by one)


def test_a_long_run_written_in_multi_row_chunks_equals_one_by_one():
    # 150 operations: chunks of 64, 16, 4 and 1 rows; money going round the same accounts
    # (credited, then debited again in the run) and overdrafts refused on the way
    pattern = [(1, 5, 40), (5, 6, 55), (6, 8, 30), (8, 5, 12), (2, 6, 9), (6, 5, 2_500)]
    calls = [
        (f"long-{n}", (TransferSpec(d, c, amount + n % 7, "p2p"),))
        for n, (d, c, amount) in zip(range(150), itertools.cycle(pattern), strict=False)
    ]
    answers, _, taken = _both(calls)
    assert taken == 150
    names = {answer[0] for answer in answers}
    assert names == {"ok", "InsufficientFunds"}


def test_a_system_account_goes_negative_on_both_paths_alike():
    calls = [(f"grab-{n}", (TransferSpec(2, 5 + n % 2, 400, "redpacket_grab"),)) for n in range(5)]
    answers, accounts, taken = _both(calls)
    assert [answer[0] for answer in answers] == ["ok"] * 5
    assert taken == 5
    escrow = accounts[1]
    assert escrow[0] == 2 and escrow[6] - escrow[5] == -2_000


# The database's own guard is built from the same sets as the rules ----------------------

DEBIT_ACCOUNT = (
    "INSERT INTO accounts (id, name, kind, currency, status, debits_posted, credits_posted,"
    " debits_pending, created_at) VALUES (1, 'debit', ?, 'CNY', ?, 20, 150, 30, 0)"
)  # 100 available: 150 in, 20 out, 30 reserved


@pytest.mark.parametrize("kind", list(AccountKind))
@pytest.mark.parametrize("status", list(AccountStatus))
def test_the_conditional_updates_move_exactly_what_the_rules_allow(kind, status):
    conn, ops, _ = _open(lambda: NOW_MS)
    try:
        conn.execute(DEBIT_ACCOUNT, (kind.value, status.value))
        ops.open_account(conn, "credit", AccountKind.USER, "CNY")
        debit, credit = (
            row_to_account(row)
            for row in conn.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id")
        )
        for amount in (1, 99, 100, 101, 10**6):
            allowed = refusal(TransferSpec(1, 2, amount, "p2p"), debit, credit) is None
            updates = [
                (ledger_ops._POST, (1, amount, 2, amount, 1, amount, 2, "CNY"), 2),
                (ledger_ops._HOLD, (amount, 1, amount), 1),
                (ledger_ops._move_sql(1), (1, amount, 0, "CNY"), 1),
            ]
            for statement, parameters, rows_if_allowed in updates:
                conn.execute("BEGIN")
                moved = conn.execute(statement, parameters).rowcount == rows_if_allowed
                conn.execute("ROLLBACK")
                assert moved == allowed, (kind, status, amount, statement)
    finally:
        conn.close()


@pytest.mark.parametrize("kind", list(AccountKind))
def test_the_schema_lets_an_account_below_zero_exactly_when_its_kind_may_go_negative(kind):
    # the CHECK of the first migration cannot be built from the model's set; it must agree
    conn, ops, _ = _open(lambda: NOW_MS)
    try:
        account = ops.open_account(conn, "a", kind, "CNY")
        try:
            conn.execute("UPDATE accounts SET debits_posted = 1 WHERE id = ?", (account.id,))
        except sqlite3.IntegrityError:
            went_below = False
        else:
            went_below = True
        assert went_below is kind.may_go_negative
    finally:
        conn.close()


def test_a_key_the_rules_refuse_is_refused_by_the_store_on_both_paths():
    """The store keeps the key rule itself: a key with '#' (transfer i of operation k has
    the key k#i) is never stored, so a later operation k with two transfers cannot meet
    a stranger's k#1 on one path and not on the other."""
    post_6 = TransferSpec.resolving(6, POST)
    before = [("r0#1", (post_6,))]
    calls = [
        ("r1", (TransferSpec(1, 2, 1, "p2p"),)),
        ("r0", (TransferSpec(1, 2, 1, "p2p"), TransferSpec(1, 2, 1, "p2p"))),
        ("x#1", (TransferSpec(1, 2, 1, "p2p"),)),
    ]
    answers, _, taken = _both(calls, before)
    assert [answer[0] for answer in answers] == ["ok", "ok", "StorageError"]
    assert taken == 2
