"""Many rows in a few statements, for the writer's runs taken together.

``executemany`` enters SQLite once a row, and every entry hands the interpreter to
whichever thread wants it (the event loop's, under load) and waits to get it back. A
multi-row statement (``INSERT … VALUES (…), (…)``, ``UPDATE … FROM (VALUES …)``) does
the same work in one entry. Rows go in chunks of a few fixed sizes, so the connection's
prepared-statement cache holds a handful of texts per statement whatever the run's size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain

__all__ = ["CHUNK_SIZES", "run_chunked", "values"]

CHUNK_SIZES = (64, 16, 4, 1)  # 64 rows of 15 columns: 960 parameters, far below the limit


@lru_cache(maxsize=64)
def values(rows: int, columns: int) -> str:
    """``(?, ?), (?, ?)`` for ``rows`` rows of ``columns`` parameters."""
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def run_chunked(
    conn: sqlite3.Connection, sql_for: Callable[[int], str], rows: Sequence[Sequence]
) -> int:
    """Run ``sql_for(n)`` (a statement over ``n`` rows of parameters) over ``rows`` in
    chunks, in order; return how many rows the statements changed in all."""
    changed = 0
    start, left = 0, len(rows)
    for size in CHUNK_SIZES:
        while left >= size:
            chunk = rows[start : start + size]
            changed += conn.execute(sql_for(size), list(chain.from_iterable(chunk))).rowcount
            start += size
            left -= size
    return changed
