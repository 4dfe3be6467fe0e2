"""Pictures and files: sizes, thumbnails and identifiers as Telegram hands them out."""

from __future__ import annotations

import io
import secrets

from PIL import Image, UnidentifiedImageError

__all__ = ["THUMBNAIL_SIDE", "image_size", "new_file_ids", "thumbnail"]

THUMBNAIL_SIDE = 90
_PREFIX = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI"}
_FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}


def image_size(content: bytes) -> tuple[int, int, str, str] | None:
    """(width, height, extension, mime type) of a picture, or None if it is not one."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            fmt = image.format or ""
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    extension, mime = _FORMATS.get(fmt, ("jpg", "image/jpeg"))
    return width, height, extension, mime


def thumbnail(content: bytes, side: int = THUMBNAIL_SIDE) -> tuple[bytes, int, int]:
    """A JPEG no larger than ``side`` pixels on its longer edge, with its size."""
    with Image.open(io.BytesIO(content)) as image:
        image = image.convert("RGB")
        image.thumbnail((side, side))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=80)
        return out.getvalue(), image.width, image.height


def new_file_ids(kind: str) -> tuple[str, str]:
    """A fresh (file_id, file_unique_id) pair in Telegram's style."""
    prefix = _PREFIX.get(kind, _PREFIX["document"])
    return prefix + secrets.token_urlsafe(48), "AQAD" + secrets.token_urlsafe(9)
