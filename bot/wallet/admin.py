"""What admins do: freeze and unfreeze wallets, read statistics. Every action is logged."""

from __future__ import annotations

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.errors import UserNotFound
from bot.domain.users import User
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users

__all__ = [
    "Admin",
]

FREEZE = "admin_freeze"  # the confirmation an admin with 2FA passes first


class Admin:
    def __init__(self, store: AdminStore, ledger: Ledger, users: Users) -> None:
        self.store = store
        self.ledger = ledger
        self.users = users

    async def find_user(self, text: str) -> User:
        """A person by @username or numeric Telegram id, or ``UserNotFound``."""
        user = await self.users.find(text)
        if user is None:
            raise UserNotFound(who=text)
        return user

    async def set_frozen(self, admin_id: int, target: User, frozen: bool) -> None:
        if frozen:
            await self.ledger.freeze(target.account_id)
        else:
            await self.ledger.unfreeze(target.account_id)
        event = "admin.freeze" if frozen else "admin.unfreeze"
        await self.store.record_event(admin_id, event, target.telegram_id, {})

    async def apply_freeze(self, action) -> str:
        """Run by the keypad after an admin with 2FA entered a code."""
        target = await self.users.get(action.payload["target"])
        await self.set_frozen(action.telegram_id, target, action.payload["frozen"])
        return "admin.frozen" if action.payload["frozen"] else "admin.unfrozen"

    async def stats(self) -> WalletStats:
        """Numbers of the wallet; "today" is China's calendar day, as in the risk rules."""
        from bot.domain.holds import day_start_ms

        return await self.store.stats(day_start_ms(self.store.now_ms()))
