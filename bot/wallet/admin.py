"""What admins do: freeze and unfreeze wallets, read statistics, audit the books. Every
action is logged."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.errors import AdminOwnWallet, AdminTargetUnknown
from bot.domain.events import verify_events
from bot.domain.model import AccountStatus
from bot.domain.ports import AuditSnapshot
from bot.domain.users import User
from bot.security.pin_entry import ConfirmationResult
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users

__all__ = [
    "Admin",
    "AuditResult",
    "FreezeOutcome",
]

FREEZE = "admin_freeze"  # the confirmation an admin with 2FA passes first


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What an audit of the ledger and the security log found."""

    transfers: int
    events: int
    problems: tuple[str, ...]  # the first problems found, the ledger's then the log's
    more_problems: int = 0  # found beyond those listed

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.more_problems


@dataclass(frozen=True, slots=True)
class FreezeOutcome:
    """A freeze or unfreeze: whose wallet, which way, and whether it was so already."""

    target: User
    frozen: bool  # what the admin asked
    changed: bool  # False: the wallet was frozen (or not) already


class Admin:
    def __init__(
        self,
        store: AdminStore,
        ledger: Ledger,
        users: Users,
        snapshot: Callable[[], AbstractAsyncContextManager[AuditSnapshot]],
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.users = users
        self.snapshot = snapshot  # a consistent read-only view of the whole database

    async def find_user(self, text: str) -> User:
        """A person by @username or numeric Telegram id, or ``AdminTargetUnknown``."""
        user = await self.users.find(text)
        if user is None:
            raise AdminTargetUnknown(who=text[:40])
        return user

    async def freeze_target(self, admin_id: int, text: str) -> User:
        """The person a /freeze or /unfreeze names (:meth:`find_user`); never the admin
        themselves (``AdminOwnWallet``)."""
        target = await self.find_user(text)
        if target.telegram_id == admin_id:
            raise AdminOwnWallet()
        return target

    async def set_frozen(self, admin_id: int, target: User, frozen: bool) -> FreezeOutcome:
        """Freeze or unfreeze ``target``'s wallet; the change and its audit event are one
        write (a repeat changes, and logs, nothing). Not the admin's own
        (``AdminOwnWallet``)."""
        if target.telegram_id == admin_id:
            raise AdminOwnWallet()
        changed = await self.store.change_status_logged(
            admin_id,
            target.account_id,
            target.telegram_id,
            AccountStatus.FROZEN if frozen else AccountStatus.ACTIVE,
            "admin.freeze" if frozen else "admin.unfreeze",
        )
        return FreezeOutcome(target, frozen, changed)

    async def apply_freeze(self, action) -> ConfirmationResult:
        """Run by the keypad after an admin with 2FA entered a code."""
        target = await self.users.get(action.payload["target"])
        done = await self.set_frozen(action.telegram_id, target, action.payload["frozen"])
        key = "admin.frozen" if done.frozen else "admin.unfrozen"
        return ConfirmationResult(key, outcome=done)

    async def stats(self) -> WalletStats:
        """Numbers of the wallet; "today" is China's calendar day, as in the risk rules."""
        from bot.domain.holds import day_start_ms

        return await self.store.stats(day_start_ms(self.store.now_ms()))

    async def audit(self) -> AuditResult:
        """Verify the ledger's invariants and the security log's chain, both as of one
        moment (read-only: safe while the bot is writing)."""
        async with self.snapshot() as snapshot:
            report = await audit_ledger(snapshot)
            events, event_problems = await verify_events(snapshot.events())
        return AuditResult(
            transfers=report.transfers,
            events=events,
            problems=(*report.problems, *event_problems),
            more_problems=report.more_problems,
        )
