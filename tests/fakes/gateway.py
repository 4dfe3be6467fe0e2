"""A payout gateway whose answers the test writes down, keeping the promises of
``bot.wallet.gateway``: idempotent on the request id, a status for every id, and asking
about an id it never received closes it (``failed``, ``not_received``)."""

from __future__ import annotations

from bot.wallet.gateway import NOT_RECEIVED, GatewayError, PayoutGateway, PayoutResult, PayoutStatus

__all__ = ["ScriptedGateway"]


class ScriptedGateway(PayoutGateway):
    """Pays by default; ``answer(status)`` scripts the outcome of the next payout, and
    ``fail_next(error)`` makes the next payout raise ``error``: after the gateway recorded
    it (the bank acted, the answer was lost; ``status`` tells the truth), or, with
    ``reached=False``, before it ever got there (``status`` then closes the id).
    """

    def __init__(self) -> None:
        self.results: dict[str, PayoutResult] = {}  # what each request id came to
        self.paid: list[tuple[str, str, int, str]] = []  # (request id, card, amount, currency)
        self._next: list[tuple[PayoutStatus, str, GatewayError | None, bool]] = []
        self.status_calls = 0

    def answer(self, status: PayoutStatus, reason: str = "") -> None:
        self._next.append((status, reason, None, True))

    def fail_next(
        self,
        error: GatewayError,
        status: PayoutStatus = PayoutStatus.SUCCEEDED,
        *,
        reached: bool = True,
    ) -> None:
        self._next.append((status, "", error, reached))

    async def payout(
        self, request_id: str, card_number: str, amount: int, currency: str
    ) -> PayoutResult:
        known = self.results.get(request_id)
        if known is not None:  # idempotent: the first outcome, nothing paid again
            return known
        status, reason, error, reached = (
            self._next.pop(0) if self._next else (PayoutStatus.SUCCEEDED, "", None, True)
        )
        if not reached:
            raise error
        result = PayoutResult(request_id, status, reason)
        self.results[request_id] = result
        if status is PayoutStatus.SUCCEEDED:
            self.paid.append((request_id, card_number, amount, currency))
        if error is not None:
            raise error
        return result

    async def status(self, request_id: str) -> PayoutResult:
        self.status_calls += 1
        known = self.results.get(request_id)
        if known is None:  # never received: closed from now on
            known = self.results[request_id] = PayoutResult(
                request_id, PayoutStatus.FAILED, NOT_RECEIVED
            )
        return known
