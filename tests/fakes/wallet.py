"""The wallet's services over one in-memory database, wired as ``bot.app.open_wallet``
wires them over SQLite (each service over the store of its own port), for unit tests.

``await FakeWallet.open()`` gives the services, the database and its clock, and helpers
to make people with money: :meth:`FakeWallet.person` registers someone (a month ago,
with a PIN, so the risk rules for new wallets and missing PINs stay quiet unless a test
asks for them) and :meth:`FakeWallet.fund` tops their wallet up from the gateway's
account.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.domain.holds import DAY_MS, Held
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.redpackets import RedPacketLimits
from bot.domain.risk import DEFAULT_RULES, RiskRules
from bot.domain.users import Profile, User
from bot.security.actions import Actions
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.security.idnumber import id_check_character
from bot.security.password_free import PasswordFree
from bot.security.twofactor import TwoFactor
from bot.wallet.admin import Admin
from bot.wallet.history import History
from bot.wallet.ledger import Ledger
from bot.wallet.redpackets import RedPackets
from bot.wallet.requests import Requests
from bot.wallet.statements import Statements
from bot.wallet.topups import TopUps
from bot.wallet.transfers import Transfers
from bot.wallet.users import Users
from bot.wallet.withdrawals import Withdrawals
from tests.fakes.database import MemoryDatabase
from tests.fakes.gateway import ScriptedGateway
from tests.fakes.state import ManualClock

__all__ = ["KEYRING", "FakeWallet"]

KEYRING = Keyring(bytes(range(32)))
CURRENCY = "CNY"


@dataclass
class FakeWallet:
    db: MemoryDatabase
    clock: ManualClock
    ledger: Ledger
    users: Users
    identity: Identity
    guard: PaymentGuard
    transfers: Transfers
    history: History
    statements: Statements
    admin: Admin
    actions: Actions
    two_factor: TwoFactor
    password_free: PasswordFree
    requests: Requests
    topups: TopUps
    redpackets: RedPackets
    withdrawals: Withdrawals
    gateway: ScriptedGateway
    notified: list[Held] = field(default_factory=list)  # what the admins were told
    _keys: itertools.count = field(default_factory=itertools.count)

    @classmethod
    async def open(
        cls, *, rules: RiskRules = DEFAULT_RULES, limits: RedPacketLimits | None = None
    ) -> FakeWallet:
        db = MemoryDatabase()
        ledger = Ledger(db.ledger, CURRENCY)
        await ledger.open_system_accounts()
        users = Users(db.users, CURRENCY)
        identity = Identity(db.identity, KEYRING)
        notified: list[Held] = []

        async def notify(held: Held) -> None:
            notified.append(held)

        guard = PaymentGuard(db.holds, identity, rules=rules, notify_admins=notify)
        transfers = Transfers(ledger, users, guard)
        gateway = ScriptedGateway()
        return cls(
            db=db,
            clock=db.clock,
            ledger=ledger,
            users=users,
            identity=identity,
            guard=guard,
            transfers=transfers,
            history=History(db.history),
            statements=Statements(db.history),
            admin=Admin(db.admin, ledger, users, db.snapshot),
            actions=Actions(db.security),
            two_factor=TwoFactor(db.identity, KEYRING),
            password_free=PasswordFree(db.identity),
            requests=Requests(db.requests, users, transfers),
            topups=TopUps(db.topups, ledger, enabled=True),
            redpackets=RedPackets(db.redpackets, ledger, users, guard, limits),
            withdrawals=Withdrawals(ledger, users, identity, guard, gateway, db.withdrawals),
            gateway=gateway,
            notified=notified,
        )

    def key(self, prefix: str = "k") -> str:
        return f"{prefix}-{next(self._keys)}"

    async def person(
        self,
        telegram_id: int,
        *,
        funds: int = 0,
        pin: bool = True,
        age_ms: int = 30 * DAY_MS,
        username: str | None = None,
    ) -> User:
        """Someone whose wallet was opened ``age_ms`` ago, with a PIN and ``funds`` fen."""
        now = self.clock.now_ms
        self.clock.now_ms = now - age_ms
        try:
            name = username or f"user{telegram_id}"
            user = await self.users.seen(Profile(telegram_id, name, f"U{telegram_id}"))
        finally:
            self.clock.now_ms = now
        if pin:  # what the guard reads: that there is one (the hash is the Pins' business)
            await self.db.security.set_pin(telegram_id, "scrypt$hash", KEYRING.current_key_id)
        if funds:
            await self.fund(user, funds)
        return user

    async def fund(self, user: User, amount: int) -> None:
        external = await self.ledger.system_account_id(SystemAccount.EXTERNAL)
        await self.ledger.transfer(
            self.key("top-up"), external, user.account_id, amount, TransferKind.TOPUP
        )

    async def verify(self, user: User, *, card: str | None = None) -> None:
        """Real-name verification (tier 1), and a bound card (tier 2) if given."""
        first_17 = f"11010519491231{user.telegram_id % 1000:03d}"
        await self.identity.verify(
            user.telegram_id, "张三", first_17 + id_check_character(first_17)
        )
        if card is not None:
            await self.identity.bind_card(user.telegram_id, card)

    async def available(self, user: User) -> int:
        return (await self.ledger.balance(user.account_id)).available

    async def reserved(self, user: User) -> int:
        return (await self.ledger.balance(user.account_id)).reserved

    async def events(self, prefix: str = "") -> list:
        return [e async for e in self.db.security.events() if e.event.startswith(prefix)]
