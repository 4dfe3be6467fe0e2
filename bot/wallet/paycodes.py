"""Customer pay codes (``/paycode``): the customer shows a code, the merchant collects.

A pay code is 18 digits: 12 random digits and 6 digits of an HMAC of them, keyed by the
master key (``Keyring.blind_index``, purpose ``pay_code``). A mistyped or made-up code
fails the HMAC and is refused before the database is asked; a real one is looked up by
its keyed digest (the code itself is never stored). It is valid :data:`PAY_CODE_TTL_S`
seconds and used once: the merchant's claim is a conditional update in one write, so of
two merchants (or two tries) only the first gets the payer. Guessing one live code
among 10¹² within its minute is hopeless.

A collection the customer confirms on a card (or its PIN keypad) and lets expire
untouched is told to the shop all the same (:meth:`PayCodes.tell_lapsed`, by the chat
layer's sweep): a notice keyed by the card, so once, whichever process sweeps, also
after a restart.

Collecting (:meth:`PayCodes.collect`): the amount is read first (a typo does not use the
code up), then the code is claimed for the merchant, then the payment is tried
password-free under the key ``mpay:code:<digest>``; when the customer's password-free
limit does not cover it (or it is off), the outcome says so (``BLOCKED`` with a
decision that asks for the PIN) and the customer confirms on a card with the same key.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass

from bot.domain.errors import WalletError
from bot.domain.merchant_errors import (
    PayCodeExpired,
    PayCodeInvalid,
    PayCodeUsed,
    PayingYourself,
)
from bot.domain.merchants import MerchantStore, PaidVia
from bot.domain.money import parse_amount
from bot.domain.notices import NewNotice
from bot.security.actions import Actions
from bot.security.cipher import Keyring
from bot.wallet.merchants import MerchantPaymentOutcome, Merchants, PayTarget
from bot.wallet.notices import Notices

__all__ = [
    "LAPSED_NOTICE",
    "PAY_CODE_TTL_S",
    "PayCode",
    "PayCodes",
    "code_key",
    "looks_like_code",
]

PAY_CODE_TTL_S = 60
LAPSED_NOTICE = "paycode.lapsed"  # the shop's notice: the customer let the card expire
LAPSED_GRACE_S = 60  # a confirmation expired this long ago at least is told as lapsed
LAPSED_WINDOW_S = 3600  # … and this long ago at most
_RANDOM_DIGITS = 12
_CHECK_DIGITS = 6
CODE_DIGITS = _RANDOM_DIGITS + _CHECK_DIGITS


@dataclass(frozen=True, slots=True)
class PayCode:
    code: str
    expires_at: int

    @property
    def spaced(self) -> str:
        """The code as people read it: groups of six digits."""
        return " ".join(self.code[i : i + 6] for i in range(0, len(self.code), 6))


def _digits(text: str) -> str:
    """``text`` as a pay code is read: full-width digits normalised, spaces and dashes out."""
    return "".join(unicodedata.normalize("NFKC", text).split()).replace("-", "")


def looks_like_code(text: str) -> bool:
    """Whether ``text`` is written as a pay code alone (18 digits, maybe in groups), with
    nothing after it: a code with an amount is at least 19 digits."""
    code = _digits(text)
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


def code_key(digest: str) -> str:
    """The payment key of a collection: the card and the password-free try share it."""
    return f"mpay:code:{digest[:32]}"


class PayCodes:
    def __init__(
        self,
        store: MerchantStore,
        keyring: Keyring,
        merchants: Merchants,
        *,
        ttl_s: int = PAY_CODE_TTL_S,
        actions: Actions | None = None,
        notices: Notices | None = None,  # the shops' notices of lapsed confirmations
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.merchants = merchants
        self.ttl_s = ttl_s
        self.actions = actions
        self.notices = notices

    def _check_digits(self, nonce: str) -> str:
        mac = self.keyring.blind_index(nonce, "pay_code")
        return f"{int(mac, 16) % 10**_CHECK_DIGITS:0{_CHECK_DIGITS}d}"

    def _digest(self, code: str) -> str:
        return self.keyring.blind_index(code, "pay_code_digest")

    def parse(self, text: str) -> str:
        """The code in ``text`` (spaces and full-width digits allowed), if its HMAC holds."""
        if not looks_like_code(text):
            raise PayCodeInvalid()
        code = _digits(text)
        nonce, check = code[:_RANDOM_DIGITS], code[_RANDOM_DIGITS:]
        if not secrets.compare_digest(check, self._check_digits(nonce)):
            raise PayCodeInvalid()
        return code

    async def issue(self, payer_id: int) -> PayCode:
        """A new pay code for the customer, valid for a minute; ``AccountFrozen`` for a
        frozen wallet (a code no shop could collect with)."""
        payer = await self.merchants.users.get(payer_id)
        if payer is not None:  # the ledger's rule: a frozen wallet sends nothing
            await self.merchants.ledger.check_can_send(payer.account_id, 0)
        nonce = f"{secrets.randbelow(10**_RANDOM_DIGITS):0{_RANDOM_DIGITS}d}"
        code = nonce + self._check_digits(nonce)
        expires_at = self.store.now_ms() + self.ttl_s * 1000
        await self.store.issue_pay_code(self._digest(code), payer_id, expires_at)
        return PayCode(code, expires_at)

    async def check(self, owner_id: int, code_text: str) -> None:
        """Before a merchant is asked the amount: the code is one (``PayCodeInvalid``),
        not used (``PayCodeUsed``) nor expired (``PayCodeExpired``), and not the owner's
        own (``PayingYourself``). Collecting checks it again, and uses it."""
        found = await self.store.pay_code(self._digest(self.parse(code_text)))
        if found is None:
            raise PayCodeInvalid()
        payer_id, expires_at, used_at = found
        if used_at is not None:
            raise PayCodeUsed()
        if self.store.now_ms() >= expires_at:
            raise PayCodeExpired()
        if payer_id == owner_id:
            raise PayingYourself()

    async def collect(
        self, owner_id: int, code_text: str, amount_text: str
    ) -> tuple[MerchantPaymentOutcome, str]:
        """Use the customer's code for ``amount_text``; the outcome of the password-free
        try and the payment's key (for the customer's card when it needs the PIN)."""
        merchant = await self.merchants.mine(owner_id)
        amount = parse_amount(amount_text)
        code = self.parse(code_text)
        digest = self._digest(code)
        payer_id = await self.store.claim_pay_code(digest, merchant.id)
        key = code_key(digest)
        target = PayTarget(merchant.id, amount, PaidVia.PAY_CODE, key)
        outcome = await self.merchants.pay(key, payer_id, target, authenticated=False)
        return outcome, key

    async def tell_lapsed(
        self,
        purposes: tuple[str, ...],
        *,
        grace_s: float = LAPSED_GRACE_S,
        window_s: float = LAPSED_WINDOW_S,
    ) -> int:
        """Collections by pay code whose customer let the confirmation expire untouched
        (the actions of ``purposes``: the card's, and its PIN keypad's): write the shop's
        notice that nothing was collected, once per confirmation. A confirmation used,
        cancelled or refused is not one of them (the shop heard then); how many are new.

        Only those expired ``grace_s`` ago at least: a confirmation whose last-moment use
        is still being written (or another machine's clock a little behind) is not told
        as lapsed. And ``window_s`` ago at most: a bot that was down longer does not tell
        shops of long-past cards.
        """
        if self.actions is None or self.notices is None:
            return 0
        now = self.store.now_ms()
        newest, oldest = now - int(grace_s * 1000), now - int(window_s * 1000)
        lapsed = []
        for purpose in purposes:
            for action in await self.actions.still_open(purpose):
                if not oldest < action.expires_at <= newest:
                    continue
                if action.payload.get("via") != PaidVia.PAY_CODE:
                    continue
                key = f"{LAPSED_NOTICE}:{action.id}"
                if await self.notices.get(key) is not None:
                    continue  # told at an earlier sweep: no write for it again
                target = PayTarget.from_payload(action.payload)
                try:
                    merchant = await self.merchants.get(target.merchant_id)
                except WalletError:
                    continue  # (a shop that is gone has no one to tell)
                params = {"payer_id": action.telegram_id, "amount": target.amount}
                lapsed.append(NewNotice(key, merchant.owner_id, LAPSED_NOTICE, params))
        return await self.notices.add(lapsed)
