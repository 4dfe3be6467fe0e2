"""The journal's bytes do not change with the code: one transfer of every kind, written
through the store with a fixed clock, ends the hash chain on the same hash as the code
that wrote kinds as plain text did (the literal below was computed by that code)."""

from __future__ import annotations

from pathlib import Path

from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, SystemAccount
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger

GOLDEN = "2133a8ed11a1102d6de918d9b3098999408d31ce6084ec2b98115b9be9d598a9"  # the first nine
# the chain after payment_refund, the kind added at the end
GOLDEN_PAYMENT_REFUND = "caf561cde9a3cc2bb925fbd9f7ddb1a93944a320aba8b3c72dcdcd1b7e3de125"
# the chain after voucher_expiry, the last of the kinds added at the end since
GOLDEN_ALL = "5199b5db371946955abe95298e08c2e3436b4685f4f43828130c74e59f6a04ff"
FIRST_NINE = 9
ORDER = [
    "transfer",
    "tip",
    "topup",
    "withdraw",
    "refund",
    "red_packet",
    "redpacket_grab",
    "redpacket_refund",
    "merchant_payment",
    "payment_refund",
    "merchant_settlement",
    "voucher_issue",
    "voucher_expiry",
]


async def test_one_transfer_of_every_kind_hashes_as_it_always_did(tmp_path: Path):
    assert sorted(ORDER) == sorted(TransferKind)  # a new kind: add it at the end, recompute
    now = [1_700_000_000_000]

    def clock() -> int:
        now[0] += 7
        return now[0]

    db = await SqliteDatabase.open(tmp_path / "wallet.db", clock=clock)
    try:
        ledger = Ledger(db.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        a = (await db.ledger.open_account("user:1", AccountKind.USER, "CNY")).id
        b = (await db.ledger.open_account("user:2", AccountKind.USER, "CNY")).id
        hashes = []
        for i, kind in enumerate(ORDER):
            last = await ledger.transfer(
                f"g{i}",
                external,
                a if i % 2 else b,
                100 + i,
                TransferKind(kind),
                memo="红包 ✓",
                ref=f"chat:-{i}",
            )
            hashes.append(last.hash)
        assert hashes[FIRST_NINE - 1] == GOLDEN  # the kinds before refunds hash as they did
        assert hashes[ORDER.index("payment_refund")] == GOLDEN_PAYMENT_REFUND
        assert (last.id, last.hash) == (len(ORDER), GOLDEN_ALL)
        stored = await db.ledger.get_transfer(last.id)
        assert stored == last and type(stored.kind) is type(last.kind) is str
        async with db.snapshot() as snapshot:
            assert (await audit_ledger(snapshot)).ok
    finally:
        await db.close()
