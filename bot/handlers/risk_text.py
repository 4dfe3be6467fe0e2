"""Risk decisions in plain words: why a payment waits for review or was refused."""

from __future__ import annotations

from bot.domain.money import format_fen
from bot.domain.risk import RiskAction, RiskDecision, RiskReason
from bot.i18n import translate

# Over the per-payment (or daily) limit: what raises it from the payer's verification tier (the
# highest tier has no hint: nothing raises it further).
_PAYMENT_LIMIT_KEYS = {
    0: "risk.exceeds_payment_limit",
    1: "risk.exceeds_payment_limit_verified",
}
_DAILY_LIMIT_KEYS = {  # the same for the daily limit
    0: "risk.exceeds_daily_limit_verify",
    1: "risk.exceeds_daily_limit_verified",
}


def reason_text(language: str, reason: str, decision: RiskDecision) -> str:
    limits = decision.limits
    key = f"risk.{reason}"
    if reason == RiskReason.EXCEEDS_PAYMENT_LIMIT:
        key = _PAYMENT_LIMIT_KEYS.get(limits.tier, "risk.exceeds_payment_limit_top")
    elif reason == RiskReason.EXCEEDS_DAILY_LIMIT:
        key = _DAILY_LIMIT_KEYS.get(limits.tier, key)
    return translate(
        language,
        key,
        limit=format_fen(limits.payment_limit_fen),
        daily=format_fen(limits.daily_limit_fen),
        remaining=format_fen(max(0, limits.daily_remaining_fen)),
    )


def join_reasons(language: str, reasons) -> str:
    """Reasons in a row, with the language's separator (``；`` in Chinese)."""
    return translate(language, "risk.reason_separator").join(reasons)


def decision_text(language: str, decision: RiskDecision, amount: int, held=None) -> str:
    """The payer's message for a payment that was held or blocked."""
    serious = [
        r for r in decision.reasons if r.action in (RiskAction.HOLD, RiskAction.BLOCK)
    ] or list(decision.reasons)
    reasons = join_reasons(language, (reason_text(language, r.value, decision) for r in serious))
    key = "transfer.held" if decision.action is RiskAction.HOLD else "transfer.blocked"
    return translate(language, key, amount=format_fen(amount), reasons=reasons)
