"""Withdrawals a bank keeps 'pending' for days do not starve the recovery sweep: the least
recently checked are asked first, so a newer withdrawal whose answer was lost is settled."""

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.security.idnumber import id_check_character
from bot.wallet.gateway import NOT_RECEIVED, GatewayTimeout, PayoutResult, PayoutStatus

CARD = "4111111111111111"


class SlowBank:
    """Accepts payouts as 'pending' (bank batch) except the last one, whose answer is lost."""

    def __init__(self):
        self.seen = {}
        self.lose = set()

    async def payout(self, request_id, card, amount, currency):
        if request_id in self.lose:
            raise GatewayTimeout("lost")
        self.seen[request_id] = PayoutStatus.PENDING
        return PayoutResult(request_id, PayoutStatus.PENDING)

    async def status(self, request_id):
        if request_id in self.seen:
            return PayoutResult(request_id, self.seen[request_id])
        self.seen[request_id] = PayoutStatus.FAILED
        return PayoutResult(request_id, PayoutStatus.FAILED, NOT_RECEIVED)


async def test_withdrawals_pending_at_the_bank_do_not_starve_the_sweep(tmp_path, database_url):
    bank = SlowBank()
    wallet = await open_wallet(
        Settings(database_url=database_url, data_dir=tmp_path), gateway=bank
    )
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    outcomes = []
    for i in range(3):
        tid = 200_000 + i
        user = await wallet.users.seen(Profile(tid, f"user{i}", "U", "en"), private_chat=True)
        await wallet.ledger.transfer(f"fund{i}", external, user.account_id, 100_00, "topup")
        await wallet.pins.set_pin(tid, "739201")
        first = f"1101051949123100{i}"[:17]
        await wallet.identity.verify(tid, "张三", first + id_check_character(first))
        await wallet.identity.bind_card(tid, CARD)
        if i == 2:
            bank.lose.add("wd-confirm-2")
        order = await wallet.withdrawals.order(user, "30")
        outcomes.append(await wallet.withdrawals.settle(f"confirm-{i}", order))
    for _ in range(5):  # five sweeps (limit 2 standing in for the default 100)
        await wallet.withdrawals.recover(min_age_s=0, limit=2)
    last = await wallet.withdrawals.get(outcomes[2].withdrawal.id)
    balance = await wallet.ledger.balance(last.account_id)
    await wallet.close()
    assert last.state is WithdrawalState.FAILED, "never recovered: money reserved forever"
    assert (balance.available, balance.reserved) == (100_00, 0)
