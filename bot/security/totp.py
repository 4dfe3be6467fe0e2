"""Two-factor codes: RFC 6238 TOTP as authenticator apps make them.

SHA-1, six digits, 30-second steps: the defaults every authenticator app assumes when it
scans a QR code, so they are fixed here rather than configurable. A code is accepted
one step early or late (clocks drift, people type slowly), and each step only once: the
caller stores the step :func:`verify` returns and passes it back next time, so a code
seen over someone's shoulder cannot be used again.

Times are seconds since the Unix epoch (TOTP's own unit).
"""

from __future__ import annotations

import hmac
import io
import os
import re
import unicodedata

import qrcode
import qrcode.constants
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from qrcode.image.pil import PilImage

__all__ = [
    "DIGITS",
    "DRIFT_STEPS",
    "STEP_S",
    "code_at",
    "new_secret",
    "provisioning_uri",
    "qr_png",
    "verify",
]

DIGITS = 6
STEP_S = 30
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block RFC 4226 recommends

_CODE = re.compile(r"[0-9]{6}", re.ASCII)


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, SHA1(), STEP_S)


def new_secret() -> bytes:
    """A fresh random secret for one user; store it encrypted."""
    return os.urandom(SECRET_BYTES)


def provisioning_uri(secret: bytes, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code."""
    return _totp(secret).get_provisioning_uri(account_name, issuer)


def code_at(secret: bytes, now_s: float) -> str:
    """The code an authenticator app shows at ``now_s``."""
    return _totp(secret).generate(now_s).decode("ascii")


def _normalise(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    folded = "".join(unicodedata.normalize("NFKC", code).split())  # "１２３ ４５６" -> "123456"
    return folded if _CODE.fullmatch(folded) else None


def verify(secret: bytes, code: str, now_s: float, last_used_step: int | None) -> int | None:
    """Return the time step ``code`` belongs to, or ``None`` if it is not accepted.

    Accepted: the code of the current step or of one step either side, if that step is
    later than ``last_used_step`` (``None``: no code used yet). Spaces and full-width
    digits are folded away; anything that is not then six digits is refused, never
    raised. Store the returned step as the next ``last_used_step``.
    """
    typed = _normalise(code)
    if typed is None:
        return None
    totp = _totp(secret)
    current = int(now_s) // STEP_S
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate(step * STEP_S).decode("ascii")
        fresh = last_used_step is None or step > last_used_step
        if hmac.compare_digest(expected, typed) and fresh and matched is None:
            matched = step
    return matched


def qr_png(uri: str) -> bytes:
    """A PNG picture of ``uri`` as a QR code, for the user to scan."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(uri)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(image_factory=PilImage).save(buffer, format="PNG")
    return buffer.getvalue()
