"""Password-free small payments: off by default; a user may turn them on with the PIN.

Hard caps whatever the user asks: ¥50 per payment and ¥200 a day. Turning them off needs
no PIN (it only makes the wallet safer).
"""

from __future__ import annotations

from bot.domain.risk import DEFAULT_RULES
from bot.domain.security_ports import Action, PasswordFreeStore

__all__ = [
    "MAX_DAILY",
    "MAX_PER_PAYMENT",
    "PasswordFree",
]

# the hard caps are the risk rules' own, so the setting and the check cannot disagree
MAX_PER_PAYMENT = DEFAULT_RULES.password_free_max_payment_fen
MAX_DAILY = DEFAULT_RULES.password_free_max_daily_fen
CONFIRMATION = "nopin"  # the PIN keypad purpose that turns them on


class PasswordFree:
    def __init__(self, store: PasswordFreeStore) -> None:
        self.store = store

    async def limits(self, telegram_id: int) -> tuple[int, int]:
        """(per payment, per day) in fen; (0, 0) when off."""
        return await self.store.get_password_free(telegram_id)

    @staticmethod
    def request(per_payment: int, daily: int | None = None) -> dict:
        """The payload of the PIN confirmation that will turn them on (caps applied)."""
        per_payment = min(per_payment, MAX_PER_PAYMENT)
        daily = min(daily if daily is not None else MAX_DAILY, MAX_DAILY)
        return {"per_payment": per_payment, "daily": max(daily, per_payment)}

    async def apply(self, action: Action) -> str:
        """Run by the PIN keypad once the PIN is right: turn them on as requested."""
        per_payment = min(int(action.payload["per_payment"]), MAX_PER_PAYMENT)
        daily = min(int(action.payload["daily"]), MAX_DAILY)
        await self.store.set_password_free(action.telegram_id, per_payment, daily)
        await self.store.record_event(
            action.telegram_id,
            "password_free.on",
            action.telegram_id,
            {"per_payment": per_payment, "daily": daily},
        )
        return "nopin.enabled"

    async def disable(self, telegram_id: int) -> None:
        await self.store.set_password_free(telegram_id, 0, 0)
        await self.store.record_event(telegram_id, "password_free.off", telegram_id, {})
