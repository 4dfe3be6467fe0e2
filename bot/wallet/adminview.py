"""What an admin sees: one wallet in full (personal data masked), and the wallet's last
days for the ``/stats`` chart. Reads only; each look at a wallet is logged."""

from __future__ import annotations

from bot.domain.adminview import (
    ACTIVITY_DAYS,
    RECENT_DAYS,
    SHOWN_TRANSFERS,
    VIEW_USER,
    Activity,
    AdminViewStore,
    DayActivity,
    RiskFlags,
    WalletView,
)
from bot.domain.errors import UserNotFound
from bot.domain.holds import CHINA_UTC_OFFSET_MS, DAY_MS, day_start_ms
from bot.domain.merchants import MerchantStore
from bot.domain.model import AccountStatus
from bot.domain.security_ports import Action
from bot.domain.users import User
from bot.security.identity import Identity
from bot.security.password_free import PasswordFree
from bot.security.pin_entry import ConfirmationResult
from bot.security.twofactor import TwoFactor
from bot.wallet.admin import Admin
from bot.wallet.history import History
from bot.wallet.ledger import Ledger

__all__ = ["AdminView"]


class AdminView:
    def __init__(
        self,
        store: AdminViewStore,
        admin: Admin,
        ledger: Ledger,
        history: History,
        identity: Identity,
        two_factor: TwoFactor,
        password_free: PasswordFree,
        shops: MerchantStore | None = None,
    ) -> None:
        self.store = store
        self.shops = shops  # the shop a person runs, shown with their wallet
        self.admin = admin
        self.ledger = ledger
        self.history = history
        self.identity = identity
        self.two_factor = two_factor
        self.password_free = password_free

    async def find(self, text: str) -> User:
        """The person ``text`` names (@username or numeric id), or ``UserNotFound``."""
        return await self.admin.find_user(text)

    async def view(self, admin_id: int, target: User) -> WalletView:
        """``target``'s wallet as an admin sees it; the look is logged."""
        now = self.store.now_ms()
        since = now - RECENT_DAYS * DAY_MS
        account_id, telegram_id = target.account_id, target.telegram_id
        account = await self.ledger.account(account_id)
        balance = await self.ledger.balance(account_id)
        summary = await self.identity.summary(telegram_id)
        card = await self.identity.card(telegram_id)
        held, open_holds = await self.store.holds_of(account_id, since)
        per_payment, daily = await self.password_free.limits(telegram_id)
        page = await self.history.page(account_id)
        shop = await self.shops.merchant_by_owner(telegram_id) if self.shops else None
        shop_balance = (await self.ledger.account(shop.account_id)).balance if shop else 0
        view = WalletView(
            user=target,
            balance=balance,
            frozen=account.status is AccountStatus.FROZEN,
            tier=await self.identity.tier(telegram_id),
            real_name=summary.name if summary else None,
            id_number=summary.id_number if summary else None,
            card=card.masked if card else None,
            risk=RiskFlags(
                holds_recent=held,
                holds_open=open_holds,
                pin_lockouts_recent=await self.store.pin_lockouts(telegram_id, since),
                pin_locked_now=await self.store.pin_locked_until(telegram_id) > now,
                two_factor=await self.two_factor.is_enabled(telegram_id),
                password_free_per_payment=per_payment,
                password_free_daily=daily,
            ),
            transfers=page.lines[:SHOWN_TRANSFERS],
            open_tickets=await self.store.open_tickets(telegram_id),
            shop=shop,
            shop_balance=shop_balance,
        )
        await self.store.record_event(admin_id, VIEW_USER, telegram_id, {})
        return view

    async def confirm(self, action: Action) -> ConfirmationResult:
        """Run by the keypad after an admin with 2FA entered a code."""
        target = await self.admin.users.get(action.payload["target"])
        if target is None:  # people are never forgotten; a stale payload, then
            raise UserNotFound(who=str(action.payload["target"]))
        view = await self.view(action.telegram_id, target)
        return ConfirmationResult(VIEW_USER, outcome=view)

    async def activity(self, days: int = ACTIVITY_DAYS) -> Activity:
        """The last ``days`` calendar days (China time), today included, oldest first."""
        today = day_start_ms(self.store.now_ms())
        since = today - (days - 1) * DAY_MS
        volume, users = await self.store.daily_activity(since, DAY_MS, CHINA_UTC_OFFSET_MS)
        first = (since + CHINA_UTC_OFFSET_MS) // DAY_MS  # the day index of ``since``
        moved: list[dict[str, int]] = [{} for _ in range(days)]
        for day, kind, fen in volume:
            if 0 <= day - first < days:  # a row written ahead of the clock is left out
                moved[day - first][kind] = fen
        new_users = dict(users)
        return Activity(
            tuple(
                DayActivity(since + i * DAY_MS, moved[i], new_users.get(first + i, 0))
                for i in range(days)
            )
        )
