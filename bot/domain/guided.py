"""A person's guided flow (Send, Request, Red packet, Withdraw by taps), the people they
paid lately and the amounts they use most, and the port that keeps them.

A **flow** is one short conversation in the private chat: its ``kind`` says what it
makes, its ``step`` what it asks now, ``data`` holds the answers so far (JSON values:
``recipient_id``, ``amount`` in fen, ``count``, ``memo``, the digits on the number pad).
A person has one flow at a time; beginning another replaces it. ``flow_id`` is in the
data of the flow's buttons, so a button of a replaced flow is told apart from a current
one. A flow not touched for a while expires at ``expires_at`` (unix ms) and moves nothing:
money only ever moves through the confirmation card a finished flow shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.errors import WalletError

__all__ = ["Flow", "FlowExpired", "FlowStale", "FlowStore", "PacketByPhrase", "PacketKindUnknown"]


@dataclass(frozen=True, slots=True)
class Flow:
    telegram_id: int
    flow_id: str
    kind: str  # "send", "request", "packet", "withdraw"
    step: str  # what it asks now: "recipient", "amount", "count", "memo", ...
    data: dict = field(default_factory=dict)  # JSON values: the answers so far
    message_id: int | None = None  # the private-chat message showing the step
    expires_at: int = 0  # unix ms


class FlowExpired(WalletError):
    """The flow a button or message belongs to was left too long (or ended)."""

    code = "flow_expired"


class FlowEnded(WalletError):
    """A button of a flow that is over (its card shown, cancelled, or swept once it
    expired): its message already says how it ended, and is left as it is."""

    code = "flow_ended"


class FlowStale(WalletError):
    """A button of a flow that another one replaced since."""

    code = "flow_stale"


class PacketKindUnknown(WalletError):
    """An answer to the red packet's kind step that names no kind."""

    code = "guided_packet_kind_unknown"


class PacketByPhrase(WalletError):
    """A password packet was chosen: its phrase is typed in the group, so it is made there
    by a command, not by a flow."""

    code = "guided_packet_by_phrase"


class FlowStore(Protocol):
    """Flows, recent recipients and favourite amounts. A write is acknowledged once
    committed; a read sees every write acknowledged before it started."""

    def now_ms(self) -> int:
        """The store's clock, in unix milliseconds (injectable for tests)."""
        ...

    async def save_flow(self, flow: Flow) -> None:
        """Keep ``flow`` as the person's one flow (replacing theirs, if any)."""
        ...

    async def get_flow(self, telegram_id: int) -> Flow | None:
        """The person's flow, expired or not."""
        ...

    async def drop_flow(self, telegram_id: int, flow_id: str) -> bool:
        """End the person's flow if it is still ``flow_id``; whether it was."""
        ...

    async def expired_flows(self, now_ms: int, limit: int) -> list[Flow]:
        """Flows whose ``expires_at`` is at or before ``now_ms``, oldest deadline first."""
        ...

    async def remember_recipient(self, telegram_id: int, recipient_id: int, at_ms: int) -> None:
        """The person paid (or chose to pay) ``recipient_id`` at ``at_ms``."""
        ...

    async def recent_recipients(self, telegram_id: int, limit: int) -> list[int]:
        """Whom the person paid lately, the latest first."""
        ...

    async def remember_amount(self, telegram_id: int, kind: str, amount: int, at_ms: int) -> None:
        """The person used ``amount`` (fen) in a flow of ``kind`` once more."""
        ...

    async def favourite_amounts(self, telegram_id: int, kind: str, limit: int) -> list[int]:
        """The amounts the person used most in flows of ``kind`` (then the latest), in fen."""
        ...
