"""Admin commands: refused to others, logged, 2FA first for admins who enabled it."""

from __future__ import annotations

import time

from bot.domain.errors import AccountFrozen
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.security import totp
from bot.security.cipher import field_aad

ALICE, BOB = 100_002, 100_004  # Alice is the admin


async def test_admin_commands_are_refused_plainly_to_others(emulator, wallet):
    for command in ("/admin", "/stats", "/audit", "/freeze @alice", "/unfreeze 100002"):
        await emulator.send_text("bob", command)
        reply = await emulator.wait_for_message("bob")
        assert reply.text == "This command is for the wallet's admins only."
    assert (await wallet.users.get(ALICE)) is None or not (
        await wallet.ledger.account((await wallet.users.get(ALICE)).account_id)
    ).status == "frozen"


async def test_stats_and_audit_report_the_ledger(emulator, wallet):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 12_34, "topup")
    await emulator.send_text("alice", "/stats")
    text = (await emulator.wait_for_message("alice")).text
    assert "Users: 2" in text and "Money held for users and merchants: ¥12.34" in text
    await emulator.send_text("alice", "/audit")
    assert (await emulator.wait_for_message("alice")).text.startswith(
        "✅ Audit passed: 1 transfers"
    )


async def test_freeze_stops_sending_and_is_logged(emulator, wallet):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 5_00, "topup")
    await emulator.send_text("alice", "/freeze")
    assert "/freeze @username" in (await emulator.wait_for_message("alice")).text
    await emulator.send_text("alice", "/freeze @nobody_known")
    assert "don't know" in (await emulator.wait_for_message("alice")).text

    await emulator.send_text("alice", "/freeze @bob")
    assert (await emulator.wait_for_message("alice")).text.startswith("The wallet is frozen")
    alice = await wallet.users.get(ALICE)
    try:
        await wallet.ledger.transfer("t2", bob.account_id, alice.account_id, 1_00, "p2p")
        raise AssertionError("a frozen wallet sent money")
    except AccountFrozen:
        pass
    await wallet.ledger.transfer("t3", external, bob.account_id, 1_00, "topup")  # still receives

    await emulator.send_text("alice", f"/unfreeze {BOB}")
    assert (await emulator.wait_for_message("alice")).text == "The wallet is unfrozen."
    await wallet.ledger.transfer("t4", bob.account_id, alice.account_id, 1_00, "p2p")
    events = [(e.event, e.actor_id, e.subject_id) async for e in wallet.store.events()]
    assert ("admin.freeze", ALICE, BOB) in events and ("admin.unfreeze", ALICE, BOB) in events


async def test_an_admin_with_2fa_enters_a_code_before_freezing(emulator, wallet):
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    await emulator.send_text("alice", "/freeze @bob")
    keypad = await emulator.wait_for_message("alice")
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert (await wallet.ledger.account(bob.account_id)).status == "active"
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    await emulator.wait_for(lambda e: e.kind == "edit" and "frozen" in (e.text or ""), since=mark)
    assert (await wallet.ledger.account(bob.account_id)).status == "frozen"
