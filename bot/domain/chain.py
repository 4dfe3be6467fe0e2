"""The journal's hash chain: each transfer stores the hash of the one before it.

Changing, inserting or deleting any transfer row breaks the chain from that row on,
so ``python -m bot audit`` can name the first row that was tampered with.
"""

from __future__ import annotations

import hashlib
import json

from bot.domain.model import Transfer

__all__ = ["GENESIS_HASH", "hash_fields", "hash_posted", "rehash", "transfer_hash"]

GENESIS_HASH = "0" * 64
# One encoder for every hash: json.dumps with options would build a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
if _C_ENCODER is not None:
    # the C encoder that ``_ENCODER.encode`` builds on every call, built once: the same
    # bytes (tests/integration/test_journal_golden.py), half the time of a journal hash
    _ITERENCODE = _C_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )

    def _encode(fields: list) -> str:
        return "".join(_ITERENCODE(fields, 0))

    _ENCODE = _encode
else:  # an interpreter without json's C accelerator
    _ENCODE = _ENCODER.encode


def transfer_hash(
    *,
    id: int,
    key: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    currency: str,
    kind: str,
    flag: str,
    pending_id: int | None,
    ref: str,
    memo: str,
    timeout_ms: int,
    created_at: int,
    prev_hash: str,
) -> str:
    """SHA-256 over every field of a transfer and the previous transfer's hash.

    The fields are serialised as a JSON array: unambiguous (moving characters from one
    field to the next changes the bytes) and fast.
    """
    return hash_fields(
        [
            id,
            key,
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            kind,
            str(flag),
            pending_id,
            ref,
            memo,
            timeout_ms,
            created_at,
            prev_hash,
        ]
    )


def hash_fields(fields: list) -> str:
    """:func:`transfer_hash` of its fields given as one list, in its order (``flag`` as
    plain text): for a writer that has them at hand, without the keywords."""
    return hashlib.sha256(_ENCODE(fields).encode()).hexdigest()


_TEXT = json.encoder.encode_basestring  # what the encoders above write a str as


def hash_posted(
    id: int,
    key: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    currency: str,
    kind: str,
    ref: str,
    memo: str,
    created_at: int,
    prev_hash: str,
) -> str:
    """:func:`transfer_hash` of a posted transfer (no pending id, no timeout) whose numbers
    are plain ``int`` and whose texts are ``str``, written out directly: the same bytes
    as the encoder's (tests/unit/test_chain.py), in less time, for a writer that hashes
    many such transfers in a row. Other types go through :func:`hash_fields`."""
    text = (
        f"[{id},{_TEXT(key)},{debit_account_id},{credit_account_id},{amount},"
        f'{_TEXT(currency)},{_TEXT(kind)},"posted",null,{_TEXT(ref)},{_TEXT(memo)},0,'
        f"{created_at},{_TEXT(prev_hash)}]"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def rehash(transfer: Transfer) -> str:
    """The hash ``transfer`` should carry given its fields and its ``prev_hash``."""
    return transfer_hash(
        id=transfer.id,
        key=transfer.key,
        debit_account_id=transfer.debit_account_id,
        credit_account_id=transfer.credit_account_id,
        amount=transfer.amount,
        currency=transfer.currency,
        kind=transfer.kind,
        flag=transfer.flag,
        pending_id=transfer.pending_id,
        ref=transfer.ref,
        memo=transfer.memo,
        timeout_ms=transfer.timeout_ms,
        created_at=transfer.created_at,
        prev_hash=transfer.prev_hash,
    )
