"""Bot API methods for photos and documents: upload, reuse by file_id, getFile."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING

from bot.sandbox.errors import bad_request
from bot.sandbox.media import new_file_ids
from bot.sandbox.messaging import (
    CAPTION_LIMIT,
    apply_reply_keyboard,
    check_markup,
    read_text,
    record_sent,
    reply_target,
    sendable_chat,
    take_slot,
)
from bot.sandbox.models import StoredFile
from bot.sandbox.params import Params, Upload, method

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

PHOTO_LIMIT, DOCUMENT_LIMIT = 10 * 1024 * 1024, 50 * 1024 * 1024


def _input_file(emulator: Emulator, params: Params, name: str) -> Upload | StoredFile:
    """The uploaded file, or the stored one a file_id names; URLs cannot be fetched here."""
    if name in params.files:
        return params.files[name]
    value = params.str(name)
    if not value:
        raise bad_request(f"there is no {name} in the request")
    if value.startswith("attach://") and value[len("attach://") :] in params.files:
        return params.files[value[len("attach://") :]]
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    stored = emulator.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


def _send_with_caption(emulator: Emulator, params: Params, **content: object) -> dict:
    chat = sendable_chat(emulator, params)
    caption, entities = read_text(
        params, "caption", entities_name="caption_entities", limit=CAPTION_LIMIT, required=False
    )
    markup = check_markup(params.json("reply_markup"))
    reply_to = reply_target(chat, params)
    take_slot(emulator, chat)
    message = emulator.new_message(
        chat,
        emulator.bot,
        caption=caption,
        caption_entities=entities,
        reply_to=reply_to,
        reply_markup=apply_reply_keyboard(chat, markup),
        **content,
    )
    return record_sent(emulator, message)


@method("sendPhoto")
async def send_photo(emulator: Emulator, params: Params) -> dict:
    sendable_chat(emulator, params)
    source = _input_file(emulator, params, "photo")
    if isinstance(source, StoredFile):
        sizes = emulator.photo_sets.get(source.file_id)
        if sizes is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
    else:
        if len(source.content) > PHOTO_LIMIT:
            raise bad_request("PHOTO_SAVE_FILE_INVALID")
        sizes = emulator.photo_sizes(source.content)
        if sizes is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
    return _send_with_caption(emulator, params, photo=sizes)


@method("sendDocument")
async def send_document(emulator: Emulator, params: Params) -> dict:
    sendable_chat(emulator, params)
    source = _input_file(emulator, params, "document")
    if isinstance(source, Upload):
        if len(source.content) > DOCUMENT_LIMIT:
            raise bad_request("file is too big")
        name = source.filename or "file"
        mime = source.content_type
        if mime in ("", "application/octet-stream"):
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        file_id, unique_id = new_file_ids("document")
        source = emulator.store_file(
            StoredFile(
                file_id,
                unique_id,
                f"documents/file_{len(emulator.files)}_{name}",
                source.content,
                mime_type=mime,
                file_name=name,
            )
        )
    document = {
        "file_id": source.file_id,
        "file_unique_id": source.file_unique_id,
        "file_size": len(source.content),
        "mime_type": source.mime_type,
    }
    if source.file_name:
        document["file_name"] = source.file_name
    return _send_with_caption(emulator, params, document=document)


@method("getFile")
async def get_file(emulator: Emulator, params: Params) -> dict:
    stored = emulator.files.get(params.str("file_id", required=True) or "")
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.to_api()
