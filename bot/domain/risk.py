"""The risk engine: what happens to an outgoing payment before any money moves.

The caller gathers the facts (:class:`PaymentFacts`: who pays how much to whom, what they
sent today and recently, which protections they set up) and :func:`evaluate` applies the
rules (:class:`RiskRules`) to them. Nothing here reads a clock or a database, so each rule
is tested with plain values and a decision can be recomputed from what the audit log holds.

Outcomes (:class:`RiskAction`), most severe first:

- ``block``: refused; a limit would be passed, or red-packet grabs come in a burst.
- ``hold``: the money is reserved as a pending transfer and an admin reviews it.
- ``step_up_2fa``: the PIN and a TOTP code are needed.
- ``step_up_pin``: the PIN is needed.
- ``allow``: nothing is needed (a password-free payment, or a red-packet grab).

``reasons`` names every rule that fired (:class:`RiskReason`), most severe first, so the
message and the audit log say why. ``auth`` is the step-up on its own, whatever else fired:
a held payment still needs the PIN before the money is reserved, or a stolen phone could
fill the review queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import NamedTuple

from bot.domain.kinds import PAYMENT_KINDS, TransferKind

__all__ = [
    "DEFAULT_RULES",
    "TIERS",
    "AppliedLimits",
    "PaymentFacts",
    "RecentGrab",
    "RecentPayment",
    "RiskAction",
    "RiskDecision",
    "RiskReason",
    "RiskRules",
    "Verdict",
    "covers",
    "evaluate",
    "grab_burst",
    "holding_codes",
    "verdict",
]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
YUAN = 100  # fen
TIERS = 3  # 0 unverified, 1 real-name verified, 2 real-name verified with a bank card


class RiskAction(StrEnum):
    """What happens to the payment; members are declared from least to most severe."""

    ALLOW = "allow"
    STEP_UP_PIN = "step_up_pin"
    STEP_UP_2FA = "step_up_2fa"
    HOLD = "hold"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {action: rank for rank, action in enumerate(RiskAction)}


class RiskReason(StrEnum):
    """Why; stable codes for the message catalogs and the audit log."""

    EXCEEDS_PAYMENT_LIMIT = "exceeds_payment_limit"
    EXCEEDS_DAILY_LIMIT = "exceeds_daily_limit"
    GRAB_BURST = "grab_burst"
    VELOCITY_PAYMENTS = "velocity_payments"
    MANY_RECIPIENTS = "many_recipients"
    NEW_ACCOUNT_LARGE_AMOUNT = "new_account_large_amount"
    ABOVE_2FA_THRESHOLD = "above_2fa_threshold"
    NO_PIN_SET = "no_pin_set"
    PIN_REQUIRED = "pin_required"  # password-free is off, or never applies to this kind
    EXCEEDS_PASSWORD_FREE_LIMIT = "exceeds_password_free_limit"
    EXCEEDS_PASSWORD_FREE_DAILY_LIMIT = "exceeds_password_free_daily_limit"
    PASSWORD_FREE = "password_free"

    @property
    def action(self) -> RiskAction:
        """The outcome this reason leads to when it fires."""
        return _REASON_ACTION[self]


_REASON_ACTION = {
    RiskReason.EXCEEDS_PAYMENT_LIMIT: RiskAction.BLOCK,
    RiskReason.EXCEEDS_DAILY_LIMIT: RiskAction.BLOCK,
    RiskReason.GRAB_BURST: RiskAction.BLOCK,
    RiskReason.VELOCITY_PAYMENTS: RiskAction.HOLD,
    RiskReason.MANY_RECIPIENTS: RiskAction.HOLD,
    RiskReason.NEW_ACCOUNT_LARGE_AMOUNT: RiskAction.HOLD,
    RiskReason.ABOVE_2FA_THRESHOLD: RiskAction.STEP_UP_2FA,
    RiskReason.NO_PIN_SET: RiskAction.STEP_UP_PIN,
    RiskReason.PIN_REQUIRED: RiskAction.STEP_UP_PIN,
    RiskReason.EXCEEDS_PASSWORD_FREE_LIMIT: RiskAction.STEP_UP_PIN,
    RiskReason.EXCEEDS_PASSWORD_FREE_DAILY_LIMIT: RiskAction.STEP_UP_PIN,
    RiskReason.PASSWORD_FREE: RiskAction.ALLOW,
}


class RecentPayment(NamedTuple):
    """An earlier outgoing payment; ``recipient_id`` is None for red packets and withdrawals."""

    at_ms: int
    amount: int
    recipient_id: int | None


class RecentGrab(NamedTuple):
    at_ms: int
    chat_id: int


_TIER_FIELDS = ("payment_limit_fen", "daily_limit_fen")
_COUNT_FIELDS = ("velocity_max_payments", "many_recipients", "grab_burst_grabs", "grab_burst_chats")
_WINDOW_FIELDS = ("velocity_window_ms", "recipients_window_ms", "grab_burst_window_ms")
_KINDS_FIELD = "password_free_kinds"


@dataclass(frozen=True, slots=True)
class RiskRules:
    """The rules as data; a ``[risk]`` table in the config file may override any of them.

    Money is in fen, times in milliseconds. Tier fields hold one value per verification
    tier (unverified, real-name, real-name with a bank card). Counts are at least 1 and
    windows longer than 0; to switch a count rule off, set it out of reach.
    """

    # Block a payment above the per-payment limit of the payer's tier.
    payment_limit_fen: tuple[int, ...] = (500 * YUAN, 5_000 * YUAN, 50_000 * YUAN)
    # Block a payment that would take today's total past the daily limit of the tier.
    daily_limit_fen: tuple[int, ...] = (2_000 * YUAN, 20_000 * YUAN, 200_000 * YUAN)
    # Hold the payment that makes more than this many within the velocity window.
    velocity_max_payments: int = 10
    velocity_window_ms: int = 10 * MINUTE_MS
    # Hold a payment once this many distinct people (this one's included) got money within
    # the window: the pattern of a stolen account being emptied to many mules.
    many_recipients: int = 8
    recipients_window_ms: int = 60 * MINUTE_MS
    # Hold a payment above the amount from a wallet opened less than this long ago.
    new_account_age_ms: int = 24 * HOUR_MS
    new_account_max_payment_fen: int = 1_000 * YUAN
    # Block grabs once this many were made within the window across this many chats:
    # a script sweeping every group it is in, not a person.
    grab_burst_grabs: int = 20
    grab_burst_chats: int = 3
    grab_burst_window_ms: int = 5 * MINUTE_MS
    # Ask for the PIN and a TOTP code from this amount on, when the user enabled 2FA.
    twofa_threshold_fen: int = 2_000 * YUAN
    # Hard caps on the user's password-free settings, whatever they chose.
    password_free_max_payment_fen: int = 50 * YUAN
    password_free_max_daily_fen: int = 200 * YUAN
    # Kinds that may go without a PIN: a withdrawal leaves the wallet for good, so never.
    password_free_kinds: frozenset[TransferKind] = frozenset(
        {
            TransferKind.TRANSFER,
            TransferKind.TIP,
            TransferKind.RED_PACKET,
            TransferKind.MERCHANT_PAYMENT,
        }
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == _KINDS_FIELD:
                problems += _check_kinds(self, value)
            elif f.name in _TIER_FIELDS:
                if not isinstance(value, tuple) or len(value) != TIERS:
                    problems.append(
                        f"{f.name} needs one value per verification tier ({TIERS}), not {value!r}"
                    )
                else:
                    problems += [p for v in value if (p := _check_int(f.name, v, 0))]
            else:
                least = 1 if f.name in _COUNT_FIELDS + _WINDOW_FIELDS else 0
                if problem := _check_int(f.name, value, least):
                    problems.append(problem)
        if problems:
            raise ValueError("invalid risk rules:\n  " + "\n  ".join(problems))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> RiskRules:
        """Defaults overridden by ``mapping`` (a parsed TOML table); lists become tuples.

        Unknown keys are refused rather than ignored: a misspelt limit silently falling
        back to its default is a limit nobody set.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(
                f"unknown risk rule(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = {}
        for key, value in mapping.items():
            if key in _TIER_FIELDS and isinstance(value, list):
                value = tuple(value)
            elif key == _KINDS_FIELD and isinstance(value, list | tuple | set | frozenset):
                value = frozenset(value)
            values[key] = value
        return cls(**values)

    @property
    def payment_lookback_ms(self) -> int:
        """How far back ``PaymentFacts.recent_payments`` must reach."""
        return max(self.velocity_window_ms, self.recipients_window_ms)


def _check_int(name: str, value: object, least: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be a whole number, not {value!r}"
    if value < least:
        bound = "must not be negative" if least == 0 else f"must be at least {least}"
        return f"{name} {bound}, not {value}"
    return None


def _check_kinds(rules: RiskRules, value: object) -> list[str]:
    """Problems with the password-free kinds; when none, store them as :class:`TransferKind`."""
    if not isinstance(value, frozenset):
        return [f"{_KINDS_FIELD} must be a set of payment kinds, not {value!r}"]
    outgoing = {k.value for k in PAYMENT_KINDS}
    bad = sorted(str(k) for k in value if k not in outgoing)
    if bad:
        return [f"{_KINDS_FIELD} cannot hold {bad}; choose from {sorted(outgoing)}"]
    object.__setattr__(rules, _KINDS_FIELD, frozenset(TransferKind(k) for k in value))
    return []


DEFAULT_RULES = RiskRules()


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """A snapshot of what is known when ``telegram_id`` wants to move ``amount`` fen.

    ``recent_payments`` are the payer's outgoing payments over at least
    :attr:`RiskRules.payment_lookback_ms` (older ones are ignored), ``recent_grabs`` their
    red-packet grabs over ``grab_burst_window_ms``. ``sent_today_fen`` and
    ``password_free_spent_today_fen`` exclude this payment. The password-free settings are
    the user's choice, 0 meaning off; the rules cap them.
    """

    telegram_id: int
    amount: int
    kind: TransferKind
    recipient_id: int | None
    now_ms: int
    account_age_ms: int
    tier: int
    sent_today_fen: int = 0
    recent_payments: tuple[RecentPayment, ...] = ()
    recent_grabs: tuple[RecentGrab, ...] = ()
    has_pin: bool = True
    has_2fa: bool = False
    password_free_limit_fen: int = 0
    password_free_daily_limit_fen: int = 0
    password_free_spent_today_fen: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TransferKind(self.kind))
        if not (self.kind.is_payment or self.kind is TransferKind.RED_PACKET_GRAB):
            raise ValueError(f"the risk engine assesses payments and grabs, not {self.kind}")
        object.__setattr__(self, "recent_payments", tuple(self.recent_payments))
        object.__setattr__(self, "recent_grabs", tuple(self.recent_grabs))
        if self.amount <= 0:
            raise ValueError(f"a payment amount is positive, not {self.amount}")
        if not 0 <= self.tier < TIERS:
            raise ValueError(f"verification tier is 0..{TIERS - 1}, not {self.tier}")
        for name in (
            "account_age_ms",
            "sent_today_fen",
            "password_free_limit_fen",
            "password_free_daily_limit_fen",
            "password_free_spent_today_fen",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is never negative, not {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class AppliedLimits:
    """The limits the decision used, for messages such as "your daily limit is ¥2,000.00".

    Password-free limits are the user's settings after the hard caps; 0 means off.
    ``daily_remaining_fen`` is what could still be sent today before this payment.
    """

    tier: int
    payment_limit_fen: int
    daily_limit_fen: int
    daily_remaining_fen: int
    password_free_limit_fen: int
    password_free_daily_limit_fen: int
    twofa_threshold_fen: int


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """``action`` is the most severe outcome of any rule; ``auth`` the step-up alone.

    ``auth`` is ``allow``, ``step_up_pin`` or ``step_up_2fa``: what the user must enter
    before a payment that is allowed or held goes ahead.
    """

    action: RiskAction
    reasons: tuple[RiskReason, ...]
    auth: RiskAction
    limits: AppliedLimits

    @property
    def hold_reasons(self) -> tuple[RiskReason, ...]:
        """Why the payment is held: the rules that hold it, in order, without the step-up
        (the PIN or 2FA) the payer enters before it is held at all."""
        return tuple(r for r in self.reasons if r.action is RiskAction.HOLD)

    @property
    def needs_pin_setup(self) -> bool:
        """The payer has no PIN yet: the caller asks them to set one, then to enter it."""
        return RiskReason.NO_PIN_SET in self.reasons


def holding_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """Of the reason codes a hold keeps, those of the rules that hold a payment, in order.

    Holds opened by earlier versions also kept the step-up the payer went through
    (``pin_required``, ``above_2fa_threshold``, …): that is not why the payment waits, so it
    is left out. A code this version does not know is kept, to be shown as it is: it may be
    a hold rule retired since, and the admin is not told less than the hold said.
    """
    kept = []
    for code in codes:
        try:
            known = RiskReason(code)
        except ValueError:
            kept.append(str(code))
            continue
        if known.action is RiskAction.HOLD:
            kept.append(known.value)
    return tuple(kept)


def evaluate(facts: PaymentFacts, rules: RiskRules = DEFAULT_RULES) -> RiskDecision:
    """Apply every rule to ``facts``; the most severe outcome wins and all reasons are kept."""
    limits = _applied_limits(facts, rules)
    if facts.kind is TransferKind.RED_PACKET_GRAB:
        # Money comes in: no PIN and no spending limits, only the burst rule.
        fired = [RiskReason.GRAB_BURST] if _grab_burst(facts, rules) else []
        auth = RiskAction.ALLOW
    else:
        fired = _limit_reasons(facts, limits) + _hold_reasons(facts, rules)
        auth_reasons = _auth_reasons(facts, rules, limits)
        auth = max((r.action for r in auth_reasons), key=_SEVERITY.__getitem__)
        fired += auth_reasons
    fired.sort(key=lambda r: -r.action.severity)  # stable: rule order within one outcome
    action = fired[0].action if fired else RiskAction.ALLOW
    return RiskDecision(action=action, reasons=tuple(fired), auth=auth, limits=limits)


def _applied_limits(facts: PaymentFacts, rules: RiskRules) -> AppliedLimits:
    daily = rules.daily_limit_fen[facts.tier]
    per_payment_free = min(facts.password_free_limit_fen, rules.password_free_max_payment_fen)
    daily_free = min(facts.password_free_daily_limit_fen, rules.password_free_max_daily_fen)
    if per_payment_free == 0 or daily_free == 0:  # either setting off turns it off
        per_payment_free = daily_free = 0
    return AppliedLimits(
        tier=facts.tier,
        payment_limit_fen=rules.payment_limit_fen[facts.tier],
        daily_limit_fen=daily,
        daily_remaining_fen=max(0, daily - facts.sent_today_fen),
        password_free_limit_fen=per_payment_free,
        password_free_daily_limit_fen=daily_free,
        twofa_threshold_fen=rules.twofa_threshold_fen,
    )


def _limit_reasons(facts: PaymentFacts, limits: AppliedLimits) -> list[RiskReason]:
    fired = []
    if facts.amount > limits.payment_limit_fen:
        fired.append(RiskReason.EXCEEDS_PAYMENT_LIMIT)
    if facts.sent_today_fen + facts.amount > limits.daily_limit_fen:
        fired.append(RiskReason.EXCEEDS_DAILY_LIMIT)
    return fired


def _hold_reasons(facts: PaymentFacts, rules: RiskRules) -> list[RiskReason]:
    fired = []
    now = facts.now_ms
    # Counting this payment, more than the maximum within the window.
    in_velocity = sum(1 for p in facts.recent_payments if p[0] > now - rules.velocity_window_ms)
    if in_velocity + 1 > rules.velocity_max_payments:
        fired.append(RiskReason.VELOCITY_PAYMENTS)
    # Distinct recipients within the window, this payment's included.
    recipients = {p[2] for p in facts.recent_payments if p[0] > now - rules.recipients_window_ms}
    recipients.add(facts.recipient_id)
    recipients.discard(None)
    if len(recipients) >= rules.many_recipients:
        fired.append(RiskReason.MANY_RECIPIENTS)
    # A wallet younger than the age moving more than the amount in one payment.
    if (
        facts.account_age_ms < rules.new_account_age_ms
        and facts.amount > rules.new_account_max_payment_fen
    ):
        fired.append(RiskReason.NEW_ACCOUNT_LARGE_AMOUNT)
    return fired


def _grab_burst(facts: PaymentFacts, rules: RiskRules) -> bool:
    return grab_burst(facts.recent_grabs, facts.now_ms, rules)


def grab_burst(recent_grabs: Sequence[RecentGrab], now_ms: int, rules: RiskRules) -> bool:
    """The grab-burst rule: enough earlier grabs within the window, over enough chats."""
    if len(recent_grabs) < rules.grab_burst_grabs:  # too few, whenever they were
        return False
    since = now_ms - rules.grab_burst_window_ms
    recent = [g for g in recent_grabs if g[0] > since]
    if len(recent) < rules.grab_burst_grabs:
        return False
    return len({g[1] for g in recent}) >= rules.grab_burst_chats


def _auth_reasons(facts: PaymentFacts, rules: RiskRules, limits: AppliedLimits) -> list[RiskReason]:
    """What the payer must enter: 2FA for large amounts, else the PIN unless password-free."""
    fired = []
    if facts.has_2fa and facts.amount >= rules.twofa_threshold_fen:
        fired.append(RiskReason.ABOVE_2FA_THRESHOLD)
    if not facts.has_pin:
        # Nothing else can confirm the payment: a missing PIN is never password-free.
        fired.append(RiskReason.NO_PIN_SET)
    if fired:
        return fired
    if facts.kind not in rules.password_free_kinds or limits.password_free_limit_fen == 0:
        return [RiskReason.PIN_REQUIRED]
    if facts.amount > limits.password_free_limit_fen:
        fired.append(RiskReason.EXCEEDS_PASSWORD_FREE_LIMIT)
    if facts.password_free_spent_today_fen + facts.amount > limits.password_free_daily_limit_fen:
        fired.append(RiskReason.EXCEEDS_PASSWORD_FREE_DAILY_LIMIT)
    return fired or [RiskReason.PASSWORD_FREE]


class Verdict(StrEnum):
    """What a payment flow does with a fresh decision, once the payer confirmed."""

    GO = "go"  # move the money now
    HOLD = "hold"  # the guard wants an admin to look first
    BLOCK = "block"  # refused, or what the payer entered does not cover the decision


def verdict(decision: RiskDecision, *, pin: bool, code: bool) -> Verdict:
    """The one reading of ``decision`` every payment flow settles by: blocked (or not
    covered by the ``pin`` and 2FA ``code`` the payer entered), held, or go."""
    if decision.action is RiskAction.BLOCK or not covers(decision, pin=pin, code=code):
        return Verdict.BLOCK
    if decision.action is RiskAction.HOLD:
        return Verdict.HOLD
    return Verdict.GO


def covers(decision: RiskDecision, *, pin: bool, code: bool) -> bool:
    """Whether what the payer entered (the PIN, a 2FA code) is what ``decision`` asks.

    A payment settles on a fresh decision, taken after the keypad: if 2FA was turned on
    in between, a PIN alone no longer covers it.
    """
    if decision.auth is RiskAction.STEP_UP_2FA:
        return pin and code
    if decision.auth is RiskAction.STEP_UP_PIN:
        return pin
    return True
