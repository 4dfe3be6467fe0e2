"""Server-side pending actions: what a button means lives here, not in the button.

A button's callback data is ``prefix:<action id>[:arg]``: a short random id bound to one
person, one purpose and an expiry. A forged id finds nothing, another person's id is
refused, an expired one is refused, and finishing an action is atomic, so a double tap
or a replayed callback runs it once. A button whose action ended (done, cancelled, or
its message replaced by the next step) is "no longer active": ``ActionAlreadyUsed``, or
``ActionCancelled`` when it was cancelled, so the answer never claims a cancelled
payment was made.
"""

from __future__ import annotations

import secrets

from bot.domain.security_errors import (
    ActionAlreadyUsed,
    ActionCancelled,
    ActionExpired,
    ActionNotFound,
    ActionNotYours,
)
from bot.domain.security_ports import Action, SecurityStore

__all__ = ["DEFAULT_TTL_S", "KEEP_ENDED_S", "Actions"]

DEFAULT_TTL_S = 10 * 60
KEEP_ENDED_S = 24 * 3600  # an expired action is kept a day (to say "expired"), then purged
ID_BYTES = 9  # 12 characters of base64url: unguessable, and short enough for 64-byte data


class Actions:
    def __init__(self, store: SecurityStore) -> None:
        self.store = store

    async def create(
        self,
        telegram_id: int,
        purpose: str,
        payload: dict | None = None,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> Action:
        now = self.store.now_ms()
        action = Action(
            id=secrets.token_urlsafe(ID_BYTES),
            telegram_id=telegram_id,
            purpose=purpose,
            payload=dict(payload or {}),
            state="open",
            expires_at=now + ttl_s * 1000,
            created_at=now,
        )
        await self.store.create_action(action)
        return action

    async def open_for(
        self, telegram_id: int, action_id: str, purpose: str | None = None
    ) -> Action:
        """The open action behind a button this person tapped, or the error saying why not."""
        action = await self.store.get_action(action_id)
        if action is None or (purpose is not None and not action.purpose.startswith(purpose)):
            raise ActionNotFound(action_id=action_id)
        if action.telegram_id != telegram_id:
            raise ActionNotYours(action_id=action_id)
        if action.state == "cancelled":
            raise ActionCancelled(action_id=action_id)
        if action.state != "open":
            raise ActionAlreadyUsed(action_id=action_id)
        if action.expires_at <= self.store.now_ms():
            raise ActionExpired(action_id=action_id)
        return action

    async def purge(self) -> int:
        """Delete actions expired more than a day ago; a button of theirs then reads
        "not valid" instead of "expired". Keeps the table from growing forever."""
        return await self.store.purge_actions(self.store.now_ms() - KEEP_ENDED_S * 1000)

    async def was_used(self, action_id: str) -> bool:
        """Whether the action was used (its step done; what followed is another action's)."""
        action = await self.store.get_action(action_id)
        return action is not None and action.state == "done"

    async def still_open(self, purpose: str) -> list[Action]:
        """The actions of ``purpose`` nobody used or cancelled, expired ones included (for
        a day: :meth:`purge`), oldest first: what a restart may still owe them."""
        return await self.store.open_actions(purpose)

    async def finish(self, action: Action) -> Action:
        """Mark the action done; raises ``ActionAlreadyUsed`` if someone was faster."""
        return await self.store.finish_action(
            action.id, action.telegram_id, "done", self.store.now_ms()
        )

    async def cancel(self, action: Action) -> Action:
        return await self.store.finish_action(
            action.id, action.telegram_id, "cancelled", self.store.now_ms()
        )
