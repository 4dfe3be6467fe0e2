"""Two-factor authentication with TOTP (RFC 6238), secrets encrypted at rest.

Set-up: a new secret is stored (encrypted, not yet enabled) and shown as a QR code of its
``otpauth://`` URI; the first valid code enables it. Every accepted code records its time
step atomically, so a code cannot be used twice, not even by two requests at once.
"""

from __future__ import annotations

from bot.domain.security_errors import TotpAlreadyEnabled, TotpInvalid, TotpNotEnabled, TotpReplayed
from bot.domain.security_ports import TwoFactorStore
from bot.security import totp
from bot.security.cipher import Keyring, field_aad

__all__ = [
    "ISSUER",
    "TwoFactor",
]

ISSUER = "Community Wallet"


class TwoFactor:
    def __init__(self, store: TwoFactorStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    @staticmethod
    def _aad(telegram_id: int) -> bytes:
        return field_aad("credentials", "totp_secret", telegram_id)

    async def is_enabled(self, telegram_id: int) -> bool:
        return (await self.store.get_totp(telegram_id))[1]

    async def begin_setup(self, telegram_id: int, account_name: str) -> tuple[str, bytes]:
        """A new (not yet enabled) secret: its otpauth URI and a PNG QR code of it."""
        if await self.is_enabled(telegram_id):
            raise TotpAlreadyEnabled()
        secret = totp.new_secret()
        token = self.keyring.encrypt(secret, self._aad(telegram_id))
        await self.store.set_totp(telegram_id, token, False)
        uri = totp.provisioning_uri(secret, account_name, ISSUER)
        return uri, totp.qr_png(uri)

    async def check(self, telegram_id: int, code: str, *, setting_up: bool = False) -> None:
        """Accept ``code`` once, or raise TotpInvalid / TotpReplayed / TotpNotEnabled."""
        token, enabled, last_step = await self.store.get_totp(telegram_id)
        if token is None or (enabled == setting_up):
            raise TotpAlreadyEnabled() if setting_up and enabled else TotpNotEnabled()
        secret = self.keyring.decrypt(token, self._aad(telegram_id))
        now_s = self.store.now_ms() / 1000
        step = totp.verify(secret, code, now_s, last_step)
        if step is None:
            if last_step is not None and totp.verify(secret, code, now_s, None) is not None:
                raise TotpReplayed()
            await self.store.record_event(telegram_id, "2fa.wrong", telegram_id, {})
            raise TotpInvalid()
        await self.store.use_totp_step(telegram_id, step)  # raises TotpReplayed if raced

    async def confirm_setup(self, telegram_id: int, code: str) -> None:
        await self.check(telegram_id, code, setting_up=True)
        token, _, _ = await self.store.get_totp(telegram_id)
        await self.store.set_totp(telegram_id, token, True)
        await self.store.record_event(telegram_id, "2fa.enabled", telegram_id, {})

    async def disable(self, telegram_id: int, code: str) -> None:
        await self.check(telegram_id, code)
        await self.store.set_totp(telegram_id, None, False)
        await self.store.record_event(telegram_id, "2fa.disabled", telegram_id, {})
