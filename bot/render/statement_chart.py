"""A month at a glance as a PNG: spending by category (bars) and the balance (a line).

Drawn with pillow alone. Text uses a CJK font when one is installed (WenQuanYi, Noto CJK,
Droid Sans Fallback), which also covers Latin letters; else DejaVu Sans; else pillow's
built-in font, in which Chinese shows as boxes but the picture is still made. Amounts
are integers of fen to the end: the axes' ticks are whole fen, formatted as ``¥``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

from PIL import Image, ImageDraw, ImageFont

from bot.domain.money import FEN_PER_YUAN, format_fen
from bot.i18n import translate
from bot.render.labels import kind_label
from bot.wallet.statements import Statement

__all__ = [
    "FONT_CANDIDATES",
    "HEIGHT",
    "WIDTH",
    "Canvas",
    "load_font",
    "statement_chart",
    "tick_label",
    "ticks",
]

WIDTH, HEIGHT = 1200, 900
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
MAX_BARS = 8
_DAY_MS = 86_400_000
_BACKGROUND, _INK, _MUTED, _GRID = "#ffffff", "#1f2933", "#616e7c", "#e4e7eb"
_LINE = "#1565c0"
_PALETTE = ("#e53935", "#fb8c00", "#fdd835", "#43a047", "#00897b", "#1e88e5", "#5e35b1", "#8d6e63")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=32)
def load_font(size: int, candidates: tuple[str, ...] = FONT_CANDIDATES) -> Font:
    """The first candidate font that loads, else pillow's built-in one."""
    for path in candidates:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # pillow < 10.1: one bitmap size only
        return ImageFont.load_default()


def ticks(low: int, high: int, count: int = 5) -> list[int]:
    """Round tick values (1, 2 or 5 × 10ⁿ fen apart) from ``low`` or below to ``high`` or above."""
    if high <= low:
        high = low + FEN_PER_YUAN
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * count >= high - low:
                first, last = low // step * step, -(-high // step) * step
                return list(range(first, last + step, step))
        magnitude *= 10


def tick_label(fen: int, step: int) -> str:
    if step % FEN_PER_YUAN == 0:
        sign = "-" if fen < 0 else ""
        return f"{sign}¥{abs(fen) // FEN_PER_YUAN:,}"
    return format_fen(fen)


class Canvas:
    """A white picture of ``WIDTH`` × ``HEIGHT`` to draw a chart on, with its fonts."""

    def __init__(self, candidates: tuple[str, ...]) -> None:
        self.image = Image.new("RGB", (WIDTH, HEIGHT), _BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.candidates = candidates

    def font(self, size: int) -> Font:
        return load_font(size, self.candidates)

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        *,
        fill: str = _INK,
        align: str = "left",
        middle: bool = False,
    ) -> None:
        """Text at ``xy`` (its left, right or centre; its top, or middle)."""
        font = self.font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        x, y = xy
        if align == "right":
            x -= right
        elif align == "center":
            x -= (left + right) / 2
        y -= (top + bottom) / 2 if middle else top
        self.draw.text((x, y), text, font=font, fill=fill)

    def vertical_text(self, center: tuple[float, float], text: str, size: int) -> None:
        """Text turned a quarter left (an axis label), centred on ``center``."""
        font = self.font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        label = Image.new("RGBA", (right - left + 4, bottom - top + 4), (0, 0, 0, 0))
        ImageDraw.Draw(label).text((2 - left, 2 - top), text, font=font, fill=_MUTED)
        label = label.rotate(90, expand=True)
        x, y = center
        self.image.paste(label, (int(x - label.width / 2), int(y - label.height / 2)), label)


def _spending(language: str, statement: Statement) -> list[tuple[str, int]]:
    """(label, fen) largest first; kinds with the same label merged, the tail as "other"."""
    merged: dict[str, int] = {}
    for kind, fen in statement.spending_by_kind():
        label = kind_label(language, kind)
        merged[label] = merged.get(label, 0) + fen
    bars = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    if len(bars) > MAX_BARS:
        rest = sum(fen for _, fen in bars[MAX_BARS - 1 :])
        bars = [*bars[: MAX_BARS - 1], (translate(language, "history.kind.other"), rest)]
    return bars


def _draw_bars(canvas: Canvas, language: str, bars: Sequence[tuple[str, int]]) -> None:
    left, right, top, bottom = 260, 1120, 180, 420
    canvas.text((40, 130), translate(language, "statement.chart.spending"), 24)
    canvas.vertical_text(
        (28, (top + bottom) / 2), translate(language, "statement.chart.category"), 16
    )
    canvas.text(
        ((left + right) / 2, bottom + 34),
        translate(language, "statement.chart.amount"),
        16,
        fill=_MUTED,
        align="center",
    )
    if not bars:
        canvas.text(
            ((left + right) / 2, (top + bottom) / 2),
            translate(language, "statement.chart.no_spending"),
            20,
            fill=_MUTED,
            align="center",
            middle=True,
        )
        return
    values = ticks(0, max(fen for _, fen in bars), 5)
    scale = (right - left) * 0.85 / values[-1]
    for value in values:
        x = left + value * scale
        canvas.draw.line([(x, top), (x, bottom)], fill=_GRID, width=1)
        canvas.text(
            (x, bottom + 6),
            tick_label(value, values[1] - values[0]),
            14,
            fill=_MUTED,
            align="center",
        )
    canvas.draw.line([(left, top), (left, bottom)], fill=_INK, width=2)
    canvas.draw.line([(left, bottom), (right, bottom)], fill=_INK, width=2)
    slot = (bottom - top) / len(bars)
    thickness = min(34, slot * 0.7)
    for i, (label, fen) in enumerate(bars):
        middle = top + slot * (i + 0.5)
        end = left + max(fen * scale, 2)
        canvas.draw.rectangle(
            [(left + 1, middle - thickness / 2), (end, middle + thickness / 2)],
            fill=_PALETTE[i % len(_PALETTE)],
        )
        canvas.text((left - 12, middle), label, 18, align="right", middle=True)
        canvas.text((end + 8, middle), format_fen(fen), 16, middle=True)


def _draw_balance(canvas: Canvas, language: str, statement: Statement) -> None:
    left, right, top, bottom = 170, 1120, 540, 800
    month = statement.month
    canvas.text((40, 485), translate(language, "statement.chart.balance"), 24)
    canvas.vertical_text(
        (28, (top + bottom) / 2), translate(language, "statement.chart.balance_axis"), 16
    )
    canvas.text(
        ((left + right) / 2, bottom + 38),
        translate(language, "statement.chart.day"),
        16,
        fill=_MUTED,
        align="center",
    )
    points = statement.balance_points()
    balances = [fen for _, fen in points]
    values = ticks(min(0, *balances), max(balances), 5)
    low, high = values[0], values[-1]
    step = values[1] - values[0]

    def x_of(ms: int) -> float:
        return left + (ms - month.start_ms) / (month.end_ms - month.start_ms) * (right - left)

    def y_of(fen: int) -> float:
        return bottom - (fen - low) / (high - low) * (bottom - top)

    for value in values:
        y = y_of(value)
        canvas.draw.line([(left, y), (right, y)], fill=_GRID, width=1)
        canvas.text(
            (left - 10, y), tick_label(value, step), 14, fill=_MUTED, align="right", middle=True
        )
    for day in range(1, month.days + 1):
        if day in (1, month.days) or (day % 5 == 0 and month.days - day >= 3):
            x = x_of(month.start_ms + (day - 1) * _DAY_MS)
            canvas.draw.line([(x, bottom), (x, bottom + 6)], fill=_INK, width=1)
            canvas.text((x, bottom + 10), str(day), 14, fill=_MUTED, align="center")
    if low < 0 < high:
        canvas.draw.line([(left, y_of(0)), (right, y_of(0))], fill=_MUTED, width=1)
    canvas.draw.line([(left, top), (left, bottom)], fill=_INK, width=2)
    canvas.draw.line([(left, bottom), (right, bottom)], fill=_INK, width=2)

    line = [(x_of(points[0][0]), y_of(points[0][1]))]
    for (_, before), (ms, after) in pairwise(points):
        line += [(x_of(ms), y_of(before)), (x_of(ms), y_of(after))]
    line.append((x_of(statement.until_ms), y_of(points[-1][1])))
    canvas.draw.line(line, fill=_LINE, width=3, joint="curve")
    if len(points) <= 200:
        for ms, fen in points[1:]:
            x, y = x_of(ms), y_of(fen)
            canvas.draw.ellipse([(x - 4, y - 4), (x + 4, y + 4)], fill=_LINE)


def statement_chart(
    statement: Statement, language: str, *, fonts: tuple[str, ...] = FONT_CANDIDATES
) -> bytes:
    """The statement's picture as PNG bytes (``WIDTH`` × ``HEIGHT`` pixels)."""
    canvas = Canvas(fonts)
    canvas.text(
        (40, 24), translate(language, "statement.chart.title", month=statement.month.label), 34
    )
    canvas.text(
        (40, 74),
        translate(
            language,
            "statement.chart.summary",
            money_in=format_fen(statement.money_in),
            money_out=format_fen(statement.money_out),
            balance=format_fen(statement.closing_balance),
        ),
        20,
        fill=_MUTED,
    )
    _draw_bars(canvas, language, _spending(language, statement))
    _draw_balance(canvas, language, statement)
    out = io.BytesIO()
    canvas.image.save(out, format="PNG", optimize=True)
    return out.getvalue()
