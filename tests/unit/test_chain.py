"""The transfer hash covers every field, unambiguously."""

import dataclasses

import pytest

from bot.domain.chain import GENESIS_HASH, rehash, transfer_hash
from bot.domain.model import Transfer, TransferFlag

FIELDS = dict(
    id=1,
    key="k",
    debit_account_id=1,
    credit_account_id=2,
    amount=100,
    currency="CNY",
    kind="p2p",
    flag=TransferFlag.POSTED,
    pending_id=None,
    ref="",
    memo="lunch",
    timeout_ms=0,
    created_at=1_700_000_000_000,
    prev_hash=GENESIS_HASH,
)


def test_hash_is_deterministic_hex_sha256():
    first = transfer_hash(**FIELDS)
    assert first == transfer_hash(**FIELDS)
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 2),
        ("key", "k2"),
        ("debit_account_id", 3),
        ("credit_account_id", 3),
        ("amount", 101),
        ("currency", "HKD"),
        ("kind", "tip"),
        ("flag", TransferFlag.PENDING),
        ("pending_id", 1),
        ("ref", "x"),
        ("memo", "Lunch"),
        ("timeout_ms", 1),
        ("created_at", 1),
        ("prev_hash", "1" * 64),
    ],
)
def test_changing_any_field_changes_the_hash(field, value):
    assert transfer_hash(**{**FIELDS, field: value}) != transfer_hash(**FIELDS)


def test_moving_text_between_neighbouring_fields_changes_the_hash():
    a = transfer_hash(**{**FIELDS, "ref": "ab", "memo": "c"})
    b = transfer_hash(**{**FIELDS, "ref": "a", "memo": "bc"})
    assert a != b


def test_rehash_recomputes_a_transfers_own_hash():
    transfer = Transfer(**FIELDS, hash=transfer_hash(**FIELDS))
    assert rehash(transfer) == transfer.hash
    assert rehash(dataclasses.replace(transfer, amount=1)) != transfer.hash


def test_hash_bytes_are_stable_across_releases():
    # Wallet files written by earlier releases must still audit clean: the serialisation
    # (a compact JSON array, non-ASCII kept as UTF-8) may never change.
    fields = {
        **FIELDS,
        "id": 7,
        "key": "支付-1",
        "debit_account_id": 3,
        "credit_account_id": 4,
        "amount": 1234,
        "ref": 'r"x',
        "memo": "午饭 🍜",
        "created_at": 1_763_776_000_000,
        "prev_hash": "ab" * 32,
    }
    expected = "f02f4dc3913234626ee4c519635c1ef0fb976af80affffb4455c6f8e91d6d8ed"
    assert transfer_hash(**fields) == expected
    assert transfer_hash(**{**fields, "flag": "posted"}) == expected
