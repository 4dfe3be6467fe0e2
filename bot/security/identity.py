"""Real-name verification and bound bank cards, encrypted at rest.

Names, ID numbers and card numbers are stored only as AES-GCM tokens bound to their
table, column and owner (a token copied to another row does not decrypt); an HMAC blind
index finds an ID number without decrypting, so one ID number verifies one wallet.

Tiers, used by the risk rules: 0 unverified, 1 real-name verified, 2 verified with a
bound bank card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.domain.holds import CHINA_UTC_OFFSET_MS
from bot.domain.security_errors import (
    AlreadyVerified,
    CardChangeNeedsPin,
    HolderTooYoung,
    VerificationRequired,
)
from bot.domain.security_ports import Action, EncryptedCard, EncryptedIdentity, IdentityStore
from bot.security.cards import mask_card, validate_card_number
from bot.security.cipher import Keyring, field_aad
from bot.security.idnumber import mask_id_number, validate_id_number, validate_real_name
from bot.security.pin_entry import ConfirmationResult

__all__ = ["CARD_CHANGE", "CardSummary", "Identity", "IdentitySummary", "mask_name"]

CARD_CHANGE = "card"  # the PIN keypad purpose that replaces a bound card
MINIMUM_AGE = 18  # a wallet is verified by an adult's ID number


@dataclass(frozen=True, slots=True)
class IdentitySummary:
    name: str  # masked: 张*
    id_number: str  # masked: 1101**********002X


@dataclass(frozen=True, slots=True)
class CardSummary:
    masked: str  # **** 1234


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


class Identity:
    def __init__(self, store: IdentityStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def _today(self) -> date:
        """Today in China, where ID numbers' dates of birth are (a birthday begins at
        midnight Beijing time, 16:00 UTC the day before)."""
        return datetime.fromtimestamp(
            (self.store.now_ms() + CHINA_UTC_OFFSET_MS) / 1000, UTC
        ).date()

    async def verify(self, telegram_id: int, name_text: str, id_text: str) -> IdentitySummary:
        """Check the name and ID number, then store them encrypted (once per wallet)."""
        name = validate_real_name(name_text)
        today = self._today()
        checked = validate_id_number(id_text, today)
        if _age(checked.birth_date, today) < MINIMUM_AGE:
            raise HolderTooYoung(minimum_age=MINIMUM_AGE)
        number = checked.value
        if await self.store.get_identity(telegram_id) is not None:
            raise AlreadyVerified(telegram_id=telegram_id)
        encrypt = self.keyring.encrypt_text
        await self.store.save_identity(
            EncryptedIdentity(
                telegram_id=telegram_id,
                real_name=encrypt(name, field_aad("identities", "real_name", telegram_id)),
                id_number=encrypt(number, field_aad("identities", "id_number", telegram_id)),
                id_index=self.keyring.blind_index(number, "id_number"),
                verified_at=self.store.now_ms(),
            )
        )
        await self.store.record_event(telegram_id, "identity.verified", telegram_id, {})
        return IdentitySummary(mask_name(name), mask_id_number(number))

    async def summary(self, telegram_id: int) -> IdentitySummary | None:
        stored = await self.store.get_identity(telegram_id)
        if stored is None:
            return None
        decrypt = self.keyring.decrypt_text
        name = decrypt(stored.real_name, field_aad("identities", "real_name", telegram_id))
        number = decrypt(stored.id_number, field_aad("identities", "id_number", telegram_id))
        return IdentitySummary(mask_name(name), mask_id_number(number))

    async def bind_card(self, telegram_id: int, text: str) -> CardSummary:
        """Bind a bank card (Luhn-checked) to a verified wallet. Replacing another card
        bound already is refused with :class:`CardChangeNeedsPin`: it goes through
        :meth:`card_change` and a PIN keypad whose confirmation is :meth:`apply_card_change`.
        """
        number = validate_card_number(text)
        if await self.store.get_identity(telegram_id) is None:
            raise VerificationRequired(telegram_id=telegram_id)
        card = self._encrypted_card(telegram_id, number)
        bound = await self.store.get_card(telegram_id)
        if bound is not None and bound.card_index != card.card_index:
            raise CardChangeNeedsPin(card=mask_card(number), bound=f"**** {bound.last4}")
        await self.store.save_card(card)
        await self.store.record_event(
            telegram_id, "card.bound", telegram_id, {"last4": number[-4:]}
        )
        return CardSummary(mask_card(number))

    async def card_change(self, telegram_id: int, text: str) -> dict:
        """The payload of the PIN confirmation that replaces the bound card with ``text``'s
        (the number only as its AES-GCM token): the checks of :meth:`bind_card` first."""
        number = validate_card_number(text)
        if await self.store.get_identity(telegram_id) is None:
            raise VerificationRequired(telegram_id=telegram_id)
        card = self._encrypted_card(telegram_id, number)
        return {"card_number": card.card_number, "card_index": card.card_index, "last4": card.last4}

    async def apply_card_change(self, action: Action) -> ConfirmationResult:
        """Run by the PIN keypad once the PIN (and 2FA code) is right: bind the new card."""
        payload, telegram_id = action.payload, action.telegram_id
        card = EncryptedCard(
            telegram_id=telegram_id,
            card_number=str(payload["card_number"]),
            card_index=str(payload["card_index"]),
            last4=str(payload["last4"]),
            bound_at=self.store.now_ms(),
        )
        self.keyring.decrypt_text(  # a token for this wallet's row, or nothing is saved
            card.card_number, field_aad("bank_cards", "card_number", telegram_id)
        )
        await self.store.save_card(card)
        await self.store.record_event(
            telegram_id, "card.changed", telegram_id, {"last4": card.last4}
        )
        return ConfirmationResult("bindcard.changed", {"card": f"**** {card.last4}"})

    def _encrypted_card(self, telegram_id: int, number: str) -> EncryptedCard:
        return EncryptedCard(
            telegram_id=telegram_id,
            card_number=self.keyring.encrypt_text(
                number, field_aad("bank_cards", "card_number", telegram_id)
            ),
            card_index=self.keyring.blind_index(number, "card_number"),
            last4=number[-4:],
            bound_at=self.store.now_ms(),
        )

    async def card(self, telegram_id: int) -> CardSummary | None:
        stored = await self.store.get_card(telegram_id)
        return CardSummary(f"**** {stored.last4}") if stored else None

    async def card_number(self, telegram_id: int) -> str | None:
        """The full card number, for the payment gateway only."""
        stored = await self.store.get_card(telegram_id)
        if stored is None:
            return None
        aad = field_aad("bank_cards", "card_number", telegram_id)
        return self.keyring.decrypt_text(stored.card_number, aad)

    async def tier(self, telegram_id: int) -> int:
        if await self.store.get_identity(telegram_id) is None:
            return 0
        return 2 if await self.store.get_card(telegram_id) is not None else 1


def _age(born: date, today: date) -> int:
    """Whole years from ``born`` to ``today`` (someone born on 29 February is a year
    older on 1 March of a common year)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
