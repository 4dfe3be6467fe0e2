"""The ``FollowUpStore`` keeps one contract on SQLite, PostgreSQL and in memory: open questions and
pending deletions come back the same from both, and survive a reopened SQLite file."""

from __future__ import annotations

from bot.domain.followups import FollowUpStore, OpenQuestion, PendingDeletion
from bot.storage.sqlite import SqliteDatabase


def test_both_stores_define_the_whole_port(db):
    members = {m for m in vars(FollowUpStore) if not m.startswith("_")}
    assert members <= set(dir(db.followups))
    for name in members:
        assert getattr(type(db.followups), name) is not getattr(FollowUpStore, name), name


async def test_the_last_question_per_topic_and_person_is_the_open_one(db):
    store = db.followups
    await store.ask_question(OpenQuestion("payout_note", 7, [3, True, 40], 1_000))
    await store.ask_question(OpenQuestion("payout_note", 7, [4, False, 41], 2_000))
    await store.ask_question(OpenQuestion("payout_note", 5, [9, True, 12], 3_000))
    await store.ask_question(OpenQuestion("ticket_answer", 7, 12, 4_000))

    assert await store.open_questions("payout_note") == [
        OpenQuestion("payout_note", 5, [9, True, 12], 3_000),
        OpenQuestion("payout_note", 7, [4, False, 41], 2_000),
    ]
    assert await store.open_questions("ticket_answer") == [
        OpenQuestion("ticket_answer", 7, 12, 4_000)
    ]
    await store.drop_question("payout_note", 7)
    await store.drop_question("payout_note", 7)  # twice: harmless
    await store.drop_question("payout_note", 8)  # never asked: harmless
    assert [q.telegram_id for q in await store.open_questions("payout_note")] == [5]
    assert await store.open_questions("nothing") == []


async def test_a_pending_deletion_is_kept_until_deleted_at_its_latest_time(db):
    store = db.followups
    await store.delete_later(PendingDeletion(10, 200, 5_000, "2fa_qr", 10))
    await store.delete_later(PendingDeletion(-99, 7, 3_000, "card_reveal", None))
    await store.delete_later(PendingDeletion(10, 200, 4_000, "2fa_qr", 10))  # not sooner
    assert await store.pending_deletions() == [
        PendingDeletion(-99, 7, 3_000, "card_reveal", None),
        PendingDeletion(10, 200, 5_000, "2fa_qr", 10),
    ]
    await store.deleted(-99, 7)
    await store.deleted(-99, 7)
    await store.deleted(1, 1)
    assert await store.pending_deletions() == [PendingDeletion(10, 200, 5_000, "2fa_qr", 10)]


async def test_follow_ups_outlive_the_sqlite_file_being_closed(tmp_path):
    path = tmp_path / "wallet.db"
    async with await SqliteDatabase.open(path) as first:
        await first.followups.ask_question(OpenQuestion("payout_note", 7, {"id": 3}, 9_000))
        await first.followups.delete_later(PendingDeletion(7, 70, 8_000, "2fa_qr", 7))
    async with await SqliteDatabase.open(path) as again:
        assert await again.followups.open_questions("payout_note") == [
            OpenQuestion("payout_note", 7, {"id": 3}, 9_000)
        ]
        assert await again.followups.pending_deletions() == [
            PendingDeletion(7, 70, 8_000, "2fa_qr", 7)
        ]
