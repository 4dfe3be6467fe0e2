"""The one place that wires settings, storage and services together."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.storage import open_store
from bot.wallet.ledger import Ledger
from bot.wallet.ports import LedgerStore

__all__ = ["Wallet", "open_wallet"]


@dataclass
class Wallet:
    """The services a running bot uses, over one open store."""

    settings: Settings
    store: LedgerStore
    ledger: Ledger

    async def close(self) -> None:
        await self.store.close()


async def open_wallet(settings: Settings) -> Wallet:
    """Open the database (applying migrations) and the services over it."""
    store = await open_store(settings.database_url, synchronous=settings.sqlite_synchronous)
    try:
        ledger = Ledger(store, settings.currency)
        await ledger.open_system_accounts()
    except BaseException:
        await store.close()
        raise
    return Wallet(settings=settings, store=store, ledger=ledger)
