"""Two-factor codes: RFC 6238 vectors, clock drift, replays, normalisation and the QR code."""

import base64
import io
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import qrcode
import qrcode.constants
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from PIL import Image

from bot.security.totp import STEP_S, code_at, new_secret, provisioning_uri, qr_png, verify

RFC_SECRET = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1
NOW = 1_700_000_000  # some moment; step NOW // 30
STEP = NOW // STEP_S


def test_rfc_6238_vector_for_sha1():
    assert TOTP(RFC_SECRET, 8, SHA1(), 30).generate(59) == b"94287082"
    assert code_at(RFC_SECRET, 59) == "287082"
    assert verify(RFC_SECRET, "287082", 59, None) == 1


@pytest.mark.parametrize(("t", "code"), [(1111111109, "081804"), (1234567890, "005924")])
def test_more_rfc_6238_vectors_keep_their_last_six_digits(t, code):
    assert code_at(RFC_SECRET, t) == code  # 07081804 and 89005924 in the RFC
    assert verify(RFC_SECRET, code, t, None) == t // STEP_S


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_one_step_of_drift_either_way_is_accepted(drift):
    secret = new_secret()
    code = code_at(secret, NOW + drift * STEP_S)
    assert verify(secret, code, NOW, None) == STEP + drift


@pytest.mark.parametrize("drift", [-2, 2])
def test_two_steps_away_is_refused(drift):
    secret = new_secret()
    code = code_at(secret, NOW + drift * STEP_S)
    assert verify(secret, code, NOW, None) is None


def test_a_used_step_cannot_be_replayed():
    secret = new_secret()
    code = code_at(secret, NOW)
    used = verify(secret, code, NOW, None)
    assert used == STEP
    assert verify(secret, code, NOW, used) is None
    assert verify(secret, code, NOW + 10, used) is None  # same step, a little later


def test_an_earlier_step_than_the_last_used_is_refused():
    secret = new_secret()
    earlier = code_at(secret, NOW - STEP_S)
    assert verify(secret, earlier, NOW, STEP) is None


def test_the_next_step_is_accepted_after_a_used_one():
    secret = new_secret()
    used = verify(secret, code_at(secret, NOW), NOW, None)
    later = NOW + STEP_S
    assert verify(secret, code_at(secret, later), later, used) == STEP + 1


def test_another_secret_code_is_refused():
    assert verify(new_secret(), code_at(new_secret(), NOW), NOW, None) is None


@pytest.mark.parametrize(
    "garbage", ["", "12345", "1234567", "abcdef", "12345a", "٢٨٧٠٨٢", None, 287082, "2870８2x"]
)
def test_garbage_is_refused_without_an_exception(garbage):
    assert verify(RFC_SECRET, garbage, 59, None) is None


@pytest.mark.parametrize("typed", ["287 082", " 287082 ", "２８７０８２", "２８７　０８２"])
def test_spaces_and_full_width_digits_are_folded(typed):
    assert verify(RFC_SECRET, typed, 59, None) == 1


def test_new_secrets_are_twenty_random_bytes():
    first, second = new_secret(), new_secret()
    assert len(first) == 20 and first != second


def test_provisioning_uri_names_issuer_account_and_base32_secret():
    secret = new_secret()
    uri = provisioning_uri(secret, "alice", "Community Wallet")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Community Wallet:alice"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Community Wallet"]
    assert base64.b32decode(query["secret"][0]) == secret
    assert query["digits"] == ["6"] and query["period"] == ["30"]


def test_qr_png_is_a_png_of_exactly_the_uri_code():
    uri = provisioning_uri(RFC_SECRET, "alice", "Community Wallet")
    png = qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"

    # No QR decoder is installed: compare the pixels with the module matrix of the URI.
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    expected.add_data(uri)
    expected.make(fit=True)
    matrix = expected.get_matrix()  # includes the quiet border
    box = image.width // len(matrix)
    assert image.size == (box * len(matrix), box * len(matrix)) and box >= 4
    grey = image.convert("L")
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            pixel = grey.getpixel((col * box + box // 2, row * box + box // 2))
            assert (pixel < 128) == dark, (row, col)
