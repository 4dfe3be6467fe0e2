"""Why a payment was refused, in the payer's words: a limit says what would raise it."""

from __future__ import annotations

import pytest

from bot.domain.risk import AppliedLimits, RiskAction, RiskDecision, RiskReason
from bot.handlers.risk_text import reason_text


def decision(tier: int) -> RiskDecision:
    limits = AppliedLimits(tier, 500_00, 2_000_00, 150_00, 0, 0, 1_000_00)
    reasons = (RiskReason.EXCEEDS_DAILY_LIMIT,)
    return RiskDecision(RiskAction.BLOCK, reasons, RiskAction.ALLOW, limits)


@pytest.mark.parametrize(
    ("language", "tier", "said"),
    [
        ("en", 0, "it would pass your daily limit of ¥2,000.00 (¥150.00 left today; verify your"
         " real name with /verify for higher limits)"),
        ("en", 1, "it would pass your daily limit of ¥2,000.00 (¥150.00 left today; bind a bank"
         " card with /bindcard for higher limits)"),
        ("en", 2, "it would pass your daily limit of ¥2,000.00 (¥150.00 left today)"),
        ("zh", 0, "将超过每日限额 ¥2,000.00（今天还剩 ¥150.00；用 /verify 实名认证可提高限额）"),
        ("zh", 2, "将超过每日限额 ¥2,000.00（今天还剩 ¥150.00）"),
    ],
)
def test_the_daily_limit_says_what_would_raise_it_until_nothing_would(language, tier, said):
    assert reason_text(language, RiskReason.EXCEEDS_DAILY_LIMIT, decision(tier)) == said
