"""Red-packet writes for the writer thread, and the SQL to read packets and shares.

Each operation is one SAVEPOINT of the writer's transaction; money moves through the
ledger's own operation (its checks, the journal chain, idempotency). The writer runs
operations one at a time, so two grabs of the last share, or a grab and the expiry, are
put in order: the second finds the share taken or the packet settled.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache, partial

from bot.domain.errors import (
    IdempotencyConflict,
    LedgerError,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketInlineUsed,
    RedPacketNotFound,
    UserNotFound,
    WalletError,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.redpackets import (
    Expiry,
    Grab,
    GrabAttempt,
    GrabRequest,
    PacketKind,
    PacketState,
    RedPacket,
    Share,
    check_burst,
    check_open,
    grab_chat,
    grab_chat_id,
    grab_transfer,
)
from bot.domain.risk import RecentGrab
from bot.storage.sqlite.bulk import run_chunked, values
from bot.storage.sqlite.guard_queries import RECENT_GRABS, row_to_grab
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.users_ops import UsersOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "PACKET_COLUMNS",
    "SHARE_COLUMNS",
    "attach_message",
    "create_packet",
    "expire_packet",
    "grab_share",
    "grab_together",
    "row_to_packet",
    "row_to_share",
]

PACKET_COLUMNS = (
    "id, sender_id, kind, total, count, greeting, recipient_id, password, chat_id, message_id,"
    " inline_message_id, state, create_key, created_at, expires_at, settled_at, refunded"
)
SHARE_COLUMNS = "position, amount, user_id, grabbed_at, transfer_id"


def row_to_packet(row: Sequence) -> RedPacket:
    return RedPacket(*row[:2], PacketKind(row[2]), *row[3:11], PacketState(row[11]), *row[12:])


def row_to_share(row: Sequence) -> Share:
    return Share(*row)


def _packet(conn: sqlite3.Connection, packet_id: str) -> RedPacket:
    row = conn.execute(f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE id = ?", (packet_id,))
    row = row.fetchone()
    if row is None:
        raise RedPacketNotFound(packet_id=packet_id)
    return row_to_packet(row)


def _account_of(conn: sqlite3.Connection, telegram_id: int) -> int:
    row = conn.execute("SELECT account_id FROM users WHERE telegram_id = ?", (telegram_id,))
    row = row.fetchone()
    if row is None:
        raise UserNotFound(telegram_id=telegram_id)
    return row[0]


def create_packet(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet: RedPacket,
    shares: Sequence[int],
    spec: TransferSpec,
) -> tuple[RedPacket, bool]:
    row = conn.execute(
        f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE create_key = ?", (packet.create_key,)
    ).fetchone()
    if row is not None:
        return row_to_packet(row), True
    if sum(shares) != packet.total or len(shares) != packet.count or min(shares) < 1:
        raise ValueError("the shares of a packet are its count, each a fen or more, summing up")
    if (
        packet.inline_message_id is not None
        and conn.execute(
            "SELECT 1 FROM red_packets WHERE inline_message_id = ?", (packet.inline_message_id,)
        ).fetchone()
    ):
        raise RedPacketInlineUsed(inline_message_id=packet.inline_message_id)
    try:
        ledger.create_transfers(conn, packet.create_key, (spec,))
    except RollBackThen:  # the key moved other money before: refuse it all
        raise IdempotencyConflict(key=packet.create_key) from None
    conn.execute(
        f"INSERT INTO red_packets ({PACKET_COLUMNS}) VALUES ({', '.join('?' * 17)})",
        (
            packet.id,
            packet.sender_id,
            packet.kind.value,
            packet.total,
            packet.count,
            packet.greeting,
            packet.recipient_id,
            packet.password,
            packet.chat_id,
            packet.message_id,
            packet.inline_message_id,
            packet.state.value,
            packet.create_key,
            packet.created_at,
            packet.expires_at,
            packet.settled_at,
            packet.refunded,
        ),
    )
    conn.executemany(
        "INSERT INTO red_packet_shares (packet_id, position, amount) VALUES (?, ?, ?)",
        [(packet.id, i, amount) for i, amount in enumerate(shares)],
    )
    return packet, False


def grab_share(
    conn: sqlite3.Connection, ledger: LedgerOps, users: UsersOps, request: GrabRequest
) -> GrabAttempt:
    """One grab, one by one: register the grabber (if asked), then take a share or say
    why not (undoing all of the grab but the registration)."""
    user = None
    if request.profile is not None:
        user = users.upsert(conn, request.profile, request.currency, False)
    conn.execute("SAVEPOINT grab")
    try:
        grab = _take_share(conn, ledger, request)
    except WalletError as refused:
        conn.execute("ROLLBACK TO grab")
        conn.execute("RELEASE grab")
        return GrabAttempt(user, None, refused)
    conn.execute("RELEASE grab")
    return GrabAttempt(user, grab)


def _take_share(conn: sqlite3.Connection, ledger: LedgerOps, request: GrabRequest) -> Grab:
    packet_id, user_id = request.packet_id, request.user_id
    packet = _packet(conn, packet_id)
    if request.place is not None and not request.place.shows(packet):
        raise RedPacketNotFound(packet_id=packet_id)  # a copy outside its chat
    own = conn.execute(
        "SELECT amount FROM red_packet_shares WHERE packet_id = ? AND user_id = ?",
        (packet_id, user_id),
    ).fetchone()
    if own is not None:
        raise RedPacketAlreadyGrabbed(packet_id=packet_id, amount=own[0])
    now = ledger.clock()
    check_open(packet, request, now)
    share = conn.execute(
        "SELECT position, amount FROM red_packet_shares"
        " WHERE packet_id = ? AND user_id IS NULL ORDER BY position LIMIT 1",
        (packet_id,),
    ).fetchone()
    if share is None:  # cannot happen while the state is open; the state says so
        raise RedPacketExhausted(packet_id=packet_id)
    position, amount = share
    account = _account_of(conn, user_id)
    recent = conn.execute(
        RECENT_GRABS, {"account": account, "since": now - request.check.window_ms}
    )
    check_burst(request, [row_to_grab(row) for row in recent.fetchall()], now)
    key, spec = grab_transfer(packet, request, account, position, amount)
    try:
        (transfer,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:
        raise IdempotencyConflict(key=key) from None
    conn.execute(_TAKE_SHARE, (user_id, transfer.id, now, packet_id, position))
    (remaining,) = conn.execute(
        "SELECT count(*) FROM red_packet_shares WHERE packet_id = ? AND user_id IS NULL",
        (packet_id,),
    ).fetchone()
    if remaining == 0:
        conn.execute(_FINISH, (now, packet_id))
        packet = _packet(conn, packet_id)
    return Grab(packet, amount, remaining, remaining == 0)


_TAKE_SHARE = (
    "UPDATE red_packet_shares SET user_id = ?, transfer_id = ?, grabbed_at = ?"
    " WHERE packet_id = ? AND position = ? AND user_id IS NULL"
)


@lru_cache(maxsize=8)
def _take_shares_sql(rows: int) -> str:
    """:data:`_TAKE_SHARE` for ``rows`` shares at once; a share taken already is refused
    by the trigger ``red_packet_shares_grabbed_once``."""
    return (
        "UPDATE red_packet_shares SET user_id = v.column1, transfer_id = v.column2,"
        f" grabbed_at = v.column3 FROM (VALUES {values(rows, 5)}) AS v"
        " WHERE packet_id = v.column4 AND position = v.column5"
    )


_FINISH = (
    "UPDATE red_packets SET state = 'finished', settled_at = ? WHERE id = ? AND state = 'open'"
)


@dataclass
class _Live:
    """A packet as a run of grabs sees it: its free shares in order, who took which."""

    packet: RedPacket
    free: deque[tuple[int, int]]  # (position, amount), lowest position first
    taken: dict[int, int]  # user id -> amount, of the run's grabbers
    left: int  # free shares in all (``free`` may hold only the first of them)


_PACKET_AND_LEFT = (  # the packet, and how many of its shares are free
    f"SELECT {PACKET_COLUMNS}, (SELECT count(*) FROM red_packet_shares AS s"
    " WHERE s.packet_id = red_packets.id AND s.user_id IS NULL) FROM red_packets WHERE id = ?"
)


def _load_live(conn: sqlite3.Connection, packet_id: str, grabbers: list[int]) -> _Live | None:
    """The packet, as much of its free shares as ``grabbers`` could take (lowest position
    first) and which of ``grabbers`` took a share already: a busy packet's other shares
    and grabbers are not read."""
    row = conn.execute(_PACKET_AND_LEFT, (packet_id,)).fetchone()
    if row is None:
        return None
    free: deque[tuple[int, int]] = deque(
        conn.execute(
            "SELECT position, amount FROM red_packet_shares WHERE packet_id = ?"
            " AND user_id IS NULL ORDER BY position LIMIT ?",
            (packet_id, len(grabbers)),
        )
    )
    taken: dict[int, int] = dict(
        conn.execute(
            "SELECT user_id, amount FROM red_packet_shares"
            f" WHERE packet_id = ? AND user_id IN ({_in(grabbers)})",
            [packet_id, *grabbers],
        )
    )
    return _Live(row_to_packet(row[:-1]), free, taken, row[-1])


# RecentGrab from a tuple of its fields, without the Python-level __new__ of a NamedTuple
# (a run builds one for every recent grab of its grabbers, and one for each of its own)
_recent_grab = partial(tuple.__new__, RecentGrab)
# and Grab, GrabAttempt likewise (one each per grab of a run)
_grab = partial(tuple.__new__, Grab)
_attempt = partial(tuple.__new__, GrabAttempt)


def _may_take(state: _Live | None) -> bool:
    """Whether a grab of this packet could get past the packet's own checks."""
    return state is not None and state.packet.state is PacketState.OPEN and bool(state.free)


def _in(values: Sequence) -> str:
    return ", ".join("?" * len(values))


def grab_together(conn: sqlite3.Connection, calls: list[tuple]) -> list[tuple[bool, object]]:
    """:func:`grab_share` for a run of grabs, in a few statements (see ``writer.py``).

    The packets, their shares, the grabbers' accounts and recent grabs are read once;
    each grab is then checked in memory, in order, with the same checks, order and
    answers as one by one; the accepted grabs move their money through the ledger's own
    run (:meth:`LedgerOps.create_transfers_together`) and take their shares in a few
    multi-row statements (``bulk.py``). Registrations run first, in order, each
    grabber's account joining the run at their grab's turn. The same answers and rows
    as one by one, except that the clock may be read in another order within the write
    (so times, and the hashes over them, may differ by that much). Should the database
    disagree with the checks (a transfer refused, a share already taken), this raises
    and the writer runs every grab one by one.
    """
    ledger: LedgerOps = calls[0][0]
    users: UsersOps = calls[0][1]
    requests: list[GrabRequest] = [call[2] for call in calls]
    grabbers: dict[str, list[int]] = {}  # packet -> who asks for it, once each
    for r in requests:
        grabbers.setdefault(r.packet_id, []).append(r.user_id)
    live = {pid: _load_live(conn, pid, list(dict.fromkeys(who))) for pid, who in grabbers.items()}
    # Only a grab of an open packet with a free share gets as far as the grabber's account
    # and recent grabs: the taps that keep coming once a packet is finished read neither.
    people = list({r.user_id for r in requests if _may_take(live[r.packet_id])})
    accounts: dict[int, int] = {}  # as they stand before the run; registrations join later
    if people:
        accounts.update(
            conn.execute(
                f"SELECT telegram_id, account_id FROM users WHERE telegram_id IN ({_in(people)})",
                people,
            )
        )
    registered = [
        users.upsert(conn, r.profile, r.currency, False) if r.profile is not None else None
        for r in requests
    ]
    recent = _recent_grabs(conn, ledger, requests, accounts)
    outcomes: list[object] = []  # a refusal, or what a grab needs once its money moved
    moves: list[tuple[str, tuple[TransferSpec]]] = []
    for request, user in zip(requests, registered, strict=True):
        if user is not None:
            accounts[user.telegram_id] = user.account_id
        try:
            outcomes.append(_take_in_memory(ledger, request, live, accounts, recent, moves))
        except WalletError as refused:
            outcomes.append(refused)
    answers = (
        ledger.create_transfers_together(conn, moves, as_rows=True, new_keys=True)
        if moves
        else []
    )
    if len(answers) != len(moves) or not all(ok for ok, _ in answers):
        raise LedgerError("a grab's transfer was refused; one by one instead")
    transfer_ids = iter(row[0] for _, (row,) in answers)  # each grab's one journal row
    results: list[tuple[bool, object]] = []
    takes: list[tuple] = []
    finishes: list[tuple[int, str]] = []
    for request, user, outcome in zip(requests, registered, outcomes, strict=True):
        if isinstance(outcome, WalletError):
            results.append((True, _attempt((user, None, outcome))))
            continue
        grab, position, now = outcome
        takes.append((request.user_id, next(transfer_ids), now, request.packet_id, position))
        if grab.finished:
            finishes.append((now, request.packet_id))
        results.append((True, _attempt((user, grab, None))))
    if takes and run_chunked(conn, _take_shares_sql, takes) != len(takes):
        raise LedgerError("a share is missing; one by one instead")
    if finishes and conn.executemany(_FINISH, finishes).rowcount != len(finishes):
        raise LedgerError("a packet was settled already; one by one instead")
    return results


_RECENT_GRABS = (
    "SELECT t.credit_account_id, t.created_at, t.ref FROM transfers AS t"
    " WHERE t.credit_account_id IN ("
    "  SELECT g.credit_account_id FROM transfers AS g"
    "  WHERE g.credit_account_id IN ({ids})"
    f" AND g.kind = '{TransferKind.RED_PACKET_GRAB}' AND g.created_at > ?"  # (the index alone:
    "  GROUP BY g.credit_account_id HAVING count(*) >= ?)"  # a count of all, posted or not)
    f" AND t.kind = '{TransferKind.RED_PACKET_GRAB}'"
    " AND t.flag = 'posted' AND t.created_at > ?"  # (the rule counts; order is moot)
)


def _recent_grabs(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    requests: list[GrabRequest],
    accounts: dict[int, int],
) -> dict[int, list[RecentGrab]]:
    """The recent grabs of the run's grabbers that the grab-burst rule could count.

    The rule fires only on a grabber with ``grab_burst_grabs`` earlier grabs in its
    window; a grabber with fewer than that less their grabs in this run cannot get
    there within the run, whatever their grabs were, so only the others' rows are read
    (in a busy group: nobody's, and one entry into SQLite instead of one a row).
    """
    ids = list(set(accounts.values()))
    if not ids:
        return {}
    since = ledger.clock() - max(r.check.window_ms for r in requests)
    per_grabber: dict[int, int] = {}
    for r in requests:
        per_grabber[r.user_id] = per_grabber.get(r.user_id, 0) + 1
    fewest = min(r.check.rules.grab_burst_grabs for r in requests)
    could_fire = max(0, fewest - max(per_grabber.values()) + 1)
    recent: dict[int, list[RecentGrab]] = {}
    for account, created_at, ref in conn.execute(
        _RECENT_GRABS.format(ids=_in(ids)), [*ids, since, could_fire, since]
    ):
        recent.setdefault(account, []).append(_recent_grab((created_at, grab_chat_id(ref))))
    return recent


def _take_in_memory(
    ledger: LedgerOps,
    request: GrabRequest,
    live: dict[str, _Live | None],
    accounts: dict[int, int],
    recent: dict[int, list[RecentGrab]],
    moves: list[tuple[str, tuple[TransferSpec]]],
) -> tuple[Grab, int, int]:
    """:func:`_take_share` on the run's memory; appends the grab's transfer to ``moves``."""
    state = live[request.packet_id]
    if state is None:
        raise RedPacketNotFound(packet_id=request.packet_id)
    packet = state.packet
    if request.place is not None and not request.place.shows(packet):
        raise RedPacketNotFound(packet_id=packet.id)
    if request.user_id in state.taken:
        raise RedPacketAlreadyGrabbed(packet_id=packet.id, amount=state.taken[request.user_id])
    now = ledger.clock()
    check_open(packet, request, now)
    if not state.free:
        raise RedPacketExhausted(packet_id=packet.id)
    account = accounts.get(request.user_id)
    if account is None:
        raise UserNotFound(telegram_id=request.user_id)
    mine = recent.setdefault(account, [])
    since = now - request.check.window_ms
    check_burst(request, [g for g in mine if g.at_ms > since] if mine else [], now)
    position, amount = state.free.popleft()
    key, spec = grab_transfer(packet, request, account, position, amount)
    moves.append((key, (spec,)))
    state.taken[request.user_id] = amount
    mine.append(_recent_grab((now, grab_chat(packet))))  # what grab_chat_id(spec.ref) reads
    state.left -= 1
    remaining = state.left
    if remaining == 0:
        state.packet = replace(packet, state=PacketState.FINISHED, settled_at=now)
    return _grab((state.packet, amount, remaining, remaining == 0)), position, now


def expire_packet(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet_id: str,
    escrow_id: int,
    unclaimed_now: bool = False,
) -> Expiry | None:
    """Refund what is left of an open packet past its deadline; with ``unclaimed_now``,
    before it too, but only while nobody has grabbed a share (a packet never shown)."""
    packet = _packet(conn, packet_id)
    now = ledger.clock()
    if packet.state is not PacketState.OPEN:
        return None
    if unclaimed_now:
        grabbed = conn.execute(
            "SELECT 1 FROM red_packet_shares WHERE packet_id = ? AND user_id IS NOT NULL",
            (packet_id,),
        ).fetchone()
        if grabbed:
            return None
    elif now < packet.expires_at:
        return None
    (remainder,) = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM red_packet_shares"
        " WHERE packet_id = ? AND user_id IS NULL",
        (packet_id,),
    ).fetchone()
    if remainder:
        spec = TransferSpec(
            escrow_id,
            _account_of(conn, packet.sender_id),
            remainder,
            TransferKind.RED_PACKET_REFUND,
            ref=f"redpacket:{packet_id}",
            memo=packet.greeting,
        )
        key = f"redpacket:{packet_id}:refund"
        try:
            ledger.create_transfers(conn, key, (spec,))
        except RollBackThen:
            raise IdempotencyConflict(key=key) from None
    conn.execute(
        "UPDATE red_packets SET state = 'expired', settled_at = ?, refunded = ? WHERE id = ?",
        (now, remainder, packet_id),
    )
    return Expiry(_packet(conn, packet_id), remainder)


def attach_message(
    conn: sqlite3.Connection,
    packet_id: str,
    chat_id: int | None,
    message_id: int | None,
    inline_message_id: str | None,
    chat_title: str | None = None,
) -> None:
    conn.execute(
        "UPDATE red_packets SET chat_id = coalesce(?, chat_id), message_id = ?,"
        " inline_message_id = ?, chat_title = coalesce(?, chat_title) WHERE id = ?",
        (chat_id, message_id, inline_message_id, chat_title, packet_id),
    )
