"""Risk decisions in plain words: why a payment waits for review or was refused."""

from __future__ import annotations

from bot.domain.money import format_fen
from bot.domain.risk import RiskAction, RiskDecision
from bot.i18n import translate


def reason_text(language: str, reason: str, decision: RiskDecision) -> str:
    limits = decision.limits
    return translate(
        language,
        f"risk.{reason}",
        limit=format_fen(limits.payment_limit_fen),
        daily=format_fen(limits.daily_limit_fen),
        remaining=format_fen(max(0, limits.daily_remaining_fen)),
    )


def decision_text(language: str, decision: RiskDecision, amount: int, held=None) -> str:
    """The payer's message for a payment that was held or blocked."""
    serious = [
        r for r in decision.reasons if r.action in (RiskAction.HOLD, RiskAction.BLOCK)
    ] or list(decision.reasons)
    reasons = "; ".join(reason_text(language, r.value, decision) for r in serious)
    key = "transfer.held" if decision.action is RiskAction.HOLD else "transfer.blocked"
    return translate(language, key, amount=format_fen(amount), reasons=reasons)
