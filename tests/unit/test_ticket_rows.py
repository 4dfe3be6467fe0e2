"""A ticket's attached transfers as stored (JSON): new rows name the other side, and
rows written before they did (three or four items) still read."""

from __future__ import annotations

import json

from bot.domain.history import EntryState
from bot.domain.support import AttachedTransfer
from bot.storage.rows import attached_json, row_to_ticket

ATTACHED = (
    AttachedTransfer(3, -100_00, "transfer", EntryState.MOVED, "Bob"),
    AttachedTransfer(4, 50_00, "topup"),
    AttachedTransfer(5, 20_00, "transfer", EntryState.RESERVED, "王芳面馆"),
    AttachedTransfer(6, 20_00, "transfer", EntryState.RESERVED),
)


def _read(stored: str) -> tuple[AttachedTransfer, ...]:
    return row_to_ticket((1, 7, None, "open", "help", stored, 0, None, None)).attached


def test_attached_transfers_are_read_back_as_written():
    stored = attached_json(ATTACHED)
    assert json.loads(stored)[1] == [4, 50_00, "topup"]  # nothing more than needed
    assert _read(stored) == ATTACHED


def test_rows_written_before_the_other_side_was_kept_still_read():
    older = json.dumps([[3, -100_00, "transfer"], [6, 20_00, "transfer", "reserved"]])
    assert _read(older) == (
        AttachedTransfer(3, -100_00, "transfer"),
        AttachedTransfer(6, 20_00, "transfer", EntryState.RESERVED),
    )
