"""The statement picture: a real PNG of the promised size, in both languages, with any font."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot.domain.history import Party
from bot.domain.model import AccountKind, Transfer, TransferFlag
from bot.render.statement_chart import HEIGHT, WIDTH, load_font, statement_chart, ticks
from bot.wallet.statements import Month, build_statement

ROOT = Path(__file__).resolve().parents[2] / "bot" / "render"
WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
JANUARY = Month(2026, 1)
DAY = 86_400_000
PARTIES = {
    1: Party(1, AccountKind.SYSTEM, "external"),
    2: Party(2, AccountKind.SYSTEM, "escrow:redpackets"),
    11: Party(11, AccountKind.USER, "user:2", "王芳"),
}


def transfer(id: int, debit: int, credit: int, amount: int, kind: str, at: int) -> Transfer:
    return Transfer(
        id,
        f"k{id}",
        debit,
        credit,
        amount,
        "CNY",
        kind,
        TransferFlag.POSTED,
        None,
        "",
        "",
        0,
        at,
        "",
        "",
    )


SMALL_LEDGER = [
    transfer(1, 1, 10, 100_00, "topup", JANUARY.start_ms + 5_000),
    transfer(2, 10, 11, 12_34, "transfer", JANUARY.start_ms + 4 * DAY),
    transfer(3, 10, 2, 20_00, "red_packet", JANUARY.start_ms + 17 * DAY),
    transfer(4, 10, 11, 1, "tip", JANUARY.start_ms + 17 * DAY + 60_000),
    transfer(5, 11, 10, 5_00, "transfer", JANUARY.end_ms - 1_000),
    transfer(6, 10, 1, 30_00, "withdraw", JANUARY.end_ms - 1_000),
]


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_chart_is_a_png_of_the_promised_size(language):
    statement = build_statement(JANUARY, 10, 2_50, SMALL_LEDGER, PARTIES)
    data = statement_chart(statement, language)

    image = open_png(data)
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT)
    assert 10_000 < len(data) < 1_000_000
    assert len(image.getcolors(maxcolors=1_000_000)) > 10  # something was drawn


def test_the_two_languages_draw_different_text():
    statement = build_statement(JANUARY, 10, 2_50, SMALL_LEDGER, PARTIES)
    assert statement_chart(statement, "en") != statement_chart(statement, "zh")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_without_any_installed_font_the_builtin_one_is_used(language):
    statement = build_statement(JANUARY, 10, 0, SMALL_LEDGER, PARTIES)
    data = statement_chart(statement, language, fonts=("/no/such/font.ttf",))
    assert open_png(data).size == (WIDTH, HEIGHT)


@pytest.mark.skipif(not Path(WQY).exists(), reason="fonts-wqy-microhei is not installed")
def test_a_cjk_font_is_preferred_when_installed():
    font = load_font(20)
    assert isinstance(font, ImageFont.FreeTypeFont) and font.path == WQY
    assert font.getbbox("余额")[2] > 20  # real glyphs, not a missing-glyph box


def test_a_month_without_spending_and_a_negative_system_view_still_draw():
    incoming = [transfer(1, 1, 10, 50_00, "topup", JANUARY.start_ms + 1)]
    only_in = build_statement(JANUARY, 10, 0, incoming, PARTIES)
    assert open_png(statement_chart(only_in, "zh")).size == (WIDTH, HEIGHT)

    gateway = {10: Party(10, AccountKind.USER, "user:1", "Alice")}
    negative = build_statement(JANUARY, 1, 0, incoming, gateway)  # the gateway goes below 0
    assert negative.closing_balance == -50_00
    assert open_png(statement_chart(negative, "en")).size == (WIDTH, HEIGHT)


def test_a_busy_month_with_many_kinds_draws_at_most_eight_bars():
    kinds = [
        "transfer",
        "tip",
        "red_packet",
        "withdraw",
        "fee",
        "voucher",
        "split",
        "refund",
        "merchant_payment",
        "something_new",
    ]
    rows = [transfer(1, 1, 10, 10_000_00, "topup", JANUARY.start_ms)]
    rows += [
        transfer(i + 2, 10, 11, 1_00 + i, kinds[i % len(kinds)], JANUARY.start_ms + i * 60_000)
        for i in range(600)
    ]
    parties = {**PARTIES, 11: Party(11, AccountKind.USER, "user:9", "Bob")}
    statement = build_statement(JANUARY, 10, 0, rows, parties)
    assert open_png(statement_chart(statement, "zh")).size == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 100_00, [0, 20_00, 40_00, 60_00, 80_00, 100_00]),
        (0, 1, [0, 1]),
        (0, 0, [0, 20, 40, 60, 80, 100]),
        (-3_50, 10_00, [-5_00, 0, 5_00, 10_00]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_range(low, high, expected):
    assert ticks(low, high) == expected


def test_the_renderers_import_no_chat_code():
    for path in ROOT.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("telegram", "bot.handlers")), f"{path.name}: {name}"
