"""A person's history, monthly statements and the admin's figures, read from memory: the
``HistoryStore`` and ``StatementStore`` of ``bot.domain.history`` and the ``AdminStore`` of
``bot.domain.admin``, as ``history_store`` and ``admin_store`` read them.

Visible to an account (``bot.wallet.history``'s rule, as the SQL puts it): a transfer
debiting it (any flag), or one crediting it whose money moved (posted or a post). Listed
(a page): the visible ones, less the holds that were resolved since (their resolution's
line says what became of the money).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.history import HistoryStore, PacketFacts, Party, StatementStore
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, AccountStatus, Transfer, TransferFlag
from bot.domain.refunds import refund_ref
from tests.fakes.ledger import change_status
from tests.fakes.port import MemoryPort, RecordsEvents
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryAdmin", "MemoryHistory"]

_MERCHANT = re.compile(r"merchant:([0-9]+)")


def _visible(transfer: Transfer, account_id: int) -> bool:
    if transfer.debit_account_id == account_id:
        return True
    return transfer.credit_account_id == account_id and transfer.flag.moves_posted_balance


class MemoryHistory(MemoryPort, HistoryStore, StatementStore):
    """Reads only: it moves nothing and writes nothing."""

    def _listed(self, transfer: Transfer, account_id: int) -> bool:
        resolved = transfer.flag is TransferFlag.PENDING and transfer.id in self._db.resolutions
        return not resolved and _visible(transfer, account_id)

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        return self._db.transfer(transfer_id)

    async def visible_before(
        self, account_id: int, before_id: int | None, limit: int
    ) -> list[Transfer]:
        found = []
        for transfer in reversed(self._db.transfers):
            if len(found) >= limit:
                break
            if (before_id is None or transfer.id < before_id) and self._listed(
                transfer, account_id
            ):
                found.append(transfer)
        return found

    async def visible_after(self, account_id: int, after_id: int, limit: int) -> list[Transfer]:
        found = []
        for transfer in self._db.transfers[max(after_id, 0) :]:
            if len(found) >= limit:
                break
            if self._listed(transfer, account_id):
                found.append(transfer)
        return found

    async def refunds_of(self, transfer_id: int) -> list[Transfer]:
        ref = refund_ref(transfer_id)
        return [
            t for t in self._db.transfers if t.kind == TransferKind.PAYMENT_REFUND and t.ref == ref
        ]

    async def voucher_payer(self, transfer_id: int) -> int | None:
        return None  # the fakes keep no shop payments (their stores are SQLite's and PG's)

    async def resolution_of(self, pending_id: int) -> Transfer | None:
        state = self._db
        return state.transfer(state.resolutions.get(pending_id))

    async def transfers_by_id(self, ids: Iterable[int]) -> dict[int, Transfer]:
        state = self._db
        found = (state.transfer(i) for i in set(ids))
        return {t.id: t for t in found if t is not None}

    async def parties(self, account_ids: Iterable[int]) -> dict[int, Party]:
        state = self._db
        found: dict[int, Party] = {}
        for account_id in set(account_ids):
            account = state.accounts.get(account_id)
            if account is None:
                continue
            owner = state.user_by_account.get(account_id)
            merchant = _MERCHANT.match(account.name)
            if owner is None and account.kind is AccountKind.MERCHANT and merchant:
                owner = int(merchant[1])
            user = state.users.get(owner) if owner is not None else None
            person = user.display_name if user is not None else None
            found[account_id] = Party(account_id, account.kind, account.name, person)
        return found

    async def packet_facts(self, packet_ids: Iterable[str]) -> dict[str, PacketFacts]:
        state = self._db
        found: dict[str, PacketFacts] = {}
        for packet_id in set(packet_ids):
            packet = state.packets.get(packet_id)
            sender = state.users.get(packet.sender_id) if packet is not None else None
            if sender is None:
                continue
            recipient = state.users.get(packet.recipient_id)
            found[packet_id] = PacketFacts(
                packet_id,
                sender=sender.display_name,
                in_group=packet.chat_id is not None and packet.inline_message_id is None,
                recipient=recipient.display_name if recipient is not None else None,
                chat_title=state.chat_titles.get(packet_id),
            )
        return found

    async def posted_balance_before(self, account_id: int, before_ms: int) -> int:
        balance = 0
        for t in self._db.transfers:
            if t.created_at < before_ms and t.flag.moves_posted_balance:
                if t.credit_account_id == account_id:
                    balance += t.amount
                elif t.debit_account_id == account_id:
                    balance -= t.amount
        return balance

    async def moved_between(self, account_id: int, start_ms: int, end_ms: int) -> list[Transfer]:
        return [
            t
            for t in self._db.transfers
            if account_id in (t.debit_account_id, t.credit_account_id)
            and t.flag.moves_posted_balance
            and start_ms <= t.created_at < end_ms
        ]


def _change_status_logged(
    state: MemoryState,
    actor_id: int,
    account_id: int,
    subject_id: int,
    status: AccountStatus,
    event: str,
) -> bool:
    changed = change_status(state, account_id, status)
    if changed:
        record_event(state, actor_id, event, subject_id, {})
    return changed


class MemoryAdmin(RecordsEvents, MemoryPort, AdminStore):
    async def change_status_logged(
        self, actor_id: int, account_id: int, subject_id: int, status: AccountStatus, event: str
    ) -> bool:
        return await self._state.write(
            _change_status_logged, self._state, actor_id, account_id, subject_id, status, event
        )

    async def stats(self, since_ms: int) -> WalletStats:
        state = self._db
        accounts = state.accounts.values()
        return WalletStats(
            users=len(state.users),
            users_in_private_chat=sum(1 for u in state.users.values() if u.private_chat),
            frozen_accounts=sum(1 for a in accounts if a.status is AccountStatus.FROZEN),
            transfers=len(state.transfers),
            transfers_today=sum(1 for t in state.transfers if t.created_at >= since_ms),
            money_held=sum(a.balance for a in accounts if a.kind is not AccountKind.SYSTEM),
            open_reservations=sum(
                1
                for t in state.transfers
                if t.flag is TransferFlag.PENDING and t.id not in state.resolutions
            ),
        )
