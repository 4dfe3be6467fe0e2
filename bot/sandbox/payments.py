"""Bot API methods for payments (invoices, pre-checkout answers) and inline mode."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.sandbox.errors import bad_request
from bot.sandbox.messaging import (
    QUERY_TOO_OLD,
    check_markup,
    record_sent,
    reply_target,
    sendable_chat,
    take_slot,
)
from bot.sandbox.params import Params, method

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

STARS = "XTR"


@method("sendInvoice")
async def send_invoice(emulator: Emulator, params: Params) -> dict:
    chat = sendable_chat(emulator, params)
    title = params.str("title") or ""
    description = params.str("description") or ""
    payload = params.str("payload") or ""
    currency = (params.str("currency", required=True) or "").upper()
    provider_token = params.str("provider_token") or ""
    prices = params.json("prices") or []
    if not 1 <= len(title) <= 32:
        raise bad_request("TITLE_INVALID" if title else "title is empty")
    if not 1 <= len(description) <= 255:
        raise bad_request("DESCRIPTION_INVALID" if description else "description is empty")
    if not 1 <= len(payload.encode("utf-8")) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID" if payload else "payload is empty")
    if (currency == STARS) == bool(provider_token):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if not isinstance(prices, list) or not prices:
        raise bad_request("prices are empty")
    try:
        total = sum(int(price["amount"]) for price in prices)
    except (KeyError, TypeError, ValueError):
        raise bad_request("can't parse prices JSON object") from None
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    markup = check_markup(params.json("reply_markup"), allow_reply_keyboard=False)
    reply_to = reply_target(chat, params)
    take_slot(emulator, chat)
    invoice = {
        "title": title,
        "description": description,
        "start_parameter": params.str("start_parameter") or "",
        "currency": currency,
        "total_amount": total,
    }
    message = emulator.new_message(
        chat,
        emulator.bot,
        invoice=invoice,
        invoice_payload=payload,
        reply_markup=markup,
        reply_to=reply_to,
    )
    return record_sent(emulator, message, invoice_payload=payload)


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(emulator: Emulator, params: Params) -> bool:
    query_id = params.str("pre_checkout_query_id", required=True) or ""
    waiter = emulator.pre_checkouts.get(query_id)
    if waiter is None or waiter.done():
        raise bad_request(QUERY_TOO_OLD)
    ok = params.bool("ok")
    error = params.str("error_message")
    if not ok and not error:
        raise bad_request("ERROR_MESSAGE_EMPTY")
    waiter.set_result((ok, None if ok else error))
    emulator.record(
        "pre_checkout_answer",
        by_bot=True,
        text=error,
        data={"pre_checkout_query_id": query_id, "ok": ok},
    )
    return True


@method("answerInlineQuery")
async def answer_inline_query(emulator: Emulator, params: Params) -> bool:
    query_id = params.str("inline_query_id", required=True) or ""
    state = emulator.inline_queries.get(query_id)
    answer = state["answer"] if state else None
    if state is None or answer.done() or time.monotonic() - state["at"] > emulator.inline_timeout:
        raise bad_request(QUERY_TOO_OLD)
    results = params.json("results")
    if not isinstance(results, list):
        raise bad_request("can't parse results JSON object")
    if len(results) > 50:
        raise bad_request("RESULTS_TOO_MUCH")
    seen = set()
    for result in results:
        result_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        if not result.get("type") or not 1 <= len(result_id.encode()) <= 64:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        check_markup(result.get("reply_markup"), allow_reply_keyboard=False)
    answer.set_result(results)
    emulator.record(
        "inline_answer",
        by_bot=True,
        user_id=state["user_id"],
        data={"inline_query_id": query_id, "results": results},
    )
    return True
