"""Payment requests (``/request``) and split bills (``/split``): ask for money, be paid once.

A request is a row with an unguessable token: who asks, how much, what for, until when, and
its state, ``open`` → ``paid`` or ``cancelled``, each at most once. Its link
``t.me/<bot>?start=pay_<token>`` (and the QR code of that link) lets anyone but the requester
pay it through the same path as ``/send``: a card (:meth:`Requests.quote` checks what
``/send`` checks), the risk guard, the PIN keypad, then :meth:`Requests.settle`.

Expiry: a request can be paid for :attr:`Requests.ttl_s` seconds (7 days by default,
``WALLET_REQUEST_EXPIRY``). From ``expires_at`` on it is *expired*: still ``open`` in the
table, but every attempt to pay or cancel it is refused with ``PaymentRequestExpired``
(which says when), also by the store inside the paying transaction, so a payment that
reaches the writer after the deadline moves nothing.

Paid once: the store pays a request in one database transaction that finds it open, moves
the money under the idempotency key ``request:<token>`` and marks it paid with the payer and
that key. Two payers at once are put in order by the single writer: the second finds the
request paid and nothing moves (and the key would refuse a second, different transfer
anyway). A retry by the payer who paid is answered with the first transfer. Cancelling is
the same kind of conditional update, so a request is either paid or cancelled, never both.

A payment the risk guard would hold for an admin's review is not made from a request: a
request is paid at once or not at all, so the payer is told why and nothing is reserved (the
request stays open; ``/send`` still offers the reviewed way).

Split bills: the total is shared by the sender and the people they name, in fen, by
:func:`split_shares`, the sender's share first. Each named person gets a request for their
share. A name the wallet does not know refuses the whole split (the refusal names every
unknown one, so the sender can fix them all at once), and nothing is created until every
name and the total have passed the checks.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.errors import (
    MemoTooLong,
    PaymentRequestNotFound,
    SplitAmountTooSmall,
    SplitDuplicateName,
    SplitNamesYou,
    SplitNeedsNames,
    SplitTooManyNames,
    SplitUnknownNames,
    UserNotFound,
    WalletError,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.money import parse_amount
from bot.domain.requests import (
    PaymentRequest,
    PaymentStatus,
    RequestPayment,
    RequestState,
    RequestStore,
    SplitBill,
    SplitShare,
    check_payable,
)
from bot.domain.risk import Verdict, verdict
from bot.domain.security_errors import PasswordFreeSpentToday
from bot.domain.users import User, person_ref
from bot.wallet.transfers import MAX_MEMO, TransferOrder, Transfers
from bot.wallet.users import Users

if TYPE_CHECKING:
    from bot.domain.risk import RiskDecision

__all__ = [
    "CONFIRMATION",
    "DEFAULT_TTL_S",
    "MAX_SPLIT_NAMES",
    "Requests",
    "split_shares",
]

TOKEN_BYTES = 12  # 16 characters of base64url: unguessable, and short enough for a deep link
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16}")
MAX_SPLIT_NAMES = 20
CONFIRMATION = "request"  # the PIN keypad's confirm:<what> that pays a request
DEFAULT_TTL_S = 7 * 24 * 3600  # a request left unpaid this long can no longer be paid


def split_shares(total: int, count: int) -> list[int]:
    """Split ``total`` fen into ``count`` shares that sum to exactly ``total``.

    Every share is ``total // count`` fen, and the remainder (``total % count``, fewer fen
    than there are shares) goes one fen each to the first shares in order. So the same
    input always gives the same split, the largest share is at most one fen more than the
    smallest, and no share is empty::

        split_shares(1000, 3) == [334, 333, 333]
        split_shares(1003, 4) == [251, 251, 251, 250]

    Raises ``ValueError`` unless ``1 <= count <= total`` (every share holds a fen or more).
    """
    for value in (total, count):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"shares are counted in whole fen, not {type(value).__name__}")
    if count < 1:
        raise ValueError("a bill is split among one person or more")
    if total < count:
        raise ValueError(f"{total} fen cannot give {count} people a fen each")
    base, extra = divmod(total, count)
    return [base + 1 if i < extra else base for i in range(count)]


def _clean_memo(memo: str) -> str:
    memo = " ".join(memo.split())
    if len(memo) > MAX_MEMO:
        raise MemoTooLong(maximum=MAX_MEMO)
    return memo


def _name_key(name: str) -> str:
    return person_ref(name).removeprefix("@").lower()


class Requests:
    def __init__(
        self, store: RequestStore, users: Users, transfers: Transfers, *, ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("a request stays payable for a positive number of seconds")
        self.store = store
        self.users = users
        self.transfers = transfers
        self.ttl_s = ttl_s

    def _new(
        self, requester_id: int, amount: int, memo: str, now: int, payer_for: int | None = None
    ) -> PaymentRequest:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        return PaymentRequest(
            token,
            requester_id,
            amount,
            memo,
            RequestState.OPEN,
            now,
            expires_at=now + self.ttl_s * 1000,
            payer_for=payer_for,
        )

    async def create(self, requester: User, amount_text: str, memo: str = "") -> PaymentRequest:
        """An open request for the amount the requester typed."""
        amount = parse_amount(amount_text)
        request = self._new(requester.telegram_id, amount, _clean_memo(memo), self.store.now_ms())
        await self.store.create_requests([request])
        return request

    async def get(self, token: str) -> PaymentRequest:
        request = await self.store.get_request(token) if _TOKEN.fullmatch(token) else None
        if request is None:
            raise PaymentRequestNotFound(token=token)
        return request

    async def quote(self, token: str, payer: User) -> tuple[PaymentRequest, TransferOrder]:
        """What the payer's card shows, after every check ``/send`` makes (and more: the
        request must be open, unexpired and not the payer's own)."""
        request = await self.get(token)
        check_payable(request, payer.telegram_id, self.store.now_ms())
        requester = await self.users.get(request.requester_id)
        order = await self.transfers.order_amount(payer, requester, request.amount, request.memo)
        return request, order

    async def review(self, order: TransferOrder) -> RiskDecision:
        return await self.transfers.review(order)

    async def settle(
        self, token: str, payer_id: int, *, authenticated: bool, second_factor: bool = False
    ) -> RequestPayment:
        """Decide once more and pay the request, exactly once; report what happened.

        ``authenticated``: the payer entered the PIN (and 2FA code) the decision asked for.
        Without it only a password-free payment goes ahead; ``PasswordFreeSpentToday`` when
        payments made since the decision used the day's password-free limit up (nothing
        moved: it needs the PIN).
        """
        request = await self.get(token)
        payer = await self.users.get(payer_id)
        requester = await self.users.get(request.requester_id)
        if payer is None or requester is None:
            raise UserNotFound()

        def outcome(status: PaymentStatus, **more) -> RequestPayment:
            return RequestPayment(status, request, payer, requester, **more)

        if request.state is RequestState.PAID and request.paid_by == payer_id:
            return outcome(PaymentStatus.PAID_BEFORE)
        try:
            check_payable(request, payer_id, self.store.now_ms())
        except WalletError as refused:
            return outcome(PaymentStatus.REFUSED, error=refused)
        order = TransferOrder(payer_id, requester.telegram_id, request.amount, request.memo)
        decision = await self.review(order)
        then = verdict(decision, pin=authenticated, code=second_factor)
        if then is Verdict.BLOCK:
            return outcome(PaymentStatus.BLOCKED, decision=decision)
        if then is Verdict.HOLD:
            return outcome(PaymentStatus.NEEDS_REVIEW, decision=decision)
        spec = TransferSpec(
            payer.account_id,
            requester.account_id,
            request.amount,
            TransferKind.TRANSFER,  # to the ledger and the risk rules, a transfer
            ref=request.key,
            memo=request.memo,
        )
        free = None  # without the PIN: checked again in the payment's own write
        if not authenticated:
            guard = self.transfers.guard
            free = guard.password_free(payer.telegram_id, payer.account_id, decision)
        try:
            paid, transfer, replayed = await self.store.pay_request(
                token, payer_id, spec, password_free=free
            )
        except PasswordFreeSpentToday:
            raise  # used up by payments made meanwhile: the caller asks for the PIN
        except WalletError as refused:
            return outcome(PaymentStatus.REFUSED, decision=decision, error=refused)
        status = PaymentStatus.PAID_BEFORE if replayed else PaymentStatus.PAID
        return RequestPayment(status, paid, payer, requester, decision, transfer)

    async def cancel(self, token: str, requester_id: int) -> PaymentRequest:
        """Cancel an open request; only its requester may."""
        if not _TOKEN.fullmatch(token):
            raise PaymentRequestNotFound(token=token)
        return await self.store.cancel_request(token, requester_id)

    async def split_people(self, requester: User, names: Sequence[str]) -> list[User]:
        """The people ``names`` name, in order, for a bill ``requester`` splits.

        Refused unless there are 1–20 names, no one twice (as written, or as a username
        and an id of the same person), not the requester, and every name is someone the
        wallet knows (``SplitUnknownNames`` names all the others at once).
        """
        if not names:
            raise SplitNeedsNames()
        if len(names) > MAX_SPLIT_NAMES:
            raise SplitTooManyNames(maximum=MAX_SPLIT_NAMES)
        seen: set[str] = set()
        for name in names:
            if _name_key(name) in seen:
                raise SplitDuplicateName(name=name)
            seen.add(_name_key(name))
        found = [await self.users.find(name) for name in names]
        ids: set[int] = set()
        for name, user in zip(names, found, strict=True):
            if user is None:
                continue
            if user.telegram_id == requester.telegram_id:
                raise SplitNamesYou()
            if user.telegram_id in ids:  # @bob and Bob's numeric id
                raise SplitDuplicateName(name=name)
            ids.add(user.telegram_id)
        unknown = [name for name, user in zip(names, found, strict=True) if user is None]
        if unknown:
            raise SplitUnknownNames(names=", ".join(unknown))
        return [user for user in found if user is not None]

    async def split(
        self, requester: User, amount_text: str, names: Sequence[str], memo: str = ""
    ) -> SplitBill:
        """Split a bill among the sender and ``names``; a request to each of them.

        The shares come from :func:`split_shares` over the sender and then the names in
        the order written, so the sender's share takes the first odd fen. Every check (the
        total, the people: :meth:`split_people`, a fen each) runs before anything is
        saved; the requests are saved together.
        """
        total = parse_amount(amount_text)
        found = await self.split_people(requester, names)
        memo = _clean_memo(memo)
        people = len(names) + 1
        if total < people:
            raise SplitAmountTooSmall(people=people, minimum=people)
        own, *amounts = split_shares(total, people)
        now = self.store.now_ms()
        shares = [
            SplitShare(
                name,
                amount,
                user,
                self._new(requester.telegram_id, amount, memo, now, payer_for=user.telegram_id),
            )
            for name, amount, user in zip(names, amounts, found, strict=True)
        ]
        await self.store.create_requests([share.request for share in shares])
        return SplitBill(total, own, tuple(shares), memo)
