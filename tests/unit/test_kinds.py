"""One list of transfer kinds, read by the risk engine, storage and the history's labels."""

import pytest

from bot.domain.kinds import PAYMENT_KINDS, TransferKind
from bot.domain.risk import PaymentFacts, evaluate
from bot.i18n import LANGUAGES, catalog
from bot.render.labels import kind_label


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_kind_has_its_own_label_in_every_language(language):
    labels = {kind: kind_label(language, kind) for kind in TransferKind}
    assert all(f"history.kind.{kind.value}" in catalog(language) for kind in TransferKind)
    assert len(set(labels.values())) == len(TransferKind)
    assert kind_label(language, "seed") not in labels.values()
    assert kind_label(language, "seed") == kind_label(language, "")


def test_a_kind_read_back_from_the_journal_is_labelled_like_the_member():
    assert kind_label("en", "redpacket_grab") == kind_label("en", TransferKind.RED_PACKET_GRAB)
    assert kind_label("zh", "refund") == kind_label("zh", TransferKind.WITHDRAW_REFUND)


def test_the_stored_spellings_never_change():
    # The values are in the hash-chained journal: renaming one would break old rows.
    assert {k.name: k.value for k in TransferKind} == {
        "TRANSFER": "transfer",
        "TIP": "tip",
        "TOPUP": "topup",
        "WITHDRAW": "withdraw",
        "WITHDRAW_REFUND": "refund",
        "RED_PACKET": "red_packet",
        "RED_PACKET_GRAB": "redpacket_grab",
        "RED_PACKET_REFUND": "redpacket_refund",
        "MERCHANT_PAYMENT": "merchant_payment",
        "PAYMENT_REFUND": "payment_refund",
        "MERCHANT_SETTLEMENT": "merchant_settlement",
        "VOUCHER_ISSUE": "voucher_issue",
        "VOUCHER_EXPIRY": "voucher_expiry",
    }


def test_payments_are_what_a_person_pays_from_their_wallet():
    assert {k for k in TransferKind if k.is_payment} == PAYMENT_KINDS
    assert TransferKind.TOPUP not in PAYMENT_KINDS
    assert TransferKind.RED_PACKET_GRAB not in PAYMENT_KINDS


@pytest.mark.parametrize("kind", sorted(TransferKind))
def test_the_risk_engine_assesses_payments_and_grabs_only(kind):
    facts = dict(telegram_id=1, amount=100, recipient_id=2, now_ms=0, account_age_ms=0, tier=0)
    if kind.is_payment or kind is TransferKind.RED_PACKET_GRAB:
        assert evaluate(PaymentFacts(kind=kind, **facts)).action
    else:
        with pytest.raises(ValueError, match="assesses payments and grabs"):
            PaymentFacts(kind=kind, **facts)
