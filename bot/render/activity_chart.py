"""The wallet's last days as a PNG for /stats: money moved per day by transfer kind
(stacked bars) and new users per day (bars).

Drawn with pillow alone, with the fonts of :mod:`bot.render.statement_chart` (a CJK font
when one is installed). An empty wallet draws the axes and says there was no activity.
Amounts are whole fen to the end.
"""

from __future__ import annotations

import io

from bot.domain.adminview import Activity
from bot.domain.money import format_fen
from bot.i18n import translate
from bot.render.labels import china_time, kind_label
from bot.render.statement_chart import (
    FONT_CANDIDATES,
    HEIGHT,
    WIDTH,
    Canvas,
    load_font,
    tick_label,
    ticks,
)

__all__ = ["HEIGHT", "MAX_KINDS", "WIDTH", "activity_chart"]

MAX_KINDS = 6  # kinds drawn on their own; the rest together as "other"
_INK, _MUTED, _GRID = "#1f2933", "#616e7c", "#e4e7eb"  # as the statement chart's
_USERS = "#1565c0"
_PALETTE = ("#e53935", "#fb8c00", "#fdd835", "#43a047", "#00897b", "#5e35b1", "#8d6e63")
_LEFT, _RIGHT = 150, 1150


def _series(language: str, activity: Activity) -> list[tuple[str, set[str]]]:
    """(label, kinds) drawn bottom up, largest first: kinds of one label together, and
    beyond ``MAX_KINDS`` labels the rest as "other"."""
    totals: dict[str, int] = {}
    kinds_of: dict[str, set[str]] = {}
    for day in activity.days:
        for kind, fen in day.volume_by_kind.items():
            label = kind_label(language, kind)
            totals[label] = totals.get(label, 0) + fen
            kinds_of.setdefault(label, set()).add(kind)
    labels = sorted(totals, key=lambda label: (-totals[label], label))
    if len(labels) <= MAX_KINDS:
        return [(label, kinds_of[label]) for label in labels]
    shown = [(label, kinds_of[label]) for label in labels[: MAX_KINDS - 1]]
    rest = set().union(*(kinds_of[label] for label in labels[MAX_KINDS - 1 :]))
    return [*shown, (translate(language, "history.kind.other"), rest)]


def _panel(canvas: Canvas, top: int, bottom: int, values: list[int], label) -> float:
    """Grid lines and tick labels; the scale in pixels per unit."""
    scale = (bottom - top) / values[-1]
    for value in values:
        y = bottom - value * scale
        canvas.draw.line([(_LEFT, y), (_RIGHT, y)], fill=_GRID, width=1)
        canvas.text((_LEFT - 10, y), label(value), 14, fill=_MUTED, align="right", middle=True)
    canvas.draw.line([(_LEFT, top), (_LEFT, bottom)], fill=_INK, width=2)
    canvas.draw.line([(_LEFT, bottom), (_RIGHT, bottom)], fill=_INK, width=2)
    return scale


def _day_axis(canvas: Canvas, activity: Activity, bottom: int, slot: float) -> None:
    count = len(activity.days)
    for i, day in enumerate(activity.days):
        if i in (0, count - 1) or (i % 5 == 0 and count - 1 - i >= 3):
            x = _LEFT + slot * (i + 0.5)
            canvas.draw.line([(x, bottom), (x, bottom + 6)], fill=_INK, width=1)
            canvas.text(
                (x, bottom + 10),
                china_time(day.start_ms).strftime("%m-%d"),
                14,
                fill=_MUTED,
                align="center",
            )


def _nothing(canvas: Canvas, language: str, top: int, bottom: int) -> None:
    canvas.text(
        ((_LEFT + _RIGHT) / 2, (top + bottom) / 2),
        translate(language, "adminview.chart.nothing"),
        20,
        fill=_MUTED,
        align="center",
        middle=True,
    )


def _draw_volume(canvas: Canvas, language: str, activity: Activity) -> None:
    top, bottom = 190, 470
    canvas.text((40, 120), translate(language, "adminview.chart.volume"), 24)
    series = _series(language, activity)
    x = 40
    for i, (label, _) in enumerate(series):  # the legend
        canvas.draw.rectangle([(x, 160), (x + 16, 176)], fill=_PALETTE[i % len(_PALETTE)])
        canvas.text((x + 22, 168), label, 16, middle=True)
        x += 40 + canvas.draw.textlength(label, font=load_font(16, canvas.candidates))
    highest = max((day.volume for day in activity.days), default=0)
    values = ticks(0, highest, 4)
    step = values[1] - values[0]
    scale = _panel(canvas, top, bottom, values, lambda v: tick_label(v, step))
    slot = (_RIGHT - _LEFT) / len(activity.days)
    _day_axis(canvas, activity, bottom, slot)
    if not highest:
        _nothing(canvas, language, top, bottom)
        return
    width = max(2.0, slot * 0.7)
    for i, day in enumerate(activity.days):
        middle, base = _LEFT + slot * (i + 0.5), float(bottom)
        for n, (_, kinds) in enumerate(series):
            fen = sum(day.volume_by_kind.get(kind, 0) for kind in kinds)
            if fen:
                height = max(fen * scale, 1.0)
                canvas.draw.rectangle(
                    [(middle - width / 2, base - height), (middle + width / 2, base - 1)],
                    fill=_PALETTE[n % len(_PALETTE)],
                )
                base -= height


def _draw_users(canvas: Canvas, language: str, activity: Activity) -> None:
    top, bottom = 600, 830
    canvas.text((40, 545), translate(language, "adminview.chart.new_users"), 24)
    highest = max((day.new_users for day in activity.days), default=0)
    values = list(range(0, max(highest, 4) + 1, max(1, -(-max(highest, 4) // 4))))
    if values[-1] < max(highest, 4):
        values.append(values[-1] + values[1])
    scale = _panel(canvas, top, bottom, values, str)
    slot = (_RIGHT - _LEFT) / len(activity.days)
    _day_axis(canvas, activity, bottom, slot)
    if not highest:
        _nothing(canvas, language, top, bottom)
        return
    width = max(2.0, slot * 0.7)
    for i, day in enumerate(activity.days):
        if day.new_users:
            middle = _LEFT + slot * (i + 0.5)
            y = bottom - day.new_users * scale
            canvas.draw.rectangle(
                [(middle - width / 2, y), (middle + width / 2, bottom - 1)], fill=_USERS
            )


def activity_chart(
    activity: Activity, language: str, *, fonts: tuple[str, ...] = FONT_CANDIDATES
) -> bytes:
    """The picture as PNG bytes (``WIDTH`` × ``HEIGHT`` pixels)."""
    canvas = Canvas(fonts)
    canvas.text((40, 24), translate(language, "adminview.chart.title", days=len(activity.days)), 34)
    canvas.text(
        (40, 74),
        translate(
            language,
            "adminview.chart.summary",
            volume=format_fen(sum(day.volume for day in activity.days)),
            users=sum(day.new_users for day in activity.days),
        ),
        20,
        fill=_MUTED,
    )
    _draw_volume(canvas, language, activity)
    _draw_users(canvas, language, activity)
    out = io.BytesIO()
    canvas.image.save(out, format="PNG", optimize=True)
    return out.getvalue()
