"""Payment PINs: how they are chosen, stored and checked, and when they lock.

A six-digit PIN has only a million values, so the hash alone cannot protect it: anyone
with a copy of the database could try them all. Two things make that copy useless on
its own. The PIN is first keyed with a server *pepper* (HMAC-SHA256), which lives with
the master key and never in the database; the result then goes through scrypt with a
per-user salt, so each guess costs about 50 ms of CPU and 16 MiB of memory. Online
guessing is stopped by :class:`PinState`: five wrong tries lock the PIN for a delay that
grows with every lockout.

Stored hashes describe their own parameters (``scrypt$16384$8$1$<salt>$<hash>``), so
the cost can be raised later: :func:`verify_pin` honours what a hash says, and
:func:`needs_rehash` tells the caller to store a fresh hash after a correct PIN.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bot.domain.security_errors import PinFormatInvalid, PinTooWeak

__all__ = [
    "DEFAULT_PARAMS",
    "ScryptParams",
    "check_new_pin",
    "check_pin_format",
    "hash_pin",
    "hash_pin_async",
    "needs_rehash",
    "verify_pin",
    "verify_pin_async",
]

PIN_LENGTH = 6
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PEPPER_BYTES = 16

_SCHEME = "scrypt"
_PIN = re.compile(r"[0-9]{6}", re.ASCII)
_DIGITS = "0123456789"


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: ``n`` (CPU/memory, a power of two), block size ``r``, parallelism ``p``.

    Memory is ``128 * n * r`` bytes. Stored hashes are refused beyond the bounds below,
    so a corrupted row cannot make the server allocate gigabytes.
    """

    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        if not (2 <= self.n <= 2**20 and self.n & (self.n - 1) == 0):
            raise ValueError(f"scrypt n must be a power of two in 2..2**20, not {self.n}")
        if not (1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise ValueError(f"scrypt r={self.r}, p={self.p} out of range")


# About 40-50 ms and 16 MiB per hash on a small two-core server.
DEFAULT_PARAMS = ScryptParams(n=2**14, r=8, p=1)


def check_pin_format(pin: str) -> str:
    """Return ``pin`` if it is six ASCII digits, else raise :class:`PinFormatInvalid`.

    Full-width or other scripts' digits are refused rather than folded: the keypad only
    sends ASCII, so anything else did not come from it.
    """
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise PinFormatInvalid()
    return pin


def _is_weak(pin: str) -> bool:
    if pin in _DIGITS or pin in _DIGITS[::-1]:  # 012345 ... 456789, 987654 ... 543210
        return True
    # 111111, 121212, 123123: a short block repeated
    return any(pin == pin[:size] * (PIN_LENGTH // size) for size in (1, 2, 3))


def check_new_pin(pin: str) -> str:
    """Return ``pin`` if it may be chosen as a new PIN, else raise a typed error.

    Beyond the format, refuses the PINs people guess first: one digit repeated, a run up
    or down (``123456``, ``654321``) and a repeated pair or triple (``121212``,
    ``123123``). Only new PINs are checked; an existing PIN is never refused for this.
    """
    check_pin_format(pin)
    if _is_weak(pin):
        raise PinTooWeak()
    return pin


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(pin: str, pepper: bytes, salt: bytes, params: ScryptParams, length: int) -> bytes:
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"the pepper must be a secret of at least {MIN_PEPPER_BYTES} bytes")
    keyed = hmac.new(pepper, pin.encode("ascii"), hashlib.sha256).digest()
    kdf = Scrypt(salt=salt, length=length, n=params.n, r=params.r, p=params.p)
    return kdf.derive(keyed)


def hash_pin(pin: str, pepper: bytes, *, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """Return the string to store for ``pin``; a fresh random salt makes each one unique.

    Only the format is checked here; call :func:`check_new_pin` when the user chooses it.
    """
    check_pin_format(pin)
    salt = os.urandom(SALT_BYTES)
    digest = _derive(pin, pepper, salt, params, HASH_BYTES)
    return f"{_SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("not a stored PIN hash (expected scrypt$n$r$p$salt$hash)")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error) as exc:
        raise ValueError("stored PIN hash is malformed") from exc
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("stored PIN hash has a too short salt or hash")
    return ScryptParams(n, r, p), salt, digest


def verify_pin(stored: str, pin: str, pepper: bytes) -> bool:
    """Tell whether ``pin`` is the PIN behind ``stored``, with the parameters it names.

    A PIN of the wrong shape is simply not the PIN (``False``); a ``stored`` value that
    is not a PIN hash raises :class:`ValueError`, as that is a bug or a damaged row.
    """
    params, salt, digest = _parse(stored)
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        return False
    candidate = _derive(pin, pepper, salt, params, len(digest))
    return hmac.compare_digest(candidate, digest)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """Tell whether ``stored`` was made with other parameters than ``params``.

    After a correct PIN the caller stores ``hash_pin(pin, pepper)`` in its place.
    """
    stored_params, salt, digest = _parse(stored)
    return stored_params != params or len(salt) != SALT_BYTES or len(digest) != HASH_BYTES


async def hash_pin_async(pin: str, pepper: bytes, *, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """:func:`hash_pin` in a worker thread, so the event loop keeps serving others."""
    return await asyncio.to_thread(hash_pin, pin, pepper, params=params)


async def verify_pin_async(stored: str, pin: str, pepper: bytes) -> bool:
    """:func:`verify_pin` in a worker thread, so the event loop keeps serving others."""
    return await asyncio.to_thread(verify_pin, stored, pin, pepper)
