"""Guided flows in the private chat: Send, Request, Red packet and Withdraw by taps.

Each is a short conversation kept server-side (``bot.wallet.guided``), so it survives a
restart: a step is one message, edited as the person taps; its buttons carry the flow's
id (``g:<flow id>:<key>``). Send begins with Telegram's contact picker
(``KeyboardButtonRequestUsers``: the bot learns the user id, so people without a
username can be paid) or the people paid lately; amounts come from a number pad with ¥
quick picks; every step can also be typed (the person's next message is the answer, a
stored :class:`~bot.handlers.questions.Questions`). Back and Cancel are on every step, and
``/cancel`` leaves the flow (and any PIN keypad) from anywhere; going back to the menu (a
plain ``/start`` or ``/menu``) or opening another of its screens leaves it quietly
(:meth:`Guide.leave`), while a stray message, a typed command or a restart does not.
A finished flow shows the feature's own confirmation card (then the PIN keypad): the
money rules and the moving of money stay in the feature's service. A flow left half way
expires quietly (:func:`sweep`), and a button of an expired or replaced step says so.
What each flow checks and makes is in :mod:`bot.handlers.guided_ends`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.domain.errors import AccountFrozen, WalletError
from bot.domain.guided import Flow, FlowEnded, FlowExpired, FlowStale
from bot.domain.money import format_fen
from bot.domain.security_errors import CardNotBound, VerificationRequired
from bot.domain.users import User
from bot.handlers import guided_ends as ends
from bot.handlers.context import (
    ID,
    WALLET_KEY,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    is_private,
    language_of,
    private_user,
)
from bot.handlers.numpad import (
    DELETE,
    DOT,
    OK,
    QUICK,
    amount_text,
    full,
    pad_rows,
    press,
    quick_row,
)
from bot.handlers.pin import Outcomes, cancel_keypads
from bot.handlers.questions import Questions
from bot.handlers.start import MENU_PREFIX, menu_for, start_link
from bot.i18n import LANGUAGES, translate
from bot.wallet.guided import FLOW_TTL_S

__all__ = ["FLOW", "PICKER", "Guide", "handlers"]

log = logging.getLogger(__name__)

FLOW = "g:"
FLOW_TAP = button_pattern(FLOW, ID, "[a-z0-9]{1,16}")
PICKER = 1  # the request_id of the contact picker's button (one person to pay)
SPLIT_PICKER = 2  # the request_id of the split's picker (several people)
PACKET_PICKER = 3  # the request_id of an exclusive packet's picker (its one person)
MAX_SPLIT_PICKS = 10
PICKED = {
    PICKER: ("send", "recipient"),
    SPLIT_PICKER: ("split", "people"),
    PACKET_PICKER: ("packet", "recipient"),
}
PACKET_LINK = "hb"  # /start hb: a red packet asked for in a group, made here
BACK, CANCEL, SKIP, COUNT, KIND = "back", "x", "skip", "n", "k"
COUNTS = (2, 3, 5, 10)
STEPS = {
    "send": ("recipient", "amount", "memo"),
    "request": ("amount", "memo"),
    "split": ("people", "amount", "memo"),
    "packet": ("kind", "amount", "count", "greeting"),
    "withdraw": ("amount",),
}
EXCLUSIVE_STEPS = ("kind", "recipient", "amount", "greeting")  # one share, for one person
KEYBOARD_STEPS = ("recipient", "people")  # asked with a reply keyboard (the contact picker)
ANSWERED_BY = {"kind": "packet", "recipient": "recipient_id"}  # a step's key in the data
QUICK_AMOUNTS = {
    "send": (10_00, 20_00, 50_00, 100_00),
    "request": (10_00, 20_00, 50_00, 100_00),
    "split": (50_00, 100_00, 200_00, 500_00),
    "packet": (5_00, 10_00, 20_00, 50_00),
    "withdraw": (100_00, 200_00, 500_00, 1000_00),
}
MOVES_MONEY = ("send", "packet", "withdraw")  # a PIN is needed at the end
SWEEP_INTERVAL_S = 30


def _labels(key: str) -> set[str]:
    return {translate(language, key) for language in LANGUAGES}


def steps_of(kind: str, data: dict) -> tuple[str, ...]:
    """The steps of a flow of ``kind`` (a red packet's depend on its kind)."""
    return EXCLUSIVE_STEPS if data.get("packet") == "exclusive" else STEPS[kind]


def _key(flow: Flow, key: str) -> str:
    return f"{FLOW}{flow.flow_id}:{key}"


def _nav(flow: Flow, language: str, *extra: InlineKeyboardButton) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(translate(language, "guided.back"), callback_data=_key(flow, BACK)),
        InlineKeyboardButton(
            translate(language, "guided.cancel"), callback_data=_key(flow, CANCEL)
        ),
        *extra,
    ]


def _first_markup(language: str, missing: WalletError) -> InlineKeyboardMarkup | None:
    """A withdrawal's missing step as a button: verifying the real name, binding a card."""
    opens = {
        VerificationRequired: ("s:verify", "menu.verify"),
        CardNotBound: ("s:card", "menu.card"),
    }
    found = opens.get(type(missing))
    if found is None:
        return None
    data, key = found
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(translate(language, key), callback_data=f"{MENU_PREFIX}{data}")]]
    )


class Guide:
    """The flows' handlers, with the stored question that takes a typed answer;
    ``outcomes`` acts on the PIN keypads /cancel leaves (see :mod:`bot.handlers.pin`)."""

    def __init__(self, outcomes: Outcomes) -> None:
        self.answers: Questions[str] = Questions(FLOW_TTL_S, topic="guided_step")
        self.outcomes = outcomes
        self.others: tuple[Questions, ...] = ()  # other features' questions /cancel ends

    # Showing a step ---------------------------------------------------------------------

    async def _summary(self, context: WalletContext, flow: Flow, language: str) -> list[str]:
        lines = [translate(language, f"guided.title.{flow.kind}")]
        data = flow.data
        if "packet" in data and flow.step != "kind":
            lines.append(translate(language, f"guided.kind.{data['packet']}"))
        if "recipient_id" in data:
            recipient = await context.wallet.users.get(data["recipient_id"])
            name = recipient.display_name if recipient else str(data["recipient_id"])
            lines.append(translate(language, "guided.to", name=name))
            if recipient is not None and not recipient.private_chat and flow.kind == "send":
                lines.append(translate(language, "guided.waits", name=name))
        if data.get("people"):
            names = [await ends.name_of(context, p) for p in data["people"]]
            lines.append(translate(language, "guided.with", names=", ".join(names)))
        if "amount" in data and flow.step != "amount":
            lines.append(translate(language, "guided.amount", amount=format_fen(data["amount"])))
        if "count" in data and flow.step != "count":
            lines.append(translate(language, "guided.count", count=data["count"]))
        return lines

    async def _amounts(self, context: WalletContext, flow: Flow) -> list[int]:
        """The quick picks: the person's favourites first, then the usual ones; where money
        leaves the wallet, only those the balance covers (a pick that must be refused is
        no help)."""
        wallet = context.wallet
        picks = [*await wallet.guides.favourites(flow.telegram_id, flow.kind)]
        picks += QUICK_AMOUNTS[flow.kind]
        if flow.kind in MOVES_MONEY:
            user = await wallet.users.get(flow.telegram_id)
            available = (await wallet.ledger.balance(user.account_id)).available if user else 0
            picks = [fen for fen in picks if fen <= available]
        return sorted(list(dict.fromkeys(picks))[:4])

    async def view(
        self, context: WalletContext, flow: Flow, language: str, error: str = ""
    ) -> tuple[str, InlineKeyboardMarkup]:
        """The text and buttons of the flow's step (not the recipient's: see _ask_recipient)."""
        lines = await self._summary(context, flow, language)
        rows: list[list[InlineKeyboardButton]] = []
        step = flow.step
        if step == "kind":
            lines.append(translate(language, "guided.ask.kind"))
            kinds = [
                InlineKeyboardButton(
                    translate(language, f"guided.kind.{kind}"),
                    callback_data=_key(flow, KIND + kind),
                )
                for kind in ends.PACKET_KINDS
            ]
            rows.extend([kinds[:2], kinds[2:]])
            rows.append(_nav(flow, language))
        elif step == "amount":
            entry = flow.data.get("entry", "")  # as typed ("12." while typing)
            lines.append(
                translate(language, "guided.amount_entry", amount=f"¥{entry}")
                if entry
                else translate(language, "guided.amount_empty")  # a dash, not "¥0"
            )
            equal = flow.data.get("packet") == "equal"
            lines.append(translate(language, f"guided.ask.amount.{flow.kind}{'_each' * equal}"))
            picks = await self._amounts(context, flow)
            if picks:
                rows.append(quick_row(_key(flow, ""), picks))
            rows.extend(pad_rows(_key(flow, ""), translate(language, "guided.ok"))[:-1])
            rows.append(
                _nav(
                    flow,
                    language,
                    InlineKeyboardButton(
                        translate(language, "guided.ok"), callback_data=_key(flow, OK)
                    ),
                )
            )
        elif step == "count":
            lines.append(translate(language, "guided.ask.count"))
            rows.append(
                [
                    InlineKeyboardButton(str(n), callback_data=_key(flow, f"{COUNT}{n}"))
                    for n in COUNTS
                ]
            )
            rows.append(_nav(flow, language))
        else:  # memo or greeting: typed, or skipped
            lines.append(translate(language, f"guided.ask.{step}"))
            skip = InlineKeyboardButton(
                translate(language, "guided.skip"), callback_data=_key(flow, SKIP)
            )
            rows.append([skip])
            rows.append(_nav(flow, language))
        if error:
            lines.append("⚠️ " + error)
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    async def _ask_recipient(
        self, update: Update, context: WalletContext, flow: Flow, language: str, error: str = ""
    ) -> Flow:
        """The recipient step (a split's people): a new message whose keyboard has the
        contact picker and the people paid lately (a reply keyboard: only there can
        Telegram pick a user)."""
        wallet = context.wallet
        labels: dict[str, int] = {}
        for recipient_id in await wallet.guides.recents(flow.telegram_id):
            known = await wallet.users.get(recipient_id)
            if known is not None and flow.step == "recipient":
                labels[f"👤 {known.display_name}"[:60]] = recipient_id
        several = flow.step == "people"
        picker_id = SPLIT_PICKER if several else PACKET_PICKER if flow.kind == "packet" else PICKER
        picker = KeyboardButton(
            translate(language, "guided.pick_people" if several else "guided.pick_contact"),
            request_users=KeyboardButtonRequestUsers(
                picker_id,
                user_is_bot=False,
                max_quantity=MAX_SPLIT_PICKS if several else 1,
                request_name=True,
                request_username=True,
            ),
        )
        keys = [[picker]]
        names = list(labels)
        keys += [names[i : i + 2] for i in range(0, len(names), 2)]
        keys.append([translate(language, "guided.back"), translate(language, "guided.cancel")])
        lines = [
            translate(language, f"guided.title.{flow.kind}"),
            translate(language, f"guided.ask.{flow.step}{'.packet' * (flow.kind == 'packet')}"),
        ]
        if error:
            lines.append("⚠️ " + error)
        sent = await update.effective_chat.send_message(
            "\n".join(lines),
            reply_markup=ReplyKeyboardMarkup(keys, resize_keyboard=True, one_time_keyboard=True),
        )
        flow = await wallet.guides.move(flow, message_id=sent.message_id, recents=labels)
        await self._ask(flow)
        return flow

    async def _ask(self, flow: Flow) -> None:
        """The person's next message answers the flow's step (asked once a flow, and again
        when the question outlived itself)."""
        if self.answers.open_for(flow.telegram_id) != flow.kind:
            await self.answers.ask(flow.telegram_id, flow.kind)

    async def show(
        self,
        update: Update,
        context: WalletContext,
        flow: Flow,
        language: str,
        error: str = "",
        *,
        edit: bool,
    ) -> Flow:
        """Show the flow's step: by editing the tapped message, else as a new message."""
        if flow.step in KEYBOARD_STEPS:
            if edit:
                await _edit(update, translate(language, "guided.moved_below"))
            return await self._ask_recipient(update, context, flow, language, error)
        text, markup = await self.view(context, flow, language, error)
        if edit:
            await _edit(update, text, reply_markup=markup)
        else:
            sent = await update.effective_chat.send_message(text, reply_markup=markup)
            flow = await context.wallet.guides.move(flow, message_id=sent.message_id)
        await self._ask(flow)
        return flow

    # Beginning ----------------------------------------------------------------------------

    async def begin(self, update: Update, context: WalletContext, kind: str, **data) -> Flow | None:
        """Begin a flow of ``kind`` (at its first step, or the one after ``data``'s), after
        saying why not when the person cannot pay at all (no PIN, a frozen wallet)."""
        user, language = await private_user(update, context, "guided.private_only")
        if user is None:
            return None
        wallet = context.wallet
        refusal, markup = "", None
        if kind in MOVES_MONEY:
            if not await wallet.pins.has_pin(user.telegram_id):
                refusal, markup = translate(language, "guided.no_pin"), ends.pin_markup(language)
            else:
                try:
                    await wallet.ledger.check_can_send(user.account_id, 0)
                except AccountFrozen as frozen:
                    refusal = error_text(language, frozen)
                except WalletError:
                    pass  # too little money: said at the amount, with the balance
        if not refusal and kind == "withdraw":
            try:  # no real name or no card: said now, not after an amount is chosen
                await wallet.withdrawals.check_ready(user.telegram_id)
            except WalletError as missing:
                refusal, markup = error_text(language, missing), _first_markup(language, missing)
        if refusal:
            await update.effective_chat.send_message(refusal, reply_markup=markup)
            return None
        step = next(s for s in steps_of(kind, data) if ANSWERED_BY.get(s, s) not in data)
        old = await wallet.guides.current(user.telegram_id)
        flow = await wallet.guides.begin(user.telegram_id, kind, step, **data)
        if old is not None and old.step in KEYBOARD_STEPS and step not in KEYBOARD_STEPS:
            # the flow replaced had its keyboard up: it goes (a new one replaces it else)
            await _step_ended(context.bot, old, translate(language, "guided.cancelled"))
        return await self.show(update, context, flow, language, edit=False)

    def starter(self, kind: str):
        async def begin_flow(update: Update, context: WalletContext) -> None:
            """Begin a guided flow from the menu (it replaces the one in progress; when it
            cannot begin, that one was left all the same)."""
            await update.callback_query.answer()
            if await self.begin(update, context, kind) is None:
                await self.leave(update, context)

        return begin_flow

    async def from_link(self, update: Update, context: WalletContext, rest: str) -> bool:
        """``/start hb``: make the red packet asked for in a group here, step by step (the
        random one ``/hb`` makes)."""
        if rest:
            return False
        await self.begin(update, context, "packet", packet="random")
        return True

    # Answers ---------------------------------------------------------------------------------

    async def accept(
        self,
        update: Update,
        context: WalletContext,
        flow: Flow,
        user: User,
        value: str,
        *,
        edit: bool,
    ) -> None:
        """Take ``value`` as the answer to the flow's step: the next step (or the card), or
        the same step again saying what was wrong."""
        language = language_of(update, user)
        try:
            data = await ends.check(context, flow, user, value)
        except WalletError as refused:
            flow = await context.wallet.guides.move(flow, entry=None)
            await self.show(
                update, context, flow, language, ends.refusal(language, refused), edit=edit
            )
            return
        steps = steps_of(flow.kind, {**flow.data, **data})
        index = steps.index(flow.step)
        if index + 1 < len(steps):
            flow = await context.wallet.guides.move(flow, step=steps[index + 1], entry=None, **data)
            await self.show(update, context, flow, language, edit=edit)
            return
        flow = await context.wallet.guides.move(flow, entry=None, **data)
        try:
            text, markup = await ends.finish(update, context, flow, user, language)
        except WalletError as refused:
            await self.show(
                update, context, flow, language, ends.refusal(language, refused), edit=edit
            )
            return
        await context.wallet.guides.end(flow)
        await self.answers.drop(user.telegram_id)
        if edit:
            await _edit(update, text, reply_markup=markup)
        elif text:
            await update.effective_chat.send_message(text, reply_markup=markup)

    async def back(self, update: Update, context: WalletContext, flow: Flow, language: str) -> None:
        steps = steps_of(flow.kind, flow.data)
        index = steps.index(flow.step)
        if index == 0:
            await self.cancel(update, context, flow, language, to_menu=True)
            return
        before, entry = steps[index - 1], None
        if before == "amount" and "amount" in flow.data:  # the one chosen stays on the pad,
            entry = amount_text(flow.data["amount"]).removesuffix(".00")  # to keep or change
        flow = await context.wallet.guides.move(flow, step=before, entry=entry)
        await self.show(update, context, flow, language, edit=update.callback_query is not None)

    async def cancel(
        self, update: Update, context: WalletContext, flow: Flow, language: str, *, to_menu=False
    ) -> None:
        await context.wallet.guides.end(flow)
        await self.answers.drop(flow.telegram_id)
        text = translate(language, "guided.cancelled")
        query = update.callback_query
        menu = await menu_for(context, language, flow.telegram_id) if to_menu else None
        if query is not None:
            await _edit(update, text, reply_markup=menu)
        else:  # typed on the recipient's keyboard: the keyboard goes with it
            await update.effective_chat.send_message(text, reply_markup=ReplyKeyboardRemove())
            if to_menu:
                await update.effective_chat.send_message(
                    translate(language, "guided.menu"), reply_markup=menu
                )

    # Handlers ---------------------------------------------------------------------------------

    async def tap(self, update: Update, context: WalletContext) -> None:
        """A key of a flow's step: a digit, a quick pick, OK, Skip, Back or Cancel."""
        query = update.callback_query
        user = await current_user(update, context)
        language = language_of(update, user)
        flow_id, key = context.match.groups()
        guides = context.wallet.guides
        try:
            flow = await guides.touch(user.telegram_id, flow_id)
            if query.message is None or query.message.message_id != flow.message_id:
                raise FlowStale()
        except FlowEnded as gone:  # its message says how it ended (a card, a receipt): kept
            await query.answer(error_text(language, gone), show_alert=True)
            return
        except (FlowExpired, FlowStale) as gone:
            await query.answer(error_text(language, gone), show_alert=True)
            if isinstance(gone, FlowExpired):
                await self._expire_open(context, user.telegram_id)
            await _quietly(query.edit_message_text(error_text(language, gone)))
            return
        typed_past = (  # a digit the pad cannot take: said, not silently dropped
            flow.step == "amount" and key.isdigit() and full(flow.data.get("entry", ""))
        )
        await query.answer(translate(language, "numpad.full") if typed_past else None)
        if key == CANCEL:
            await self.cancel(update, context, flow, language)
        elif key == BACK:
            await self.back(update, context, flow, language)
        elif key == SKIP and flow.step in ("memo", "greeting"):
            await self.accept(update, context, flow, user, "", edit=True)
        elif key.startswith(QUICK) and key[1:].isdigit() and flow.step == "amount":
            await self.accept(update, context, flow, user, amount_text(int(key[1:])), edit=True)
        elif key.startswith(KIND) and flow.step == "kind":
            await self.accept(update, context, flow, user, key[1:], edit=True)
        elif key.startswith(COUNT) and key[1:].isdigit() and flow.step == "count":
            await self.accept(update, context, flow, user, key[1:], edit=True)
        elif key == OK and flow.step == "amount":
            await self.accept(update, context, flow, user, flow.data.get("entry", ""), edit=True)
        elif flow.step == "amount" and (key in (DOT, DELETE) or key.isdigit()):
            entry = press(flow.data.get("entry", ""), key)
            if entry != flow.data.get("entry", ""):
                flow = await guides.move(flow, entry=entry)
                await self.show(update, context, flow, language, edit=True)
        # any other key belongs to another step of this flow: nothing to do

    async def _expire_open(self, context: WalletContext, telegram_id: int) -> None:
        await context.wallet.guides.end_expired(telegram_id)
        await self.answers.drop(telegram_id)

    async def typed(self, update: Update, context: WalletContext) -> None:
        """A typed answer to the open step (or a key of the recipient's keyboard)."""
        user = await current_user(update, context)
        language = language_of(update, user)
        text = update.effective_message.text.strip()
        flow = await context.wallet.guides.current(user.telegram_id)
        if flow is None:
            await self.answers.drop(user.telegram_id)
            await update.effective_chat.send_message(
                translate(language, "flow_expired"), reply_markup=ReplyKeyboardRemove()
            )
            return
        if text in _labels("guided.cancel"):
            await self.cancel(update, context, flow, language)
        elif text in _labels("guided.back"):
            await self.back(update, context, flow, language)
        elif flow.step == "recipient" and text in flow.data.get("recents", {}):
            await self.accept(
                update, context, flow, user, str(flow.data["recents"][text]), edit=False
            )
        else:
            await self.accept(update, context, flow, user, text, edit=False)

    async def cancel_command(self, update: Update, context: WalletContext) -> None:
        """Leave the guided flow and the PIN keypads in progress (/cancel), or say none was."""
        user, language = await private_user(update, context, "guided.private_only")
        if user is None:
            return
        wallet = context.wallet
        flow = await wallet.guides.current(user.telegram_id)
        ended = flow is not None and await wallet.guides.end(flow)
        await self.answers.drop(user.telegram_id)
        asked = False  # "how much?" of a shop's code, an admin's note…
        for question in self.others:
            if question.open_for(user.telegram_id) is not None:
                await question.drop(user.telegram_id)
                asked = True
        keypads = await cancel_keypads(context, user.telegram_id, language, self.outcomes)
        if ended and flow.message_id is not None:  # its step's buttons go with it
            await _quietly(
                context.bot.edit_message_text(
                    translate(language, "guided.cancelled"), user.telegram_id, flow.message_id
                )
            )
        key = "cancel.done" if ended or keypads or asked else "cancel.nothing"
        await update.effective_message.reply_text(
            translate(language, key), reply_markup=ReplyKeyboardRemove()
        )

    async def leave(self, update: Update, context: WalletContext) -> None:
        """The person went back to the menu or opened another of its screens: the flow in
        progress ends, quietly (its step loses its buttons by an edit, which notifies
        nobody), and their next message is no answer to its step. What they went to
        answers for itself."""
        person = update.effective_user
        guides = context.wallet.guides
        if person is None or guides is None or not is_private(update):
            return
        flow = await guides.current(person.id)
        if flow is not None and await guides.end(flow) and flow.message_id is not None:
            language = language_of(update, await context.wallet.users.get(person.id))
            await _step_ended(context.bot, flow, translate(language, "guided.cancelled"))
        if flow is not None or self.answers.open_for(person.id) is not None:
            await self.answers.drop(person.id)

    def leavers(self, buttons: Iterable[str]) -> list:
        """For a group before the features': a plain ``/start`` (a link's is not), ``/menu``
        and a tap on one of the menu's ``buttons`` that opens no flow (a flow's own replaces
        the one in progress) leave the flow in progress (:meth:`leave`)."""
        private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        others = sorted(set(buttons) - {f"{MENU_PREFIX}{kind}" for kind in STEPS})
        return [
            CommandHandler("start", self.leave, filters=private, has_args=False),
            CommandHandler("menu", self.leave, filters=private),
            CallbackQueryHandler(
                self.leave, pattern="^(?:" + "|".join(map(re.escape, others)) + r")\Z"
            ),
        ]

    async def nothing_open(self, update: Update, context: WalletContext) -> None:
        """Back or Cancel of a recipient's keyboard whose flow is gone."""
        user = await current_user(update, context)
        language = language_of(update, user)
        await update.effective_chat.send_message(
            translate(language, "guided.nothing_open"), reply_markup=ReplyKeyboardRemove()
        )
        menu = await menu_for(context, language, user.telegram_id if user else None)
        text = translate(language, "guided.menu")
        await update.effective_chat.send_message(text, reply_markup=menu)

    async def shared(self, update: Update, context: WalletContext) -> None:
        """Contacts picked with a picker: the recipient of the open Send or the people of
        the open split (or a new one of them)."""
        user = await current_user(update, context)
        shared = update.effective_message.users_shared
        if user is None or shared.request_id not in PICKED or not shared.users:
            return
        kind, step = PICKED[shared.request_id]
        ids = [await ends.known_recipient(context, person) for person in shared.users]
        flow = await context.wallet.guides.current(user.telegram_id)
        if flow is not None and (flow.kind, flow.step) == (kind, step):
            answer = " ".join(str(i) for i in ids)
            await self.accept(update, context, flow, user, answer, edit=False)
        elif kind == "send":
            await self.begin(update, context, kind, recipient_id=ids[0])
        elif kind == "packet":
            await self.begin(update, context, kind, packet="exclusive", recipient_id=ids[0])
        else:
            await self.begin(update, context, kind, people=[str(i) for i in ids])

    def handlers(self) -> list:
        """The flows' handlers. A command sent in the middle of a flow does not end it: its
        step still takes a typed answer, until the flow ends or expires (but see
        :meth:`leavers`: going back to the menu does)."""
        private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        asked = self.answers.asked("asked_for_a_step")
        keyboard = filters.Text(sorted(_labels("guided.back") | _labels("guided.cancel")))
        return [
            CallbackQueryHandler(self.tap, pattern=FLOW_TAP),
            *(
                CallbackQueryHandler(self.starter(kind), pattern=f"^{MENU_PREFIX}{kind}$")
                for kind in STEPS
            ),
            MessageHandler(private & filters.StatusUpdate.USERS_SHARED, self.shared),
            MessageHandler(private & asked & filters.TEXT & ~filters.COMMAND, self.typed),
            MessageHandler(private & keyboard, self.nothing_open),
            command("cancel", self.cancel_command),
            start_link(PACKET_LINK, self.from_link),
        ]


async def _edit(update: Update, text: str, **options) -> None:
    """Edit the tapped message; the same text twice (OK tapped again on the same refusal)
    is no change, not an error."""
    try:
        await update.callback_query.edit_message_text(text, **options)
    except BadRequest as refused:
        if "not modified" not in refused.message:
            raise


async def _quietly(call) -> None:
    try:
        await call
    except TelegramError:  # the message is gone or unchanged: nothing to say
        pass


async def _step_ended(bot, flow: Flow, text: str) -> None:
    """Say on the flow's step that it ended: an edit of its message, which notifies nobody;
    but a recipient step's keyboard (a reply keyboard, which no edit reaches) goes only
    with a new message (a silent one), or it would stay and start the flow again."""
    if flow.step in KEYBOARD_STEPS:
        await _quietly(
            bot.send_message(
                flow.telegram_id,
                text,
                reply_markup=ReplyKeyboardRemove(),
                disable_notification=True,
            )
        )
    else:
        await _quietly(bot.edit_message_text(text, flow.telegram_id, flow.message_id))


async def sweep(context: WalletContext) -> None:
    """Every half minute: flows left half way are ended, their step saying so (quietly:
    an edit, or a silent message where a keyboard must go). Safe with several processes
    by its own SQL (no lease): ending a flow is a conditional delete, and only the process
    whose delete ended it edits its message."""
    wallet = context.application.bot_data.get(WALLET_KEY)
    if wallet is None or wallet.guides is None:
        return
    guide: Guide = context.application.bot_data[GUIDE_KEY]
    for flow in await wallet.guides.due():
        if not await wallet.guides.end(flow):
            continue
        await guide.answers.drop(flow.telegram_id)
        user = await wallet.users.get(flow.telegram_id)
        language = user.effective_language if user else "en"
        if flow.message_id is not None:
            await _step_ended(context.bot, flow, translate(language, "flow_expired"))


GUIDE_KEY = "guide"


def handlers(
    application: Application,
    outcomes: Outcomes,
    menu_buttons: Iterable[str],
    others: Iterable[Questions] = (),
) -> tuple[list, list, Questions[str]]:
    """The flows' handlers, the ones that leave a flow when the person goes back to the
    menu (``menu_buttons``: the data of its buttons; for a group before the features') and
    their stored question (see ``questions.restored_first``); the sweep of expired flows
    is scheduled. ``outcomes`` as the PIN keypad's; ``others``: the questions of other
    features that ``/cancel`` ends too."""
    guide = application.bot_data.setdefault(GUIDE_KEY, Guide(outcomes))
    guide.others = tuple(others)
    application.job_queue.run_repeating(
        sweep, interval=SWEEP_INTERVAL_S, first=SWEEP_INTERVAL_S, name="guided.sweep"
    )
    return guide.handlers(), guide.leavers(menu_buttons), guide.answers
