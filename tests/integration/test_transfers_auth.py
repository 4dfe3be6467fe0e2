"""A payment settles on a fresh risk decision: what the payer entered must still cover it."""

import time

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.security import totp
from bot.security.cipher import field_aad
from bot.wallet.transfers import TransferOrder


async def test_a_pin_alone_does_not_cover_a_payment_that_now_needs_2fa(tmp_path, database_url):
    wallet = await open_wallet(
        Settings(database_url=database_url, data_dir=tmp_path)
    )
    try:
        payer = await wallet.users.seen(Profile(1, "payer", "Payer", "en"), private_chat=True)
        payee = await wallet.users.seen(Profile(2, "payee", "Payee", "en"))
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer("fund", external, payer.account_id, 400_00, "topup")
        await wallet.pins.set_pin(1, "739201")
        order = TransferOrder(1, 2, 300_00)  # below the 2FA threshold while 2FA is off

        await wallet.two_factor.begin_setup(1, "payer")  # turned on between card and PIN
        token, _, _ = await wallet.store.identity.get_totp(1)
        secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", 1))
        await wallet.two_factor.confirm_setup(1, totp.code_at(secret, time.time()))
        wallet.guard.rules = type(wallet.guard.rules)(twofa_threshold_fen=100_00)

        refused = await wallet.transfers.settle("k1", order, authenticated=True)
        assert refused.status == "blocked"
        assert (await wallet.ledger.balance(payee.account_id)).available == 0

        done = await wallet.transfers.settle("k2", order, authenticated=True, second_factor=True)
        assert done.status == "sent"
        assert (await wallet.ledger.balance(payee.account_id)).available == 300_00
    finally:
        await wallet.close()
