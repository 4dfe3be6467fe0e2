"""PIN entry on an inline keypad: the digits are collected here, never sent as a message.

A keypad belongs to one pending action (``bot.security.actions``). Presses are kept in
memory only, per action; a restart forgets half-typed PINs, and the keypad then starts
over. Flows:

- ``pin.set``: new PIN → the same again → saved.
- ``pin.change``: current PIN → new PIN → the same again → saved.
- ``pin.reset`` (a forgotten PIN, for users with 2FA): a 2FA code → new PIN → again.
- ``confirm:<what>``: the PIN (then a 2FA code when the payload says ``needs_2fa``) →
  the registered confirmation for ``<what>`` runs once with the action's payload (any
  money operation can ask for a PIN this way).
- ``2fa.enable`` / ``2fa.disable``: a code from the authenticator app.

Presses of one keypad are handled in arrival order (a lock per keypad), so two quick
taps cannot swap digits. Money safety does not rest on this lock: finishing the action
is atomic in the database, so a confirmation runs at most once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from bot.domain.errors import WalletError
from bot.domain.security_errors import (
    ActionNotFound,
    PinLocked,
    PinMismatch,
    PinWrong,
    SecurityError,
    TotpNotEnabled,
)
from bot.domain.security_ports import Action
from bot.security.actions import DEFAULT_TTL_S, Actions
from bot.security.pin import PIN_LENGTH, check_new_pin
from bot.security.pins import Pins
from bot.security.twofactor import TwoFactor

__all__ = ["CANCEL", "CANCELLED", "DELETE", "ConfirmationResult", "KeypadView", "PinEntry"]

DELETE, CANCEL = "d", "x"
SET, CHANGE, CONFIRM = "pin.set", "pin.change", "confirm:"
RESET = "pin.reset"
CANCELLED = "pin.cancelled"  # the prompt of a keypad its ✖ ended
TOTP_ON, TOTP_OFF = "2fa.enable", "2fa.disable"
PIN_FIRST = "pin_first"  # a TOTP_ON keypad's payload: the PIN, then the first code
_FIRST_STEP = {
    SET: "new",
    CHANGE: "old",
    RESET: "totp_reset",
    TOTP_ON: "totp_on",
    TOTP_OFF: "totp_off",
}


@dataclass(frozen=True)
class ConfirmationResult:
    """What a confirmation reports: the message to show, and anything the caller needs."""

    prompt: str  # message key
    params: dict = field(default_factory=dict)
    outcome: object = None


Confirmation = Callable[[Action], Awaitable[str | ConfirmationResult]]
# What a confirmation that will not run reports (the keypad view's outcome): given its
# action and why (None: the person pressed ✖).
Abandoned = Callable[[Action, WalletError | None], object]


@dataclass(frozen=True)
class KeypadView:
    """What the keypad message should show now."""

    action_id: str
    prompt: str  # message key: what to type now, or the final outcome
    entered: int = 0  # digits typed so far (shown masked)
    error: WalletError | None = None  # why the last six digits were refused
    finished: bool = False  # no more keypad: saved, confirmed, cancelled or locked
    params: dict = field(default_factory=dict)
    outcome: object = None  # what a confirmation produced (a settlement, say)


@dataclass
class _Entry:
    step: str
    digits: str = ""
    first: str = ""
    reset: bool = False  # a 2FA code replaced the current PIN
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    born: float = field(default_factory=time.monotonic)
    owner: int | None = None  # the person typing (known once the keypad is shown or used)


class PinEntry:
    def __init__(self, actions: Actions, pins: Pins, two_factor: TwoFactor) -> None:
        self.actions = actions
        self.pins = pins
        self.two_factor = two_factor
        self._entries: dict[str, _Entry] = {}
        self._confirmations: dict[str, Confirmation] = {}
        self._abandoned: dict[str, Abandoned] = {}

    def _forget_stale(self) -> None:
        """Drop keypads abandoned for longer than an action lives."""
        oldest = time.monotonic() - DEFAULT_TTL_S
        for action_id in [k for k, e in self._entries.items() if e.born < oldest]:
            if not self._entries[action_id].lock.locked():
                del self._entries[action_id]

    def register_confirmation(
        self, what: str, run: Confirmation, abandoned: Abandoned | None = None
    ) -> None:
        """``run(action)`` is called once the PIN for a ``confirm:<what>`` action is right.

        ``abandoned(action, refused)``, if given, says what the keypad reports when ``run``
        will not happen after all: ✖ pressed, the PIN locked, or ``run`` refused (its
        ``WalletError`` is then reported instead of raised).
        """
        self._confirmations[what] = run
        if abandoned is not None:
            self._abandoned[what] = abandoned

    def _abandon(self, action: Action, refused: WalletError | None = None) -> object:
        """The outcome of a confirmation that will not run, if it has one."""
        if not action.purpose.startswith(CONFIRM):
            return None
        abandoned = self._abandoned.get(action.purpose.removeprefix(CONFIRM))
        return abandoned(action, refused) if abandoned is not None else None

    async def start_setup(self, telegram_id: int) -> KeypadView:
        """A keypad to set a PIN, or to change it (asking for the current one first)."""
        self._forget_stale()
        purpose = CHANGE if await self.pins.has_pin(telegram_id) else SET
        if purpose == CHANGE:  # PinLocked before six digits are typed in vain
            await self.pins.check_unlocked(telegram_id)
        return self._opened(await self.actions.create(telegram_id, purpose))

    async def start_reset(self, telegram_id: int) -> KeypadView:
        """A keypad to replace a forgotten PIN, proving who you are with a 2FA code."""
        self._forget_stale()
        if not await self.two_factor.is_enabled(telegram_id):
            raise TotpNotEnabled()
        return self._opened(await self.actions.create(telegram_id, RESET))

    async def start_two_factor(
        self, telegram_id: int, *, enable: bool, account_name: str = ""
    ) -> KeypadView:
        """A keypad for the code that turns 2FA on or off.

        Turning it on asks for the payment PIN first, when one is set (``PinLocked`` at
        once while it is locked): 2FA can replace a forgotten PIN, so whoever holds an
        unlocked phone must not be able to turn it on and then reset the PIN with it,
        nor see the new secret. The secret is made once the PIN is right: that view's
        ``params["setup_qr"]`` is its QR code (PNG), to show before the first code. With
        no PIN set, the caller makes the secret first (``TwoFactor.begin_setup``).
        A keypad turning 2FA on that ends without it (✖, the PIN locked) says so in its
        view's ``params["setup_over"]``: its QR code has nothing more to do.
        """
        self._forget_stale()
        if not enable:
            return self._opened(await self.actions.create(telegram_id, TOTP_OFF))
        payload = {}
        if await self.pins.has_pin(telegram_id):
            await self.pins.check_unlocked(telegram_id)
            payload = {PIN_FIRST: True, "account_name": account_name or str(telegram_id)}
        return self._opened(await self.actions.create(telegram_id, TOTP_ON, payload))

    async def start_confirmation(
        self, telegram_id: int, what: str, payload: dict, *, pin: bool = True
    ) -> KeypadView:
        """A keypad asking for the PIN (and/or a 2FA code) before ``what`` runs.

        ``pin=False`` asks for a 2FA code only (admin actions); ``payload["needs_2fa"]``
        adds a code after the PIN. Raises :class:`PinLocked` while the PIN is locked.
        """
        self._forget_stale()
        if what not in self._confirmations:
            raise ValueError(f"no confirmation registered for {what!r}")
        if pin:
            await self.pins.check_unlocked(telegram_id)  # PinLocked: no keypad to type into
        payload = {**payload, "needs_pin": pin}
        return self._opened(await self.actions.create(telegram_id, CONFIRM + what, payload))

    async def press(self, telegram_id: int, action_id: str, key: str) -> KeypadView:
        """One key of the keypad: a digit, DELETE or CANCEL."""
        entry = self._entries.get(action_id)
        if entry is None:
            entry = self._entries[action_id] = _Entry(step="")
        async with entry.lock:  # taken before any await: presses keep their order
            try:
                action = await self.actions.open_for(telegram_id, action_id, purpose="")
            except WalletError:
                self._entries.pop(action_id, None)
                raise
            if not _is_keypad(action.purpose):
                self._entries.pop(action_id, None)
                raise ActionNotFound(action_id=action_id)
            if not entry.step:
                entry.step = _first_step(action)
            entry.owner = telegram_id
            if key == CANCEL:
                await self.actions.cancel(action)
                self._entries.pop(action_id, None)
                outcome = self._abandon(action)
                over = {"setup_over": True} if action.purpose == TOTP_ON else {}
                return KeypadView(
                    action_id, CANCELLED, finished=True, outcome=outcome, params=over
                )
            if key == DELETE:
                entry.digits = entry.digits[:-1]
                return self._view(action_id, entry.step, entry.digits)
            if len(key) != 1 or not key.isdigit() or not key.isascii():
                raise ValueError(f"not a keypad key: {key!r}")
            entry.digits += key
            if len(entry.digits) < PIN_LENGTH:
                return self._view(action_id, entry.step, entry.digits)
            digits, entry.digits = entry.digits, ""
            return await self._complete(action, entry, digits)

    async def open_confirmations(self, what: str) -> list[Action]:
        """The keypads of ``confirm:<what>`` nobody finished or cancelled (expired ones
        included), oldest first: what a restart may still owe them."""
        return await self.actions.still_open(CONFIRM + what)

    async def cancel_open(self, telegram_id: int) -> list[tuple[str, object]]:
        """Cancel the person's keypads in progress, as their Cancel key would; for each,
        its action id and the outcome its Cancel key would report (None for a keypad
        without one).

        Only keypads shown or pressed since this process started are known here (half-typed
        PINs live in memory); an older keypad's own Cancel key still works.
        """
        cancelled: list[tuple[str, object]] = []
        for action_id, entry in list(self._entries.items()):
            if entry.owner != telegram_id:
                continue
            async with entry.lock:  # after any press already under way
                if self._entries.get(action_id) is not entry:
                    continue  # finished meanwhile
                del self._entries[action_id]
                try:
                    action = await self.actions.open_for(telegram_id, action_id, purpose="")
                    await self.actions.cancel(action)
                except WalletError:
                    continue  # used, expired or cancelled already (or just now)
                cancelled.append((action_id, self._abandon(action)))
        return cancelled

    async def _complete(self, action: Action, entry: _Entry, digits: str) -> KeypadView:
        user = action.telegram_id
        if entry.step.startswith("totp"):
            return await self._complete_code(action, entry, digits)
        if entry.step in ("old", "verify", "pin_2fa"):
            try:
                await self.pins.verify(user, digits)
            except PinLocked as locked:
                await self.actions.cancel(action)
                self._entries.pop(action.id, None)
                outcome = self._abandon(action, locked)
                over = {"setup_over": True} if action.purpose == TOTP_ON else {}
                return KeypadView(
                    action.id,
                    "pin.locked",
                    error=locked,
                    finished=True,
                    outcome=outcome,
                    params=over,
                )
            except PinWrong as wrong:
                return self._view(action.id, entry.step, error=wrong)
            if entry.step == "old":
                return self._view(action.id, "new")
            if entry.step == "pin_2fa":  # the PIN is right: now the secret, and its QR
                _, png = await self.two_factor.begin_setup(user, action.payload["account_name"])
                view = self._view(action.id, "totp_on")
                return replace(view, params={"setup_qr": png})
            if action.payload.get("needs_2fa"):
                return self._view(action.id, "totp")
            return await self._run_confirmation(action)
        if entry.step == "new":
            try:
                check_new_pin(digits)
            except SecurityError as weak:
                return self._view(action.id, "new", error=weak)
            entry.first, entry.step = digits, "again"
            return self._view(action.id, "again")
        if digits != entry.first:
            entry.first, entry.step = "", "new"
            return self._view(action.id, "new", error=PinMismatch())
        await self.actions.finish(action)
        self._entries.pop(action.id, None)
        await self.pins.set_pin(user, digits, reset=entry.reset)
        return KeypadView(action.id, "pin.saved", finished=True)

    async def _run_confirmation(self, action: Action) -> KeypadView:
        await self.actions.finish(action)  # atomic: a second run is refused here
        self._entries.pop(action.id, None)
        run = self._confirmations[action.purpose.removeprefix(CONFIRM)]
        try:
            result = await run(action)
        except WalletError as refused:
            outcome = self._abandon(action, refused)
            if outcome is None:
                raise
            return KeypadView(
                action.id, refused.code, error=refused, finished=True, outcome=outcome
            )
        if isinstance(result, str):
            result = ConfirmationResult(result)
        return KeypadView(
            action.id, result.prompt, finished=True, params=result.params, outcome=result.outcome
        )

    async def _complete_code(self, action: Action, entry: _Entry, digits: str) -> KeypadView:
        """A 2FA code: to turn 2FA on or off, or as the second step of a confirmation."""
        user = action.telegram_id
        try:
            if entry.step == "totp_on":
                await self.two_factor.confirm_setup(user, digits)
            elif entry.step == "totp_reset":
                await self.two_factor.check(user, digits)
                entry.reset = True
                return self._view(action.id, "new")
            elif entry.step == "totp_off":
                await self.two_factor.disable(user, digits)
            else:
                await self.two_factor.check(user, digits)
        except SecurityError as refused:
            return self._view(action.id, entry.step, error=refused)
        if entry.step == "totp":
            return await self._run_confirmation(action)
        await self.actions.finish(action)
        self._entries.pop(action.id, None)
        return KeypadView(action.id, f"2fa.{entry.step.removeprefix('totp_')}", finished=True)

    def _opened(self, action: Action) -> KeypadView:
        """The first step of a new keypad, which belongs to the person it was made for."""
        view = self._view(action.id, _first_step(action))
        self._entries[action.id].owner = action.telegram_id
        return view

    def _view(
        self, action_id: str, step: str, digits: str = "", error: WalletError | None = None
    ) -> KeypadView:
        entry = self._entries.setdefault(action_id, _Entry(step=step))
        entry.step = step
        return KeypadView(action_id, f"pin.prompt.{step}", entered=len(digits), error=error)


def _is_keypad(purpose: str) -> bool:
    return purpose in _FIRST_STEP or purpose.startswith(CONFIRM)


def _first_step(action: Action) -> str:
    if action.purpose.startswith(CONFIRM):
        return "verify" if action.payload.get("needs_pin", True) else "totp"
    if action.purpose == TOTP_ON and action.payload.get(PIN_FIRST):
        return "pin_2fa"
    return _FIRST_STEP[action.purpose]
