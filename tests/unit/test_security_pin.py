"""Payment PINs: format and strength rules, scrypt hashing with salt and pepper, lockouts."""

import asyncio
import time

import pytest

from bot.domain.security_errors import PinFormatInvalid, PinLocked, PinTooWeak
from bot.domain.security_ports import LOCKOUT_DELAYS_S, MAX_TRIES, PinState
from bot.security.pin import (
    DEFAULT_PARAMS,
    ScryptParams,
    check_new_pin,
    check_pin_format,
    hash_pin,
    hash_pin_async,
    needs_rehash,
    verify_pin,
    verify_pin_async,
)

PEPPER = b"p" * 32
OTHER_PEPPER = b"q" * 32
FAST = ScryptParams(n=2**10, r=8, p=1)  # cheap, so the many tests below stay quick
MINUTE_MS = 60_000
T0 = 1_700_000_000_000


def test_default_hash_round_trips_and_is_self_describing():
    stored = hash_pin("480271", PEPPER)
    assert stored.startswith(f"scrypt${DEFAULT_PARAMS.n}${DEFAULT_PARAMS.r}${DEFAULT_PARAMS.p}$")
    assert verify_pin(stored, "480271", PEPPER)
    assert not verify_pin(stored, "480272", PEPPER)
    assert not needs_rehash(stored)


def test_wrong_pin_does_not_verify():
    stored = hash_pin("480271", PEPPER, params=FAST)
    assert verify_pin(stored, "480271", PEPPER)
    assert not verify_pin(stored, "084271", PEPPER)


def test_same_pin_twice_gives_different_hashes():
    first = hash_pin("480271", PEPPER, params=FAST)
    second = hash_pin("480271", PEPPER, params=FAST)
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]  # the salt
    assert verify_pin(first, "480271", PEPPER) and verify_pin(second, "480271", PEPPER)


def test_hash_does_not_verify_with_another_pepper():
    stored = hash_pin("480271", PEPPER, params=FAST)
    assert not verify_pin(stored, "480271", OTHER_PEPPER)


def test_a_short_pepper_is_refused():
    with pytest.raises(ValueError, match="pepper"):
        hash_pin("480271", b"short", params=FAST)


def test_stored_parameters_are_honoured_and_flagged_for_rehash():
    weak = ScryptParams(n=2**8, r=4, p=1)
    stored = hash_pin("480271", PEPPER, params=weak)
    assert stored.startswith("scrypt$256$4$1$")
    assert verify_pin(stored, "480271", PEPPER)
    assert not verify_pin(stored, "480270", PEPPER)
    assert needs_rehash(stored)
    assert not needs_rehash(stored, weak)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$1$2$3$a$b",
        "scrypt$16384$8$1$salt",
        "scrypt$3$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_a_damaged_stored_hash_raises_rather_than_answering(stored):
    with pytest.raises(ValueError):
        verify_pin(stored, "480271", PEPPER)


def test_absurd_stored_cost_is_refused_before_any_work():
    stored = hash_pin("480271", PEPPER, params=FAST).replace("scrypt$1024$", "scrypt$1073741824$")
    with pytest.raises(ValueError, match="power of two"):
        verify_pin(stored, "480271", PEPPER)


@pytest.mark.parametrize(
    "pin", ["12345", "1234567", "12 456", "１２３４５６", "٤٨٠٢٧١", "abcdef", ""]
)
def test_malformed_pins_are_refused_with_their_code(pin):
    with pytest.raises(PinFormatInvalid) as caught:
        check_new_pin(pin)
    assert caught.value.code == "pin_must_be_six_digits"
    with pytest.raises(PinFormatInvalid):
        hash_pin(pin, PEPPER, params=FAST)


def test_a_malformed_pin_simply_does_not_verify():
    stored = hash_pin("480271", PEPPER, params=FAST)
    assert not verify_pin(stored, "４８０２７１", PEPPER)
    assert not verify_pin(stored, None, PEPPER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "pin",
    ["000000", "777777", "012345", "123456", "456789", "987654", "654321", "121212", "123123"],
)
def test_weak_pins_are_refused_as_new_pins(pin):
    check_pin_format(pin)  # well formed ...
    with pytest.raises(PinTooWeak) as caught:
        check_new_pin(pin)  # ... but too easy to guess
    assert caught.value.code == "pin_too_weak"


@pytest.mark.parametrize("pin", ["480271", "135790", "112233", "123465", "890123"])
def test_ordinary_pins_are_accepted(pin):
    assert check_new_pin(pin) == pin


async def test_async_wrappers_run_off_the_event_loop():
    stored = await hash_pin_async("480271", PEPPER, params=FAST)
    assert await verify_pin_async(stored, "480271", PEPPER)
    assert not await verify_pin_async(stored, "480272", PEPPER)


async def test_default_hashing_does_not_block_the_event_loop():
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await hash_pin_async("480271", PEPPER)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert elapsed > 0.01  # the real cost was paid ...
    assert ticks >= 2  # ... while the loop kept running


def fail(state: PinState, times: int, now_ms: int) -> PinState:
    for _ in range(times):
        state = state.after_failure(now_ms)
    return state


def test_four_wrong_tries_leave_one():
    state = fail(PinState(), 4, T0)
    assert not state.is_locked(T0)
    assert state.remaining_tries(T0) == 1
    state.check(T0)  # does not raise


def test_fifth_wrong_try_locks_for_one_minute():
    state = fail(PinState(), MAX_TRIES, T0)
    assert state == PinState(failed=0, locked_until_ms=T0 + MINUTE_MS, lockouts=1)
    assert state.is_locked(T0 + MINUTE_MS - 1)
    assert state.remaining_tries(T0) == 0
    assert state.retry_after_s(T0 + 1) == 60
    assert not state.is_locked(T0 + MINUTE_MS)
    assert state.remaining_tries(T0 + MINUTE_MS) == MAX_TRIES


def test_trying_while_locked_raises_with_the_time_left():
    state = fail(PinState(), MAX_TRIES, T0)
    with pytest.raises(PinLocked) as caught:
        state.check(T0 + 30_000)
    assert caught.value.code == "pin_locked"
    assert caught.value.params == {"locked_until_ms": T0 + MINUTE_MS, "retry_after_s": 30}
    with pytest.raises(PinLocked):
        state.after_failure(T0 + 30_000)


def test_each_lockout_lasts_longer_up_to_a_day():
    state, now = PinState(), T0
    seen = []
    for _ in range(7):
        state = fail(state, MAX_TRIES, now)
        seen.append((state.locked_until_ms - now) // 1000)
        now = state.locked_until_ms  # wait the lock out exactly
    assert seen == [60, 300, 1800, 7200, 86400, 86400, 86400]
    assert tuple(seen[:5]) == LOCKOUT_DELAYS_S


def test_after_expiry_five_more_wrong_tries_lock_for_five_minutes():
    state = fail(PinState(), MAX_TRIES, T0)
    later = T0 + MINUTE_MS
    state = fail(state, MAX_TRIES - 1, later)
    assert state.remaining_tries(later) == 1
    state = state.after_failure(later)
    assert state.locked_until_ms == later + 5 * MINUTE_MS
    assert state.lockouts == 2


def test_success_resets_failures_but_not_the_lockout_history():
    state = fail(PinState(), MAX_TRIES, T0)  # first lockout: 1 min
    later = T0 + MINUTE_MS
    state = fail(state, 3, later).after_success()
    assert state.failed == 0 and state.lockouts == 1
    assert state.remaining_tries(later) == MAX_TRIES
    state = fail(state, MAX_TRIES, later)  # second lockout: 5 min, not 1
    assert state.locked_until_ms == later + 5 * MINUTE_MS


def test_impossible_states_are_refused():
    with pytest.raises(ValueError):
        PinState(failed=-1)
    with pytest.raises(ValueError):
        PinState(failed=MAX_TRIES)
