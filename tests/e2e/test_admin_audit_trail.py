"""Every admin command that changes or reveals something lands in the audit chain (the
security log: the admin's id and the action), driven through the sandbox by an admin
with the arguments an admin would type, each flow to its end (a card's Confirm too).

The commands come from the list the bot registers for admins (``bot.app.ADMIN_COMMANDS``):
a new admin command fails this test until it is driven here or listed as read-only with
the reason."""

from __future__ import annotations

import logging

import pytest

from bot.app import ADMIN_COMMANDS, build_application
from bot.domain.users import Profile
from bot.security.ratelimit import BucketLimit, RateLimits
from tests.e2e.test_refund import paid
from tests.e2e.test_send import BOB, XIAOMING, start_private, tap_and_wait

ALICE = 100_002  # the admin

# Commands that only read, and why nothing of theirs needs an audit event.
READ_ONLY = {
    "admin": "the admin menu: buttons only, nothing about anyone",
    "stats": "totals and a chart over everyone, no one person's data",
    "audit": "verifies the ledger and the log on a read-only snapshot",
    "review": "lists the held payments every admin is sent anyway; deciding one is a "
    "button, audited (admin.hold_approved / admin.hold_rejected)",
    "payouts": "lists the queued payouts (cards masked) every admin is told of anyway; "
    "deciding one and showing its full card are audited (admin.payout_*)",
    "tickets": "lists the open tickets every admin is sent when opened; answering and "
    "closing are audited (admin.ticket_replied / admin.ticket_closed)",
    "merchants": "lists the shops (names, owners, the shops' own balances), no person's "
    "wallet nor personal data; adding one is audited (admin.merchant_add)",
}


async def freeze(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("alice", "/freeze @bob")
    await emulator.wait_for_message("alice", since=mark, text="wallet is frozen")
    return "admin.freeze", BOB


async def unfreeze(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("alice", f"/unfreeze {BOB}")
    await emulator.wait_for_message("alice", since=mark, text="wallet is unfrozen.")
    return "admin.unfreeze", BOB


async def user(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("alice", "/user @bob")
    await emulator.wait_for_message("alice", since=mark, text="Bob")
    return "admin.view_user", BOB


async def refund(emulator, wallet):
    payment = await paid(wallet, 10_00)
    mark = emulator.mark()
    await emulator.send_text("alice", f"/refund {payment.id} 1.00 mistake")
    card = await emulator.wait_for_message("alice", since=mark, text="Refund of payment")
    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert done.text.startswith("✅ Refunded ¥1.00")
    return "admin.refund", None


async def reply(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/support 我的红包没有退回")
    await emulator.wait_for_message("alice", since=mark, text="#1")  # the admins are told
    mark = emulator.mark()
    await emulator.send_text("alice", "/reply 1 Refunded, please check.")
    await emulator.wait_for_message("alice", since=mark, text="🎫 #1 Your answer was sent.")
    return "admin.ticket_replied", XIAOMING


async def broadcast(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("alice", "/broadcast Water is off tomorrow 9-12")
    question = await emulator.wait_for_message("alice", since=mark, text="people?")
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", question, "Confirm"), since=mark)
    await emulator.wait_for_edit(question, since=mark)
    return "admin.broadcast", None


async def merchant_add(emulator, wallet):
    mark = emulator.mark()
    await emulator.send_text("alice", "/merchant_add @bob Noodles food")
    await emulator.wait_for_message("alice", since=mark, text="Noodles")
    return "admin.merchant_add", BOB


async def confirmed(emulator, text: str, card_text: str) -> None:
    """An admin's command whose card is confirmed."""
    mark = emulator.mark()
    await emulator.send_text("alice", text)
    card = await emulator.wait_for_message("alice", since=mark, text=card_text)
    await tap_and_wait(emulator, "alice", card, "Confirm")


async def voucher_issue(emulator, wallet):
    await confirmed(emulator, "/voucher_issue 20 7 all @bob", "consumption voucher")
    return "admin.voucher_issue", None


async def campaign_add(emulator, wallet):
    await confirmed(emulator, "/campaign_add Lunch 100-10 100 7 limit=2", "New campaign")
    return "admin.campaign_add", None


async def coupon_grant(emulator, wallet):
    await confirmed(emulator, "/coupon_grant 1 @bob", "Give one coupon")
    return "admin.coupon_grant", None


# In this order: unfreeze after freeze, a refund while Bob may send again, a campaign
# before its coupons.
DRIVEN = {
    "freeze": freeze,
    "unfreeze": unfreeze,
    "user": user,
    "refund": refund,
    "reply": reply,
    "broadcast": broadcast,
    "merchant_add": merchant_add,
    "voucher_issue": voucher_issue,
    "campaign_add": campaign_add,
    "coupon_grant": coupon_grant,
}


@pytest.fixture
def application(settings, wallet):
    quick = RateLimits(
        callback_user=BucketLimit(1_000, 1_000), command_user=BucketLimit(1_000, 1_000)
    )
    return build_application(settings, wallet=wallet, rate_limits=quick)


async def events(wallet) -> list:
    return [e async for e in wallet.store.security.events()]


def test_every_admin_command_is_driven_here_or_listed_as_read_only():
    assert not set(DRIVEN) & set(READ_ONLY)
    assert set(DRIVEN) | set(READ_ONLY) == set(ADMIN_COMMANDS)


async def test_every_admin_command_that_changes_or_reveals_lands_in_the_audit_chain(
    emulator, wallet, caplog
):
    for name in ("alice", "bob", "xiaoming"):
        await start_private(emulator, name)
    await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"), private_chat=True)

    for command in ADMIN_COMMANDS:
        if command in READ_ONLY:
            before = len(await events(wallet))
            mark = emulator.mark()
            await emulator.send_text("alice", f"/{command}")
            await emulator.wait_for(
                lambda e: e.kind == "message" and e.chat_id == ALICE and e.text, since=mark
            )
            after = await events(wallet)
            assert after[before:] == [], command  # a read writes nothing
    for command in DRIVEN:  # in the order of DRIVEN (a campaign before its coupons)
        before = len(await events(wallet))
        action, subject = await DRIVEN[command](emulator, wallet)
        new = [(e.event, e.actor_id) for e in (await events(wallet))[before:]]
        assert (action, ALICE) in new, (command, new)
        if subject is not None:
            logged = [e for e in (await events(wallet))[before:] if e.event == action]
            assert [e.subject_id for e in logged] == [subject], command
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
