"""Security writes for the writer thread: actions, PIN tries, the audit log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

from bot.domain.events import GENESIS_HASH, canonical_details, event_hash
from bot.domain.security_errors import (
    ActionAlreadyUsed,
    ActionCancelled,
    ActionExpired,
    ActionNotFound,
    ActionNotYours,
)
from bot.domain.security_ports import MAX_TRIES, Action, PinRecord, PinState, SecurityEvent

__all__ = [
    "ACTION_COLUMNS",
    "EVENT_COLUMNS",
    "PIN_COLUMNS",
    "SecurityOps",
    "row_to_action",
    "row_to_event",
    "row_to_pin",
]

ACTION_COLUMNS = "id, telegram_id, purpose, payload, state, expires_at, created_at"
PIN_COLUMNS = "pin_hash, pin_key_id, pin_failed, pin_locked_until, pin_lockouts"
EVENT_COLUMNS = "id, at, actor_id, event, subject_id, details, prev_hash, hash"


def row_to_action(row: Sequence) -> Action:
    return Action(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


def row_to_pin(row: Sequence | None) -> PinRecord:
    if row is None:
        return PinRecord(None, None, PinState())
    return PinRecord(row[0], row[1], PinState(row[2], row[3], row[4]))


def row_to_event(row: Sequence) -> SecurityEvent:
    return SecurityEvent(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])


class SecurityOps:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock

    def create_action(self, conn: sqlite3.Connection, action: Action) -> None:
        conn.execute(
            f"INSERT INTO pending_actions ({ACTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                action.id,
                action.telegram_id,
                action.purpose,
                json.dumps(action.payload, ensure_ascii=False),
                action.state,
                action.expires_at,
                action.created_at,
            ),
        )

    def finish_action(
        self, conn: sqlite3.Connection, action_id: str, telegram_id: int, state: str, now: int
    ) -> Action:
        done = conn.execute(
            f"UPDATE pending_actions SET state = ? WHERE id = ? AND telegram_id = ?"
            f" AND state = 'open' AND expires_at > ? RETURNING {ACTION_COLUMNS}",
            (state, action_id, telegram_id, now),
        ).fetchall()
        if done:
            return row_to_action(done[0])
        row = conn.execute(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE id = ?", (action_id,)
        ).fetchone()
        if row is None:
            raise ActionNotFound(action_id=action_id)
        action = row_to_action(row)
        if action.telegram_id != telegram_id:
            raise ActionNotYours(action_id=action_id)
        if action.state == "cancelled":
            raise ActionCancelled(action_id=action_id)
        if action.state != "open":
            raise ActionAlreadyUsed(action_id=action_id)
        raise ActionExpired(action_id=action_id)

    def purge_actions(self, conn: sqlite3.Connection, before_ms: int) -> int:
        """Forget actions that ended or expired before ``before_ms``; how many went."""
        return conn.execute(
            "DELETE FROM pending_actions WHERE expires_at < ?", (before_ms,)
        ).rowcount

    def set_pin(
        self, conn: sqlite3.Connection, telegram_id: int, pin_hash: str, key_id: str
    ) -> None:
        conn.execute(
            "INSERT INTO credentials (telegram_id, pin_hash, pin_key_id, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            " pin_hash = excluded.pin_hash, pin_key_id = excluded.pin_key_id,"
            " pin_failed = 0, pin_locked_until = 0, updated_at = excluded.updated_at",
            (telegram_id, pin_hash, key_id, self.clock()),
        )

    def begin_pin_attempt(self, conn: sqlite3.Connection, telegram_id: int, now: int) -> PinRecord:
        row = conn.execute(
            f"SELECT {PIN_COLUMNS} FROM credentials WHERE telegram_id = ?", (telegram_id,)
        ).fetchone()
        before = row_to_pin(row)
        after = before.state.after_failure(now)  # raises PinLocked while locked
        conn.execute(
            "UPDATE credentials SET pin_failed = ?, pin_locked_until = ?, pin_lockouts = ?,"
            " updated_at = ? WHERE telegram_id = ?",
            (after.failed, after.locked_until_ms, after.lockouts, now, telegram_id),
        )
        return before

    def pin_attempt_succeeded(
        self, conn: sqlite3.Connection, telegram_id: int, before: PinRecord
    ) -> None:
        if before.state.failed == MAX_TRIES - 1:  # counting this try locked: undo that lock
            conn.execute(
                "UPDATE credentials SET pin_failed = 0, pin_locked_until = ?, pin_lockouts = ?"
                " WHERE telegram_id = ?",
                (before.state.locked_until_ms, before.state.lockouts, telegram_id),
            )
        else:
            conn.execute(
                "UPDATE credentials SET pin_failed = 0 WHERE telegram_id = ?", (telegram_id,)
            )

    def record_event(
        self,
        conn: sqlite3.Connection,
        actor_id: int | None,
        event: str,
        subject_id: int | None,
        details: dict,
    ) -> SecurityEvent:
        last = conn.execute(
            "SELECT id, hash FROM security_events ORDER BY id DESC LIMIT 1"
        ).fetchone()
        event_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        text = canonical_details(details)
        at = self.clock()
        digest = event_hash(
            id=event_id,
            at=at,
            actor_id=actor_id,
            event=event,
            subject_id=subject_id,
            details=text,
            prev_hash=prev_hash,
        )
        conn.execute(
            f"INSERT INTO security_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event_id, at, actor_id, event, subject_id, text, prev_hash, digest),
        )
        return SecurityEvent(event_id, at, actor_id, event, subject_id, details, prev_hash, digest)
