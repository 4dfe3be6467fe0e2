"""The ledger's rules, pure: each rule, and which one answers when several are broken."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AccountsMustBeDifferent,
    CurrencyMismatch,
    InsufficientFunds,
)
from bot.domain.ledger_rules import (
    MAX_TRANSFERS_PER_OPERATION,
    key_error,
    operation_error,
    refusal,
    spec_error,
)
from bot.domain.model import (
    MAX_KEY_LENGTH,
    MAX_TRANSFER_AMOUNT,
    MAY_GO_NEGATIVE,
    MAY_SEND,
    Account,
    AccountKind,
    AccountStatus,
    TransferFlag,
    TransferSpec,
)

DEBIT, CREDIT = 5, 6
SPEC = TransferSpec(DEBIT, CREDIT, 300, "p2p")


def account(
    account_id: int,
    *,
    kind: AccountKind = AccountKind.USER,
    status: AccountStatus = AccountStatus.ACTIVE,
    currency: str = "CNY",
    balance: int = 1_000,
    reserved: int = 0,
) -> Account:
    return Account(
        id=account_id,
        name=f"{kind}:{account_id}",
        kind=kind,
        currency=currency,
        status=status,
        debits_posted=max(0, -balance),
        credits_posted=max(0, balance),
        debits_pending=reserved,
        created_at=0,
    )


def described(error: Exception | None) -> tuple | None:
    """An error as its type, message and params (errors of the same kind compare alike)."""
    if error is None:
        return None
    return (type(error), str(error), getattr(error, "params", None))


# The key -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k", "callback:12345", "x" * MAX_KEY_LENGTH, "支付-1"])
def test_a_key_of_1_to_128_characters_without_a_hash_sign_is_accepted(key):
    assert key_error(key) is None


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), None, 7, b"k"])
def test_a_key_that_is_empty_too_long_or_not_text_is_refused(key):
    assert "1–128 characters of text" in str(key_error(key))


def test_a_key_with_a_hash_sign_is_refused_because_derived_keys_use_it():
    assert "'#' is reserved" in str(key_error("pay#1"))


# One transfer as asked ------------------------------------------------------------------


def test_a_plain_transfer_a_reservation_and_a_resolution_are_well_formed():
    assert spec_error(SPEC) is None
    assert spec_error(replace(SPEC, flag=TransferFlag.PENDING, timeout_ms=60_000)) is None
    assert spec_error(replace(SPEC, amount=MAX_TRANSFER_AMOUNT)) is None
    for flag in (TransferFlag.POST_PENDING, TransferFlag.VOID_PENDING, TransferFlag.EXPIRE_PENDING):
        assert spec_error(TransferSpec.resolving(41, flag)) is None


@pytest.mark.parametrize(
    ("broken", "error", "says"),
    [
        (replace(SPEC, pending_id=3), ValueError, "only post/void/expire"),
        (replace(SPEC, amount=1.5), TypeError, "not float"),
        (replace(SPEC, amount=True), TypeError, "not bool"),
        (replace(SPEC, amount="300"), TypeError, "not str"),
        (replace(SPEC, amount=0), ValueError, "amount_must_be_positive"),
        (replace(SPEC, amount=-300), ValueError, "amount_must_be_positive"),
        (replace(SPEC, amount=MAX_TRANSFER_AMOUNT + 1), ValueError, "at most"),
        (replace(SPEC, credit_account_id=DEBIT), AccountsMustBeDifferent, "accounts_must_be"),
        (replace(SPEC, kind=""), ValueError, "kind"),
        (replace(SPEC, timeout_ms=1_000), ValueError, "only pending transfers have a timeout"),
        (
            replace(SPEC, flag=TransferFlag.PENDING, timeout_ms=-1),
            ValueError,
            "only pending transfers have a timeout",
        ),
    ],
)
def test_each_rule_of_a_transfer_refuses_with_its_own_error(broken, error, says):
    found = spec_error(broken)
    assert type(found) is error
    assert says in str(found)


def test_a_resolution_without_the_pending_id_is_refused():
    spec = replace(TransferSpec.resolving(41, TransferFlag.POST_PENDING), pending_id="41")
    assert "needs the pending transfer's id" in str(spec_error(spec))


def test_a_resolution_is_checked_for_its_pending_id_and_nothing_else():
    # its accounts, amount and kind are the pending transfer's, whatever the spec says
    spec = TransferSpec(7, 7, -5, "", flag=TransferFlag.VOID_PENDING, pending_id=41, timeout_ms=-1)
    assert spec_error(spec) is None


def test_the_accounts_must_be_different_error_names_the_account():
    assert spec_error(replace(SPEC, credit_account_id=DEBIT)) == AccountsMustBeDifferent(
        account_id=DEBIT
    )


# The spec's rules in order. A spec breaks one of them and every later one (as far as one
# amount can break three rules about amounts): the answer is always the first.
SPEC_RULES_IN_ORDER = [
    ("pending_id", lambda s: replace(s, pending_id=3), "only post/void/expire"),
    ("amount type", lambda s: replace(s, amount=2.5), "integers of fen"),
    ("positive", lambda s: replace(s, amount=0), "amount_must_be_positive"),
    ("maximum", lambda s: replace(s, amount=MAX_TRANSFER_AMOUNT + 1), "at most"),
    ("different", lambda s: replace(s, credit_account_id=s.debit_account_id), "accounts_must"),
    ("kind", lambda s: replace(s, kind=""), "kind"),
    ("timeout", lambda s: replace(s, timeout_ms=5), "timeout"),
]


@pytest.mark.parametrize("first", range(len(SPEC_RULES_IN_ORDER)))
def test_a_transfer_breaking_several_rules_gets_the_first_of_them(first):
    spec = SPEC
    for _, breaking, _ in reversed(SPEC_RULES_IN_ORDER[first:]):  # the first one last
        spec = breaking(spec)
    assert SPEC_RULES_IN_ORDER[first][2] in str(spec_error(spec))


def test_the_whole_operation_checks_the_key_then_the_count_then_each_transfer_in_order():
    bad = replace(SPEC, amount=0)
    same = replace(SPEC, credit_account_id=DEBIT)
    too_many = [bad] * (MAX_TRANSFERS_PER_OPERATION + 1)
    assert "1–128 characters" in str(operation_error("", too_many))
    assert "1–1000 transfers" in str(operation_error("k", too_many))
    assert "1–1000 transfers" in str(operation_error("k", []))
    assert "amount_must_be_positive" in str(operation_error("k", [SPEC, bad, same]))
    assert type(operation_error("k", [SPEC, same, bad])) is AccountsMustBeDifferent
    assert operation_error("k", [SPEC] * MAX_TRANSFERS_PER_OPERATION) is None


# The accounts as they stand --------------------------------------------------------------


def test_a_transfer_within_the_available_money_is_allowed():
    assert refusal(SPEC, account(DEBIT, balance=300), account(CREDIT)) is None


def test_an_unknown_debit_or_credit_account_is_not_found():
    assert refusal(SPEC, None, account(CREDIT)) == AccountNotFound(account_id=DEBIT)
    assert refusal(SPEC, account(DEBIT), None) == AccountNotFound(account_id=CREDIT)


def test_accounts_of_two_currencies_cannot_trade():
    found = refusal(SPEC, account(DEBIT), account(CREDIT, currency="USD"))
    assert found == CurrencyMismatch(account_id=CREDIT, expected="CNY", actual="USD")


def test_a_frozen_account_cannot_send_but_can_receive():
    frozen = AccountStatus.FROZEN
    assert refusal(SPEC, account(DEBIT, status=frozen), account(CREDIT)) == AccountFrozen(
        account_id=DEBIT
    )
    assert refusal(SPEC, account(DEBIT), account(CREDIT, status=frozen)) is None


@pytest.mark.parametrize("kind", [AccountKind.USER, AccountKind.MERCHANT])
def test_user_and_merchant_accounts_cannot_spend_more_than_is_available(kind):
    # 400 held, 100 of it reserved: 300 available
    debit = account(DEBIT, kind=kind, balance=400, reserved=100)
    assert refusal(SPEC, debit, account(CREDIT)) is None
    assert refusal(replace(SPEC, amount=301), debit, account(CREDIT)) == InsufficientFunds(
        account_id=DEBIT, available=300, amount=301
    )


def test_system_accounts_may_go_negative_but_not_while_frozen():
    system = account(DEBIT, kind=AccountKind.SYSTEM, balance=-5_000)
    assert refusal(SPEC, system, account(CREDIT)) is None
    frozen = replace(system, status=AccountStatus.FROZEN)
    assert refusal(SPEC, frozen, account(CREDIT)) == AccountFrozen(account_id=DEBIT)


def test_change_not_yet_written_counts_toward_the_available_money():
    debit = account(DEBIT, balance=1_000)
    assert refusal(SPEC, debit, account(CREDIT), change=-700) is None
    assert refusal(SPEC, debit, account(CREDIT), change=-701) == InsufficientFunds(
        account_id=DEBIT, available=299, amount=300
    )
    assert refusal(replace(SPEC, amount=1_200), debit, account(CREDIT), change=200) is None


def test_the_account_rules_answer_in_order_of_precedence():
    # every rule broken at once, then mended one by one from the top: each time the
    # answer is the next rule down, and the last answer is "allowed"
    frozen = account(DEBIT, status=AccountStatus.FROZEN, balance=0)
    active = replace(frozen, status=AccountStatus.ACTIVE)
    usd = account(CREDIT, currency="USD")
    cny = replace(usd, currency="CNY")
    steps = [
        (None, None, AccountNotFound(account_id=DEBIT)),
        (frozen, None, AccountNotFound(account_id=CREDIT)),
        (frozen, usd, CurrencyMismatch(account_id=CREDIT, expected="CNY", actual="USD")),
        (frozen, cny, AccountFrozen(account_id=DEBIT)),
        (active, cny, InsufficientFunds(account_id=DEBIT, available=0, amount=300)),
        (replace(active, credits_posted=300), cny, None),
    ]
    for step, (debit, credit, expected) in enumerate(steps):
        assert described(refusal(SPEC, debit, credit)) == described(expected), step


# The same order stated as a table (the error, whose account it names, when the rule is
# broken), checked against every combination of account states.
ACCOUNT_RULES_IN_ORDER = [
    (AccountNotFound, DEBIT, lambda d, c, amount: d is None),
    (AccountNotFound, CREDIT, lambda d, c, amount: c is None),
    (CurrencyMismatch, CREDIT, lambda d, c, amount: c.currency != d.currency),
    (AccountFrozen, DEBIT, lambda d, c, amount: d.status is AccountStatus.FROZEN),
    (
        InsufficientFunds,
        DEBIT,
        lambda d, c, amount: d.kind is not AccountKind.SYSTEM and d.available < amount,
    ),
]
maybe_accounts = st.one_of(
    st.none(),
    st.builds(
        account,
        st.just(0),
        kind=st.sampled_from(AccountKind),
        status=st.sampled_from(AccountStatus),
        currency=st.sampled_from(["CNY", "USD"]),
        balance=st.integers(-1_000, 1_000),
        reserved=st.integers(0, 500),
    ),
)


@given(debit=maybe_accounts, credit=maybe_accounts, amount=st.integers(1, 2_000))
def test_the_answer_is_always_the_first_rule_in_the_table_that_is_broken(debit, credit, amount):
    first = next(
        (
            (error, account_id)
            for error, account_id, breaks in ACCOUNT_RULES_IN_ORDER
            if breaks(debit, credit, amount)
        ),
        None,
    )
    found = refusal(replace(SPEC, amount=amount), debit, credit)
    assert (None if found is None else (type(found), found.params["account_id"])) == first


# The flags the rules and the database's updates are built from ---------------------------


def test_only_system_accounts_may_go_negative_and_only_active_accounts_may_send():
    assert MAY_GO_NEGATIVE == {AccountKind.SYSTEM}
    assert [kind for kind in AccountKind if kind.may_go_negative] == [AccountKind.SYSTEM]
    assert MAY_SEND == {AccountStatus.ACTIVE}
    assert [status for status in AccountStatus if status.may_send] == [AccountStatus.ACTIVE]


@pytest.mark.parametrize("kind", list(AccountKind))
@pytest.mark.parametrize("status", list(AccountStatus))
def test_an_account_reads_its_flags_from_its_kind_and_status(kind, status):
    found = account(1, kind=kind, status=status)
    assert found.may_go_negative is kind.may_go_negative
    assert found.may_send is status.may_send
