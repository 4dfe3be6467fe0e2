"""The stores of every port answer alike on SQLite and in memory.

Each story below is told to a ``SqliteDatabase`` and to a ``MemoryDatabase``
(``twins.tell``), and those of the ports PostgreSQL has (``twin_back_ends``) to a
``PgDatabase`` too: every answer and refusal, every journal row (hashes included),
account and security event must come out the same, so the fakes the service tests run on keep
the contracts the bot runs on. A story asks for what its port does and for each of its
refusals, in the order the port documents.
"""

from __future__ import annotations

from bot.domain.holds import HOLD_APPROVED, HOLD_OPENED, HOLD_REJECTED, PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, AccountStatus, SystemAccount, TransferFlag, TransferSpec
from bot.domain.redpackets import (
    GrabCheck,
    GrabRequest,
    PacketKind,
    PacketState,
    RedPacket,
    TapPlace,
)
from bot.domain.requests import PaymentRequest, RequestState
from bot.domain.risk import DEFAULT_RULES, RiskRules
from bot.domain.security_ports import Action, EncryptedCard, EncryptedIdentity
from bot.domain.topups import Payment, TopUp, TopUpState
from bot.domain.users import Profile
from tests.integration.twins import Told, assert_told_alike, spec, tell

HOUR_MS = 3_600_000


async def register(db, told: Told, *telegram_ids: int) -> dict[int, int]:
    """People with these ids (a PIN each); their account ids."""
    accounts = {}
    for telegram_id in telegram_ids:
        profile = Profile(telegram_id, f"user{telegram_id}", f"U{telegram_id}")
        accounts[telegram_id] = (
            await told.ask(db.users.upsert_user(profile, "CNY", True))
        ).account_id
        await told.ask(db.security.set_pin(telegram_id, f"hash-{telegram_id}", "k1"))
    return accounts


async def system(db, told: Told, name: SystemAccount) -> int:
    return (await told.ask(db.ledger.open_account(name.value, AccountKind.SYSTEM, "CNY"))).id


# Security: actions, PINs, identities, cards, 2FA, password-free, rotation -------------


async def security_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("t", [spec(external, accounts[1], 10)]))
    now = clock()
    for action_id, ttl in (("a1", 1_000), ("a2", 1_000), ("a3", 10)):
        action = Action(action_id, 1, "transfer", {"to": [2]}, "open", now + ttl, now)
        await ask(db.security.create_action(action))
    await ask(db.security.create_action(Action("a1", 2, "x", {}, "open", now, now)))
    await ask(db.security.get_action("a1"))
    await ask(db.security.finish_action("a1", 2, "done", now))
    await ask(db.security.finish_action("a1", 1, "done", now))
    await ask(db.security.finish_action("a1", 1, "done", now))
    await ask(db.security.finish_action("a2", 1, "cancelled", now))
    await ask(db.security.finish_action("a2", 1, "done", now))
    await ask(db.security.finish_action("a3", 1, "done", now + 10))
    await ask(db.security.finish_action("nope", 1, "done", now))
    await ask(db.security.create_action(Action("b1", 2, "transfer", {}, "open", now + 900, now)))
    await ask(db.security.open_actions("transfer"))  # a3 expired but never used, and b1
    await ask(db.security.open_actions("x"))
    await ask(db.security.purge_actions(now + 500))
    await ask(db.security.get_action("a3"))
    for _ in range(6):
        await ask(db.security.begin_pin_attempt(1, clock()))
    clock.advance(seconds=61)
    before = await ask(db.security.begin_pin_attempt(1, clock()))
    await ask(db.security.pin_attempt_succeeded(1, before))
    await ask(db.security.get_pin(1))
    await ask(db.security.begin_pin_attempt(9, clock()))
    await ask(db.security.set_pin(1, "hash-new", "k2"))
    await ask(db.security.get_pin(1))
    await ask(db.security.record_event(1, "pin.set", 1, {"tuple": (1, 2), "name": "张"}))
    verified = EncryptedIdentity(1, "name-token", "id-token", "index-1", now)
    await ask(db.identity.save_identity(verified))
    await ask(db.identity.save_identity(verified))
    await ask(db.identity.save_identity(EncryptedIdentity(2, "n", "i", "index-1", now)))
    await ask(db.identity.save_identity(EncryptedIdentity(9, "n", "i", "index-9", now)))
    await ask(db.identity.get_identity(1))
    await ask(db.identity.save_card(EncryptedCard(1, "card-token", "card-index", "1234", now)))
    await ask(db.identity.save_card(EncryptedCard(1, "card-token-2", "card-index-2", "5678", now)))
    await ask(db.identity.save_card(EncryptedCard(9, "c", "i", "0000", now)))
    await ask(db.identity.get_card(1))
    await ask(db.identity.set_totp(1, "secret", False))
    await ask(db.identity.use_totp_step(1, 5))
    await ask(db.identity.use_totp_step(1, 5))
    await ask(db.identity.use_totp_step(1, 4))
    await ask(db.identity.set_totp(1, "secret", True))
    await ask(db.identity.get_totp(1))
    await ask(db.identity.set_totp(1, "another", True))
    await ask(db.identity.get_totp(1))
    await ask(db.identity.use_totp_step(3, 1))
    await ask(db.identity.set_totp(9, "s", False))
    await ask(db.identity.set_password_free(1, 50_00, 200_00))
    await ask(db.identity.get_password_free(1))
    await ask(db.users.upsert_user(Profile(3, None, "C"), "CNY", False))
    await ask(db.identity.set_password_free(3, 50_00, 200_00))  # no credentials: nothing
    await ask(db.identity.get_password_free(3))
    await ask(db.identity.record_event(2, "identity.verified", 2, {}))
    for table, column in (("identities", "id_number"), ("bank_cards", "card_index")):
        await ask(db.rotation.encrypted_values(table, column))
    await ask(db.rotation.encrypted_values("users", "username"))
    await ask(db.rotation.rewrite_encrypted([("identities", "id_number", 1, "new")], "check-2"))
    await ask(db.rotation.rewrite_encrypted([("users", "username", 1, "x")], "check-3"))
    await ask(db.identity.get_identity(1))
    await ask(db.meta("key_check"))
    await ask(db.set_meta_once("key_check", "check-4"))


async def test_the_security_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, security_story, twin_back_ends))


# The payment guard: facts, password-free marks and holds --------------------------------


async def guard_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2)
    alice, bob = accounts[1], accounts[2]
    external = await system(db, told, SystemAccount.EXTERNAL)
    escrow = await system(db, told, SystemAccount.ESCROW_REDPACKETS)
    await ask(db.ledger.create_transfers("top", [spec(external, alice, 10_000, kind="topup")]))
    await ask(db.holds.payer_record(1))
    await ask(db.holds.payer_record(9))
    await ask(db.holds.mark_password_free("tip-1", 1))
    await ask(db.holds.mark_password_free("tip-1", 2))  # once: the first mark stays
    clock.advance(seconds=1)
    await ask(db.ledger.create_transfers("tip-1", [spec(alice, bob, 100, kind="tip")]))
    await ask(db.ledger.create_transfers("rp", [spec(alice, escrow, 200, kind="red_packet")]))
    pending = TransferFlag.PENDING
    voided = await ask(
        db.ledger.create_transfers(
            "w1", [spec(alice, external, 300, kind="withdraw", flag=pending)]
        )
    )
    await ask(
        db.ledger.create_transfers(
            "void", [TransferSpec.resolving(voided[0].id, TransferFlag.VOID_PENDING)]
        )
    )
    posted = await ask(
        db.ledger.create_transfers(
            "w2", [spec(alice, external, 400, kind="withdraw", flag=pending)]
        )
    )
    await ask(
        db.ledger.create_transfers(
            "post", [TransferSpec.resolving(posted[0].id, TransferFlag.POST_PENDING)]
        )
    )
    for n, ref in enumerate(("chat:-100", "chat:-200", "elsewhere")):
        clock.advance(ms=10)
        grab = spec(escrow, alice, 1, kind=TransferKind.RED_PACKET_GRAB, ref=ref)
        await ask(db.ledger.create_transfers(f"grab-{n}", [grab]))
    await ask(db.holds.outgoing_totals(alice, 0))
    await ask(db.holds.outgoing_totals(alice, clock() + 1))
    await ask(db.holds.recent_outgoing(alice, 0))
    await ask(db.holds.recent_grabs(alice, 0))
    hold = spec(alice, bob, 500, flag=pending, memo="big")
    reasons = ["new_account_large_amount"]
    first = await ask(db.holds.open_hold("h1", hold, reasons, HOLD_OPENED))
    await ask(db.holds.open_hold("h1", hold, reasons, HOLD_OPENED))
    await ask(db.holds.open_hold("h1", spec(alice, bob, 501, flag=pending), reasons, HOLD_OPENED))
    await ask(
        db.holds.open_hold(
            "w2", spec(alice, external, 400, kind="withdraw", flag=pending), reasons, HOLD_OPENED
        )
    )
    await ask(db.holds.open_hold("h2", spec(alice, bob, 5), reasons, HOLD_OPENED))
    await ask(
        db.holds.open_hold("h3", spec(alice, bob, 99_999, flag=pending), reasons, HOLD_OPENED)
    )
    second = await ask(
        db.holds.open_hold("h4", spec(alice, bob, 50, flag=pending), [], HOLD_OPENED)
    )
    await ask(db.holds.open_holds(10))
    clock.advance(seconds=5)
    await ask(db.holds.decide_hold(first.id, True, 9, HOLD_APPROVED))
    await ask(db.holds.decide_hold(first.id, False, 9, HOLD_REJECTED))
    await ask(db.holds.decide_hold(999, True, 9, HOLD_APPROVED))
    await ask(db.holds.decide_hold(second.id, False, 9, HOLD_REJECTED))
    await ask(db.holds.get_hold(first.id))
    await ask(db.holds.get_hold(999))
    await ask(db.holds.open_holds(10))
    await ask(db.holds.outgoing_totals(alice, 0))
    # without the PIN: marked and counted in the payment's own write (¥1.00 spent so far)
    free = PasswordFreePayment(1, alice, 150, 0)
    await ask(db.holds.transfer_password_free("nopin-1", [spec(alice, bob, 50)], free))
    await ask(db.holds.transfer_password_free("nopin-1", [spec(alice, bob, 50)], free))
    await ask(db.holds.transfer_password_free("nopin-1", [spec(alice, bob, 51)], free))
    await ask(db.holds.transfer_password_free("nopin-2", [spec(alice, bob, 1)], free))
    await ask(db.holds.transfer_password_free("nopin-3", [spec(alice, bob, 10**9)], free))
    later = PasswordFreePayment(1, alice, 150, clock() + 1)  # a new day: nothing spent yet
    await ask(db.holds.transfer_password_free("nopin-2", [spec(alice, bob, 1)], later))
    await ask(db.holds.outgoing_totals(alice, 0))


async def test_the_guard_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, guard_story, twin_back_ends))


# Payment requests and top-ups ---------------------------------------------------------


async def requests_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2, 3)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[2], 1_000)]))
    now = clock()

    def request(token: str, amount: int, ttl_ms: int = HOUR_MS, requester: int = 1):
        return PaymentRequest(
            token, requester, amount, "lunch", RequestState.OPEN, now, expires_at=now + ttl_ms
        )

    await ask(
        db.requests.create_requests(
            [request("r1", 300), request("r2", 5_000), request("r3", 1, 10)]
        )
    )
    await ask(db.requests.create_requests([request("r4", 1), request("r1", 1)]))
    await ask(db.requests.create_requests([request("r5", 1, requester=9)]))
    await ask(db.requests.get_request("r4"))

    def paying(payer: int, amount: int) -> TransferSpec:
        return spec(accounts[payer], accounts[1], amount, ref="r", memo="lunch")

    free = PasswordFreePayment(2, accounts[2], 300, 0)  # what the next payments may spend
    await ask(db.requests.pay_request("r1", 1, paying(1, 300), password_free=None))
    await ask(db.requests.pay_request("r1", 2, paying(2, 299), password_free=None))
    await ask(db.requests.pay_request("r1", 2, paying(2, 300), password_free=free))
    await ask(db.requests.pay_request("r1", 2, paying(2, 300), password_free=None))
    await ask(db.requests.pay_request("r1", 3, paying(3, 300), password_free=None))
    await ask(db.requests.pay_request("r4", 2, paying(2, 1), password_free=free))  # past it
    await ask(db.requests.get_request("r4"))
    await ask(db.requests.pay_request("r2", 2, paying(2, 5_000), password_free=None))
    await ask(db.requests.pay_request("nope", 2, paying(2, 1), password_free=None))
    await ask(db.holds.outgoing_totals(accounts[2], 0))
    await ask(db.requests.cancel_request("r2", 2))
    await ask(db.requests.cancel_request("r1", 1))
    await ask(db.requests.cancel_request("r2", 1))
    await ask(db.requests.cancel_request("r2", 1))
    await ask(db.requests.pay_request("r2", 2, paying(2, 5_000), password_free=None))
    clock.advance(ms=10)
    await ask(db.requests.pay_request("r3", 2, paying(2, 1), password_free=None))
    await ask(db.requests.cancel_request("r3", 1))
    await ask(db.requests.cancel_request("nope", 1))
    await ask(db.requests.get_request("r1"))

    def topup(topup_id: str, amount: int, ttl_ms: int = HOUR_MS, payer: int = 3) -> TopUp:
        return TopUp(topup_id, payer, amount, "CNY", TopUpState.OPEN, clock(), clock() + ttl_ms)

    def credit(topup_id: str, charge: str, amount: int, payer: int = 3):
        payment = Payment(payer, topup_id, "CNY", amount, charge, f"p-{charge}")
        transfer = spec(external, accounts[payer], amount, kind="topup", ref=topup_id)
        return db.topups.record_topup_payment(f"topup:{charge}", transfer, payment, "flagged")

    await ask(db.topups.create_topup(topup("t1", 500)))
    await ask(db.topups.create_topup(topup("t2", 700, ttl_ms=5)))
    await ask(db.topups.create_topup(topup("t1", 1)))
    await ask(db.topups.create_topup(topup("t9", 1, payer=9)))
    await ask(credit("t1", "c1", 500))
    await ask(credit("t1", "c1", 500))
    await ask(credit("t1", "c1", 501))
    await ask(credit("t1", "c2", 500))
    await ask(credit("nope", "c3", 50))
    clock.advance(ms=10)
    await ask(db.topups.create_topup(topup("t3", 800)))
    await ask(db.topups.get_topup("t2"))
    await ask(credit("t3", "c4", 801))
    await ask(db.topups.expire_topup("t3"))
    await ask(db.topups.expire_topup("t1"))
    await ask(db.topups.expire_topup("nope"))
    await ask(credit("t3", "c5", 800))
    await ask(db.topups.get_topup("t3"))
    await ask(db.topups.record_event(3, "topup_payment_not_credited", 3, {"problem": "x"}))


async def test_the_requests_and_topups_story_comes_out_the_same_on_both(
    tmp_path, twin_back_ends
):
    assert_told_alike(await tell(tmp_path, requests_story, twin_back_ends))


# Red packets --------------------------------------------------------------------------

BURSTS = RiskRules(grab_burst_grabs=2, grab_burst_chats=2)


def packet(packet_id: str, sender: int, total: int, count: int, now: int, **more) -> RedPacket:
    fields = {
        "kind": PacketKind.RANDOM,
        "greeting": "恭喜发财",
        "recipient_id": None,
        "password": None,
        "chat_id": -100,
        "message_id": None,
        "inline_message_id": None,
        "state": PacketState.OPEN,
        "create_key": f"create-{packet_id}",
        "created_at": now,
        "expires_at": now + HOUR_MS,
        "settled_at": None,
        "refunded": 0,
    }
    fields.update(more)
    return RedPacket(packet_id, sender, total=total, count=count, **fields)


async def redpackets_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2, 3)
    external = await system(db, told, SystemAccount.EXTERNAL)
    escrow = await system(db, told, SystemAccount.ESCROW_REDPACKETS)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 10_000)]))
    now = clock()

    async def create(p: RedPacket, shares: list[int]) -> None:
        escrowed = spec(accounts[1], escrow, p.total, kind="red_packet", ref=f"redpacket:{p.id}")
        await ask(db.redpackets.create_red_packet(p, shares, escrowed))

    def grab(
        packet_id: str, user: int, *, profile=None, password=None, place=None, rules=DEFAULT_RULES
    ):
        check = GrabCheck(user, rules)
        request = GrabRequest(packet_id, user, password, escrow, check, "CNY", profile, place)
        return ask(db.redpackets.grab_red_packet(request))

    await create(packet("p1", 1, 100, 3, now), [50, 30, 20])
    await create(packet("p1-again", 1, 100, 3, now, create_key="create-p1"), [50, 30, 20])
    await create(packet("bad", 1, 100, 3, now), [50, 30, 10])
    await create(packet("poor", 1, 99_999, 1, now), [99_999])
    await create(packet("top", 1, 1, 1, now, create_key="top"), [1])
    await create(packet("in1", 1, 10, 1, now, chat_id=None, inline_message_id="im"), [10])
    await create(packet("in2", 1, 10, 1, now, chat_id=None, inline_message_id="im"), [10])
    await create(packet("ex", 1, 10, 1, now, kind=PacketKind.EXCLUSIVE, recipient_id=3), [10])
    await create(
        packet("pw", 1, 20, 2, now, kind=PacketKind.PASSWORD, password="open sesame"), [15, 5]
    )
    await create(packet("burst", 1, 40, 4, now, chat_id=-300), [10, 10, 10, 10])
    await create(packet("quiet", 1, 30, 3, now), [10, 10, 10])
    await grab("p1", 2)
    await grab("p1", 2)
    await grab("p1", 3, place=TapPlace(-999, None))
    await grab("nope", 3)
    await grab("p1", 8)  # unknown, and no profile to register them by
    await grab("p1", 4, profile=Profile(4, "newcomer", "N"))
    await grab("p1", 3)
    await grab("p1", 5, profile=Profile(5, "late", "L"))
    await grab("in1", 2, place=TapPlace(None, "other"))
    await grab("in1", 2, place=TapPlace(None, "im"))
    await grab("ex", 2)
    await grab("ex", 3)
    await grab("pw", 2, password="wrong")
    await grab("pw", 2, password="open sesame")
    clock.advance(ms=10)
    await grab("burst", 3, rules=BURSTS)  # two grabs in one chat: no burst
    await grab("burst", 2, rules=BURSTS)  # three grabs in two chats: a burst
    await grab("quiet", 2, rules=BURSTS)
    await ask(db.redpackets.attach_red_packet_message("quiet", None, 77, None))
    await ask(db.redpackets.attach_red_packet_message("pw", -100, 78, "im"))
    await ask(db.redpackets.red_packet_shares("p1"))
    await ask(db.redpackets.red_packet_by_key("create-p1"))
    await ask(db.redpackets.recent_password_packets(-100, clock() - HOUR_MS))
    await ask(db.redpackets.expire_red_packet("quiet", escrow))
    await ask(db.redpackets.expire_red_packet("ex", escrow, True))
    await ask(db.redpackets.expire_red_packet("burst", escrow, True))
    await ask(db.redpackets.expire_red_packet("nope", escrow))
    clock.advance(ms=HOUR_MS)
    await ask(db.redpackets.due_red_packets(clock(), 10))
    await grab("quiet", 3)  # past its deadline
    await grab("p1", 1)  # finished, and past its deadline: finished is said first
    await grab("burst", 3)  # grabbed before, and past its deadline: grabbed is said first
    await ask(db.redpackets.expire_red_packet("quiet", escrow))
    await ask(db.redpackets.expire_red_packet("quiet", escrow))
    await ask(db.redpackets.expire_red_packet("p1", escrow))
    await ask(db.redpackets.get_red_packet("quiet"))
    await ask(db.users.get_user(5))


async def test_the_red_packets_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, redpackets_story, twin_back_ends))


# Withdrawals --------------------------------------------------------------------------


async def withdrawals_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1)
    external = await system(db, told, SystemAccount.EXTERNAL)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 10_000)]))
    pending = TransferFlag.PENDING

    def out(amount: int, **more) -> TransferSpec:
        return spec(accounts[1], external, amount, kind="withdraw", flag=pending, **more)

    async def open_plain(key: str, amount: int, **more):
        return await ask(
            db.withdrawals.open_withdrawal(key, out(amount, **more), 1, "1234", f"wd-{key}")
        )

    async def open_held(key: str, amount: int):
        return await ask(
            db.withdrawals.open_held_withdrawal(
                key, out(amount), ["velocity_payments"], HOLD_OPENED, 1, "1234", f"wd-{key}"
            )
        )

    first = await open_plain("k1", 100)
    await open_plain("k1", 100)
    await open_plain("k1", 101)
    await ask(db.withdrawals.open_withdrawal("k0", spec(accounts[1], external, 1), 1, "1", "x"))
    await open_plain("k0", 1, timeout_ms=5)
    await open_plain("k9", 99_999)
    await ask(db.withdrawals.mark_unknown(first.id))
    await ask(db.withdrawals.mark_unknown(first.id))
    clock.advance(seconds=1)
    await ask(db.withdrawals.mark_checked(first.id))
    await ask(db.withdrawals.settle(first.id, True, "", False, "refund"))
    await ask(db.withdrawals.settle(first.id, False, "late", False, "refund"))
    second = await open_plain("k2", 200)
    await ask(db.withdrawals.settle(second.id, False, "card_declined", True, "refund"))
    approved = await open_held("k3", 300)
    await open_held("k3", 300)
    rejected = await open_held("k4", 400)
    waiting = await open_held("k5", 500)
    await ask(db.withdrawals.advance_held(approved[1].id))
    await ask(db.holds.decide_hold(approved[0].id, True, 9, HOLD_APPROVED))
    await ask(db.holds.decide_hold(rejected[0].id, False, 9, HOLD_REJECTED))
    await ask(db.withdrawals.open_withdrawals(clock(), 10))
    await ask(db.withdrawals.advance_held(approved[1].id))
    await ask(db.withdrawals.advance_held(rejected[1].id))
    await ask(db.withdrawals.advance_held(waiting[1].id))
    await ask(db.withdrawals.settle(approved[1].id, False, "card_declined", False, "refund"))
    await ask(db.withdrawals.open_withdrawals(clock(), 10))
    await ask(db.withdrawals.untold(10))
    await ask(db.withdrawals.mark_told(approved[1].id))
    await ask(db.withdrawals.mark_told(waiting[1].id))
    await ask(db.withdrawals.untold(10))
    await ask(db.withdrawals.get_withdrawal(waiting[1].id))
    await ask(db.withdrawals.get_withdrawal(999))
    await ask(db.withdrawals.find_withdrawal(waiting[1].request_id))
    await ask(db.withdrawals.find_withdrawal("wd-none"))
    await ask(db.holds.outgoing_totals(accounts[1], 0))


async def test_the_withdrawals_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, withdrawals_story, twin_back_ends))


# History, statements and the admin's figures ------------------------------------------


async def history_story(db, clock, told: Told) -> None:
    ask = told.ask
    accounts = await register(db, told, 1, 2)
    alice, bob = accounts[1], accounts[2]
    external = await system(db, told, SystemAccount.EXTERNAL)
    shop = (await ask(db.ledger.open_account("merchant:2", AccountKind.MERCHANT, "CNY"))).id
    stray = (await ask(db.ledger.open_account("user:77", AccountKind.USER, "CNY"))).id
    await ask(db.ledger.create_transfers("top", [spec(external, alice, 1_000)]))
    start = clock()
    clock.advance(seconds=10)
    await ask(db.ledger.create_transfers("pay", [spec(alice, bob, 100, memo="tea")]))
    await ask(db.ledger.create_transfers("shop", [spec(alice, shop, 50)]))
    await ask(db.ledger.create_transfers("stray", [spec(alice, stray, 5)]))
    held = await ask(
        db.ledger.create_transfers(
            "held", [spec(alice, bob, 200, flag=TransferFlag.PENDING, memo="m")]
        )
    )
    void = TransferSpec.resolving(held[0].id, TransferFlag.VOID_PENDING)
    await ask(db.ledger.create_transfers("void", [void]))
    await ask(db.ledger.set_account_status(bob, AccountStatus.FROZEN))
    clock.advance(seconds=10)
    for account in (alice, bob):
        await ask(db.history.visible_before(account, None, 3))
        await ask(db.history.visible_before(account, 4, 10))
        await ask(db.history.visible_after(account, 2, 2))
    await ask(db.history.get_transfer(held[0].id))
    await ask(db.history.resolution_of(held[0].id))
    await ask(db.history.resolution_of(1))
    await ask(db.history.transfers_by_id([1, 3, 3, 99]))
    await ask(db.history.parties([alice, shop, stray, external, 404]))
    await ask(db.history.posted_balance_before(alice, start + 1))
    await ask(db.history.posted_balance_before(alice, clock()))
    await ask(db.history.moved_between(alice, start + 1, clock()))
    await ask(db.admin.stats(start + 1))
    await ask(db.admin.record_event(9, "admin.freeze", 2, {}))


async def test_the_history_story_comes_out_the_same_on_both(tmp_path, twin_back_ends):
    assert_told_alike(await tell(tmp_path, history_story, twin_back_ends))
