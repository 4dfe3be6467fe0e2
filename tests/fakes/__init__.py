"""In-memory fakes of the storage ports, for service tests that touch no file.

``MemoryDatabase()`` is a whole wallet database in memory: its attributes are the stores of
the ports, as on ``SqliteDatabase`` (``db.ledger``, ``db.users``, ``db.security``, …), over
one set of tables and one :class:`ManualClock` (``db.clock``). Each store keeps its port's
documented contract the way the SQLite store does, with the domain's own rules (the
ledger's ``ledger_rules``, the journal's ``chain``, the security log's ``events``);
``tests/integration/test_port_contracts.py`` and ``test_port_stories.py`` hold them to
answering exactly as the SQLite stores do.

``tests.fakes.wallet.FakeWallet`` wires the services over a ``MemoryDatabase`` as
``bot.app.open_wallet`` wires them over SQLite; ``tests.fakes.gateway.ScriptedGateway``
is a payout gateway whose answers a test writes down.
"""

from tests.fakes.database import MemoryDatabase, MemorySnapshot
from tests.fakes.state import START_MS, ManualClock

__all__ = ["START_MS", "ManualClock", "MemoryDatabase", "MemorySnapshot"]
