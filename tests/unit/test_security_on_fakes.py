"""The security services on the in-memory stores: buttons' actions, PINs, 2FA,
verification, password-free payments and key rotation."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from bot.domain.holds import DAY_MS
from bot.domain.security_errors import (
    ActionAlreadyUsed,
    ActionCancelled,
    ActionExpired,
    ActionNotFound,
    ActionNotYours,
    AlreadyVerified,
    CardChangeNeedsPin,
    DecryptionFailed,
    HolderTooYoung,
    IdNumberTaken,
    PinKeyRetired,
    PinLocked,
    PinNotSet,
    PinTooWeak,
    PinWrong,
    TotpInvalid,
    TotpNotEnabled,
    TotpReplayed,
    VerificationRequired,
)
from bot.domain.security_ports import MAX_TRIES, Action
from bot.security import pins as pins_module
from bot.security import totp
from bot.security.cards import luhn_check_digit
from bot.security.cipher import Keyring, field_aad
from bot.security.identity import Identity
from bot.security.idnumber import id_check_character
from bot.security.pin import ScryptParams, hash_pin, verify_pin
from bot.security.pins import Pins
from bot.security.rotation import rotate_keys
from bot.security.twofactor import TwoFactor
from tests.fakes.wallet import KEYRING, FakeWallet

ALICE, BOB = 1, 2
CHEAP = ScryptParams(n=16, r=1, p=1)  # the same scheme, at a cost a unit test can pay
CARD = "622202020011234567" + luhn_check_digit("622202020011234567")


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


@pytest.fixture
def pins(wallet, monkeypatch) -> Pins:
    """PINs hashed on the event loop's own thread (the service hashes in a worker)."""

    async def hash_here(pin, pepper, *, params):
        return hash_pin(pin, pepper, params=params)

    async def verify_here(stored, pin, pepper):
        return verify_pin(stored, pin, pepper)

    monkeypatch.setattr(pins_module, "hash_pin_async", hash_here)
    monkeypatch.setattr(pins_module, "verify_pin_async", verify_here)
    return Pins(wallet.db.security, KEYRING, params=CHEAP)


# Actions ------------------------------------------------------------------------------


async def test_an_action_is_used_once_by_its_own_person_before_it_expires(wallet):
    action = await wallet.actions.create(ALICE, "transfer", {"amount": 100}, ttl_s=60)

    assert (await wallet.actions.open_for(ALICE, action.id, "transfer")).payload == {"amount": 100}
    with pytest.raises(ActionNotYours):
        await wallet.actions.open_for(BOB, action.id)
    with pytest.raises(ActionNotFound):
        await wallet.actions.open_for(ALICE, action.id, "withdraw")
    done = await wallet.actions.finish(action)
    with pytest.raises(ActionAlreadyUsed):
        await wallet.actions.finish(action)
    with pytest.raises(ActionAlreadyUsed):
        await wallet.actions.open_for(ALICE, action.id)

    assert done.state == "done"


async def test_a_cancelled_or_expired_action_says_so_and_is_forgotten_a_day_later(wallet):
    cancelled = await wallet.actions.create(ALICE, "transfer", ttl_s=60)
    await wallet.actions.cancel(cancelled)
    expiring = await wallet.actions.create(ALICE, "transfer", ttl_s=60)

    with pytest.raises(ActionCancelled):
        await wallet.actions.open_for(ALICE, cancelled.id)
    wallet.clock.advance(seconds=60)
    with pytest.raises(ActionExpired):
        await wallet.actions.open_for(ALICE, expiring.id)
    with pytest.raises(ActionExpired):
        await wallet.actions.finish(expiring)
    assert await wallet.actions.purge() == 0
    wallet.clock.advance(ms=DAY_MS + 1)
    assert await wallet.actions.purge() == 2
    with pytest.raises(ActionNotFound):
        await wallet.actions.open_for(ALICE, expiring.id)


# PINs ---------------------------------------------------------------------------------


async def test_a_pin_is_set_checked_and_changed_with_a_log(wallet, pins):
    await wallet.person(ALICE, pin=False)

    with pytest.raises(PinNotSet):
        await pins.verify(ALICE, "135790")
    with pytest.raises(PinTooWeak):
        await pins.set_pin(ALICE, "123456")
    await pins.set_pin(ALICE, "135790")
    await pins.verify(ALICE, "135790")
    await pins.set_pin(ALICE, "246813")
    with pytest.raises(PinWrong) as wrong:
        await pins.verify(ALICE, "135790")

    assert wrong.value.params == {"remaining": 4}
    assert [e.event for e in await wallet.events("pin.")] == ["pin.set", "pin.changed", "pin.wrong"]


async def test_five_wrong_pins_lock_even_the_right_one_for_ever_longer(wallet, pins):
    await wallet.person(ALICE, pin=False)
    await pins.set_pin(ALICE, "135790")

    for remaining in (4, 3, 2, 1):
        with pytest.raises(PinWrong) as wrong:
            await pins.verify(ALICE, "000001")
        assert wrong.value.params["remaining"] == remaining
    with pytest.raises(PinLocked) as locked:
        await pins.verify(ALICE, "000001")
    with pytest.raises(PinLocked):
        await pins.verify(ALICE, "135790")
    wallet.clock.advance(seconds=60)
    await pins.verify(ALICE, "135790")
    for _ in range(5):
        with pytest.raises((PinWrong, PinLocked)):
            await pins.verify(ALICE, "000001")
    wallet.clock.advance(seconds=60)
    with pytest.raises(PinLocked) as second:
        await pins.verify(ALICE, "135790")

    assert locked.value.params["retry_after_s"] == 60
    assert second.value.params["retry_after_s"] == 4 * 60  # five minutes, one gone


async def test_a_pin_under_an_old_key_is_rehashed_under_the_new_one(wallet, pins):
    await wallet.person(ALICE, pin=False)
    await pins.set_pin(ALICE, "135790")
    rotated = Keyring(bytes(range(1, 33)), old=[bytes(range(32))])
    later = Pins(wallet.db.security, rotated, params=CHEAP)

    await later.verify(ALICE, "135790")

    record = await wallet.db.security.get_pin(ALICE)
    assert record.key_id == rotated.current_key_id != KEYRING.current_key_id
    await Pins(wallet.db.security, Keyring(bytes(range(1, 33))), params=CHEAP).verify(
        ALICE, "135790"
    )


async def test_a_pin_whose_key_was_removed_is_refused_plainly_and_counts_no_try(
    wallet, pins, caplog
):
    """The old key removed before its holder entered the PIN again: the PIN cannot be
    checked. The person is told so (no crash, no apology); no try is counted (it would
    lock them out), and the operator reads which key to put back."""
    await wallet.person(ALICE, pin=False)
    await pins.set_pin(ALICE, "135790")
    without_old = Pins(wallet.db.security, Keyring(bytes(range(1, 33))), params=CHEAP)
    for _ in range(MAX_TRIES + 1):
        with pytest.raises(PinKeyRetired):
            await without_old.verify(ALICE, "135790")
    record = await wallet.db.security.get_pin(ALICE)
    assert record.state.failed == 0 and record.key_id == KEYRING.current_key_id
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and KEYRING.current_key_id in logged[0]
    await pins.verify(ALICE, "135790")  # the key put back: the PIN works as before


# 2FA ----------------------------------------------------------------------------------


def secret_of(uri: str) -> bytes:
    text = parse_qs(urlparse(uri).query)["secret"][0]
    return base64.b32decode(text + "=" * (-len(text) % 8))


async def test_two_factor_is_on_after_a_first_code_and_each_code_counts_once(wallet):
    await wallet.person(ALICE)
    two_factor = TwoFactor(wallet.db.identity, KEYRING)

    uri, png = await two_factor.begin_setup(ALICE, "alice")
    secret = secret_of(uri)
    with pytest.raises(TotpNotEnabled):
        await two_factor.check(ALICE, totp.code_at(secret, wallet.clock() / 1000))
    await two_factor.confirm_setup(ALICE, totp.code_at(secret, wallet.clock() / 1000))
    with pytest.raises(TotpReplayed):
        await two_factor.check(ALICE, totp.code_at(secret, wallet.clock() / 1000))
    wallet.clock.advance(seconds=30)
    await two_factor.check(ALICE, totp.code_at(secret, wallet.clock() / 1000))
    code = totp.code_at(secret, wallet.clock() / 1000)
    with pytest.raises(TotpInvalid):  # a digit off
        await two_factor.check(ALICE, code[:-1] + str((int(code[-1]) + 1) % 10))

    assert png.startswith(b"\x89PNG") and await two_factor.is_enabled(ALICE)
    assert [e.event for e in await wallet.events("2fa.")] == ["2fa.enabled", "2fa.wrong"]
    assert (await wallet.db.holds.payer_record(ALICE)).has_2fa


# Verification and cards ---------------------------------------------------------------


async def test_a_wallet_is_verified_once_and_one_id_number_verifies_one_wallet(wallet):
    alice = await wallet.person(ALICE)
    await wallet.person(BOB)

    assert await wallet.identity.tier(ALICE) == 0
    with pytest.raises(VerificationRequired):
        await wallet.identity.bind_card(ALICE, CARD)
    await wallet.verify(alice)
    with pytest.raises(AlreadyVerified):
        await wallet.verify(alice)
    with pytest.raises(IdNumberTaken):
        number = (await wallet.db.identity.get_identity(ALICE)).id_number
        plain = KEYRING.decrypt_text(number, field_aad("identities", "id_number", ALICE))
        await wallet.identity.verify(BOB, "李四", plain)
    card = await wallet.identity.bind_card(ALICE, CARD)

    assert await wallet.identity.tier(ALICE) == 2 and await wallet.identity.tier(BOB) == 0
    assert card.masked.endswith(CARD[-4:]) and await wallet.identity.card_number(ALICE) == CARD
    summary = await wallet.identity.summary(ALICE)
    assert summary.name == "张*" and "*" in summary.id_number


def _id_number(born: str) -> str:
    first = "110105" + born + "001"
    return first + id_check_character(first)


@pytest.mark.parametrize(
    ("today", "born", "verified"),
    [
        ("2026-12-06", "20081206", True),  # 18 today
        ("2026-12-06", "20081207", False),  # 18 tomorrow
        ("2026-12-06", "20251201", False),  # a year old: a valid number, not the user's
        ("2026-03-01", "20080229", True),  # born on 29 February: 18 on 1 March
        ("2026-02-28", "20080229", False),
        ("2026-12-05T18:30", "20081206", True),  # 02:30 on the 6th in Beijing: 18 there
        ("2026-12-05T15:30", "20081206", False),  # 23:30 on the 5th in Beijing
    ],
)
async def test_a_wallet_is_verified_only_with_an_adults_id_number(wallet, today, born, verified):
    await wallet.person(ALICE)
    moment = datetime.fromisoformat(today if "T" in today else today + "T12:00")
    moment = moment.replace(tzinfo=UTC)  # (UTC: Beijing is 8 hours ahead)
    wallet.clock.now_ms = int(moment.timestamp() * 1000)
    number = _id_number(born)
    if verified:
        await wallet.identity.verify(ALICE, "张三", number)
        assert await wallet.identity.tier(ALICE) == 1
        return
    with pytest.raises(HolderTooYoung) as refused:
        await wallet.identity.verify(ALICE, "张三", number)
    assert refused.value.params == {"minimum_age": 18}
    assert await wallet.identity.tier(ALICE) == 0
    assert await wallet.db.identity.get_identity(ALICE) is None  # nothing stored


async def test_another_card_replaces_the_bound_one_only_through_the_pin_confirmation(wallet):
    alice = await wallet.person(ALICE)
    await wallet.verify(alice, card=CARD)
    other = "4111111111111111"
    with pytest.raises(CardChangeNeedsPin) as refused:
        await wallet.identity.bind_card(ALICE, other)
    assert refused.value.params == {"card": "**** 1111", "bound": f"**** {CARD[-4:]}"}
    assert await wallet.identity.card_number(ALICE) == CARD  # refused: nothing changed

    payload = await wallet.identity.card_change(ALICE, other)
    assert other not in str(payload)  # the pending action holds the number encrypted
    result = await wallet.identity.apply_card_change(
        Action("c", ALICE, "card", payload, "open", 0, 0)
    )
    assert (result.prompt, result.params) == ("bindcard.changed", {"card": "**** 1111"})
    assert await wallet.identity.card_number(ALICE) == other
    assert (await wallet.identity.bind_card(ALICE, other)).masked == "**** 1111"  # the same


async def test_a_card_change_payload_is_not_applied_to_another_wallet(wallet):
    for telegram_id in (ALICE, BOB):
        await wallet.verify(await wallet.person(telegram_id), card=CARD)
    payload = await wallet.identity.card_change(ALICE, "4111111111111111")
    with pytest.raises(DecryptionFailed):  # the token is bound to Alice's row
        await wallet.identity.apply_card_change(Action("c", BOB, "card", payload, "open", 0, 0))
    assert await wallet.identity.card_number(BOB) == CARD


# Password-free payments ---------------------------------------------------------------


async def test_password_free_limits_are_capped_and_turned_off_without_a_pin(wallet):
    await wallet.person(ALICE)
    payload = wallet.password_free.request(100_00, 1_000_00)
    action = await wallet.actions.create(ALICE, "nopin", payload)

    await wallet.password_free.apply(action)
    on = await wallet.password_free.limits(ALICE)
    await wallet.password_free.disable(ALICE)

    assert payload == {"per_payment": 50_00, "daily": 200_00}
    assert on == (50_00, 200_00)
    assert await wallet.password_free.limits(ALICE) == (0, 0)
    assert [e.event for e in await wallet.events("password_free")] == [
        "password_free.on",
        "password_free.off",
    ]


# Key rotation -------------------------------------------------------------------------


async def test_rotation_rewrites_every_secret_under_the_new_key(wallet):
    alice = await wallet.person(ALICE)
    await wallet.verify(alice, card=CARD)
    await TwoFactor(wallet.db.identity, KEYRING).begin_setup(ALICE, "alice")
    new_key = bytes(range(100, 132))
    rotating = Keyring(new_key, old=[bytes(range(32))])

    report = await rotate_keys(wallet.db.rotation, rotating)

    assert (report.values, report.indexes, report.key_id) == (4, 2, rotating.current_key_id)
    assert await wallet.db.meta("key_check") == rotating.key_check()
    only_new = Identity(wallet.db.identity, Keyring(new_key))
    assert await only_new.card_number(ALICE) == CARD
    assert (await only_new.summary(ALICE)).name == "张*"
