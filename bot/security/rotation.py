"""Key rotation: re-encrypt every stored secret under the current master key.

How to rotate (``docs/RUNBOOK.md``): stop the bot; in the key folder (``WALLET_KEY_DIR``,
by default ``<data folder>-keys``) rename ``master.key`` to ``master.key.old1`` (or
keep the old key there and set the new one in ``WALLET_MASTER_KEY``); make the new key
current; run ``python -m bot rotate-keys``; start the bot. Every encrypted value and
blind index is rewritten in one transaction, and the database's key check then names the
new key. Keep the old key beside the new one until every user has entered their PIN
once: a PIN hash is peppered with the key of its day and is re-hashed under the current
key at the next correct entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.security_ports import ENCRYPTED_FIELDS, RotationStore
from bot.security.cipher import Keyring, field_aad

__all__ = [
    "RotationReport",
    "rotate_keys",
]


@dataclass(frozen=True)
class RotationReport:
    values: int  # encrypted values rewritten
    indexes: int  # blind indexes recomputed
    key_id: str  # the key everything is under now


async def rotate_keys(store: RotationStore, keyring: Keyring) -> RotationReport:
    updates: list[tuple[str, str, int, str]] = []
    values = indexes = 0
    for table, column, index_column, purpose in ENCRYPTED_FIELDS:
        for owner, token in await store.encrypted_values(table, column):
            aad = field_aad(table, column, owner)
            if keyring.needs_rotation(token):
                updates.append((table, column, owner, keyring.rotate(token, aad)))
                values += 1
            if index_column is not None:
                text = keyring.decrypt(token, aad).decode("utf-8")
                updates.append((table, index_column, owner, keyring.blind_index(text, purpose)))
                indexes += 1
    await store.rewrite_encrypted(updates, keyring.key_check())
    return RotationReport(values=values, indexes=indexes, key_id=keyring.current_key_id)
