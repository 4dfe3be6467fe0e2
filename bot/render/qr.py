"""QR codes as PNG pictures: payment links, and anything else people scan with a phone."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage

__all__ = ["qr_png"]


def qr_png(data: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """A PNG picture of ``data`` as a QR code.

    Error correction level M (15 % of the code may be lost): a link still scans from a
    phone screen photographed at an angle. ``border`` is the quiet zone, in modules; four
    is what the standard asks for.
    """
    if not data:
        raise ValueError("a QR code needs something to say")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(image_factory=PilImage).save(buffer, format="PNG")
    return buffer.getvalue()
