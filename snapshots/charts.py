"""Chart geometry for the server-rendered SVG charts (pure: plain values in, coordinates out).

One module for every page's charts, one template draws them all (``templates/includes/chart.html``):
a frame with real axes — "nice" ticks (1, 2, 2.5 or 5 × 10ᵏ) and grid lines on y, dates or ET
clock times on x — series drawn as lines with a hover dot per point (an SVG ``<title>``: hover
values work without JavaScript), horizontal levels (take profit, stop), markers (entry, exit) and
bars (histograms). Nothing here reads the database; callers pass values, labels and hover texts.

x is a position, not necessarily a time: curves by trading day use the day's rank (weekends and
holidays take no room) and a trade's marks use the mark's rank (nights take none), with tick
labels that say the date or the ET clock time at that rank.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from snapshots.formatting import usd_text
from strategy.quant.analytics import ChainAnalytics
from strategy.quant.timemodel import NEW_YORK

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 14, 40
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def usd(value: float | Decimal | None, *, signed: bool = False) -> str:
    """Money in the pages' one format (``formatting.usd_text``: $1,234.56, -$1,234.56), "—" when
    undefined, "+" in front of a gain when ``signed``."""
    if value is None:
        return "—"
    text = usd_text(value)
    return f"+{text}" if signed and value > 0 else text


def linear_scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def nice_step(span: float, target: int = 5) -> float:
    """The tick step for ``span`` with about ``target`` intervals: 1, 2, 2.5 or 5 × 10ᵏ."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-12))


def nice_domain(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """(lo, hi, ticks): the range widened to whole steps so the first and last ticks sit on its ends."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = [round(i * step, 10) + 0.0 for i in range(start, stop + 1)]
    return ticks[0], ticks[-1], ticks


def number_text(step: float) -> Callable[[float], str]:
    """Tick text with as many decimals as the step needs (0.25 → two, 2.5 → one), thousands separated."""
    decimals = 0
    if step > 0:
        decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
        if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-9:
            decimals += 1
    return lambda v: f"{v + 0.0:,.{decimals}f}"


def usd_tick_text(step: float) -> Callable[[float], str]:
    """USD tick text: $1.2k style above a thousand, else whole or cent dollars."""
    def text(v: float) -> str:
        sign = "-" if v < 0 else ""
        a = abs(v)
        if a == 0:
            return "$0"
        if step >= 1000:
            return f"{sign}${a / 1000:,.{0 if step % 1000 == 0 else 1}f}k"
        return f"{sign}${a:,.{0 if step >= 1 else 2}f}"
    return text


@dataclass(frozen=True)
class Line:
    """One series: x positions, y values and the hover text of each point."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    titles: Sequence[str] = ()
    cls: str = "s0"
    dot_classes: Sequence[str] = ()


@dataclass(frozen=True)
class Level:
    """A horizontal line at ``value`` (take profit, stop, entry credit), labelled at the right."""

    key: str
    label: str
    value: float
    text: str = ""


@dataclass(frozen=True)
class Marker:
    """A labelled point (entry, exit) drawn over the series."""

    key: str
    label: str
    x: float
    y: float
    title: str = ""


@dataclass
class Frame:
    """Plot area, scales and ticks of one chart."""

    width: int
    height: int
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    left: int = MARGIN_LEFT
    right_margin: int = MARGIN_RIGHT
    top: int = MARGIN_TOP
    bottom_margin: int = MARGIN_BOTTOM

    @property
    def right(self) -> int:
        return self.width - self.right_margin

    @property
    def bottom(self) -> int:
        return self.height - self.bottom_margin

    def x(self, v: float) -> float:
        return round(linear_scale(self.x_lo, self.x_hi, self.left, self.right)(v), 1)

    def y(self, v: float) -> float:
        return round(linear_scale(self.y_lo, self.y_hi, self.bottom, self.top)(v), 1)

    def base(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "left": self.left, "right": self.right, "top": self.top,
                "bottom": self.bottom, "y_text_x": self.left - 6, "x_text_y": self.bottom + 16,
                "mid_x": round((self.left + self.right) / 2, 1), "mid_y": round((self.top + self.bottom) / 2, 1)}


def line_chart(
    lines: Sequence[Line], *, x_ticks: Sequence[tuple[float, str]] = (), x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None, y_kind: str = "number", include_zero: bool = False,
    levels: Sequence[Level] = (), markers: Sequence[Marker] = (), vlines: Sequence[tuple[float, str]] = (),
    x_title: str = "", y_title: str = "", diagonal: bool = False, width: int = 720, height: int = 240,
    right_margin: int = MARGIN_RIGHT,
) -> dict[str, Any] | None:
    """Geometry of a line chart with axes: y ticks from the data (and ``levels``), x ticks as given
    (numeric charts: nice ticks of ``x_range`` when none are given)."""
    lines = [ln for ln in lines if len(ln.xs)]
    if not lines:
        return None
    xs = [float(v) for ln in lines for v in ln.xs]
    ys = [float(v) for ln in lines for v in ln.ys if math.isfinite(float(v))]
    ys += [lv.value for lv in levels] + [m.y for m in markers] + ([0.0] if include_zero else [])
    y_lo, y_hi, y_ticks = nice_domain(*(y_range or (min(ys), max(ys))))
    x_lo, x_hi = x_range or (min(xs), max(xs))
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    if not x_ticks:
        x_lo, x_hi, ticks = nice_domain(x_lo, x_hi, 6)
        text = number_text(ticks[1] - ticks[0] if len(ticks) > 1 else 1.0)
        x_ticks = [(t, text(t)) for t in ticks]
    frame = Frame(width, height, x_lo, x_hi, y_lo, y_hi, right_margin=right_margin)
    step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    y_text = usd_tick_text(step) if y_kind == "usd" else number_text(step)
    out = frame.base()
    out.update({
        "y_ticks": [{"y": frame.y(t), "text": y_text(t)} for t in y_ticks],
        "x_ticks": [{"x": frame.x(t), "text": label} for t, label in x_ticks if x_lo <= t <= x_hi],
        "zero_y": frame.y(0.0) if y_lo < 0 < y_hi else None,
        "lines": [_line(frame, i, ln) for i, ln in enumerate(lines)],
        "levels": [{"key": lv.key, "label": lv.label, "y": frame.y(lv.value), "text": lv.text or f"{lv.value:g}"}
                   for lv in levels],
        "markers": [{"key": m.key, "label": m.label, "x": frame.x(m.x), "y": frame.y(m.y), "title": m.title}
                    for m in markers],
        "vlines": [{"x": frame.x(v), "label": label} for v, label in vlines if x_lo <= v <= x_hi],
        "x_title": x_title, "y_title": y_title, "legend": len(lines) > 1,
        "diagonal": (f"{frame.x(max(x_lo, y_lo))},{frame.y(max(x_lo, y_lo))} "
                     f"{frame.x(min(x_hi, y_hi))},{frame.y(min(x_hi, y_hi))}") if diagonal else "",
    })
    return out


def _line(frame: Frame, index: int, ln: Line) -> dict[str, Any]:
    pts = [(frame.x(float(x)), frame.y(float(y))) for x, y in zip(ln.xs, ln.ys, strict=True) if math.isfinite(float(y))]
    titles = list(ln.titles) or [""] * len(pts)
    classes = list(ln.dot_classes) or [""] * len(pts)
    dots = [{"x": px, "y": py, "title": t, "cls": c} for (px, py), t, c in zip(pts, titles, classes, strict=False)]
    return {"label": ln.label, "cls": ln.cls or f"s{index}", "index": index,
            "points": " ".join(f"{px},{py}" for px, py in pts), "dots": dots,
            "dots_svg": _dots_svg(ln.cls or f"s{index}", dots),
            "last_x": pts[-1][0] if pts else None, "last_y": pts[-1][1] if pts else None,
            "last": float(ln.ys[-1]), "last_text": usd(ln.ys[-1])}


def _dots_svg(line_cls: str, dots: Sequence[dict[str, Any]]) -> SafeString:
    """The line's dots as SVG circles with their hover titles, built here rather than in the
    template: a year's curve has hundreds of dots, and a template loop over them was most of a
    page's rendering time (bench/README.md "Load")."""
    return format_html_join(
        "", '<circle class="dot {} {}" cx="{}" cy="{}" r="{}"><title>{}</title></circle>',
        ((line_cls, d["cls"], d["x"], d["y"], "4" if d["cls"] else "3.5", d["title"]) for d in dots))


def day_ticks(days: Sequence[dt.date], offset: int = 0, max_ticks: int = 7) -> list[tuple[float, str]]:
    """Ticks for an axis of trading days by rank (``days[i]`` at x = i + offset): month starts over
    long spans (the year written at its first tick and in January), evenly spaced days otherwise."""
    n = len(days)
    if n == 0:
        return []
    if (days[-1] - days[0]).days > 90:
        starts = [i for i in range(n) if i == 0 or days[i].month != days[i - 1].month]
        keep = starts[:: max(1, math.ceil(len(starts) / max_ticks))]
        out: list[tuple[float, str]] = []
        year = None
        for i in keep:
            d = days[i]
            out.append((i + offset, f"{MONTHS[d.month - 1]} {d.year}" if d.year != year else MONTHS[d.month - 1]))
            year = d.year
        return out
    step = max(1, math.ceil(n / max_ticks))
    return [(i + offset, f"{days[i]:%m-%d}") for i in range(0, n, step)]


def instant_ticks(instants: Sequence[dt.datetime], max_ticks: int = 8) -> list[tuple[float, str]]:
    """Ticks for an axis of instants by rank, in ET: each new day ("Mon 03-02") over several days,
    whole hours within one."""
    local = [t.astimezone(NEW_YORK) for t in instants]
    if not local:
        return []
    if local[0].date() == local[-1].date():
        hours = [i for i in range(len(local)) if i == 0 or local[i].hour != local[i - 1].hour]
        keep = hours[:: max(1, math.ceil(len(hours) / max_ticks))]
        return [(i, f"{local[i]:%H:%M}") for i in keep]
    starts = [i for i in range(len(local)) if i == 0 or local[i].date() != local[i - 1].date()]
    keep = starts[:: max(1, math.ceil(len(starts) / max_ticks))]
    return [(i, f"{local[i]:%a %m-%d}") for i in keep]


def et_text(ts: dt.datetime) -> str:
    """A mark's instant for hover text: ET, with UTC beside it."""
    return f"{ts.astimezone(NEW_YORK):%a %Y-%m-%d %H:%M} ET ({ts.astimezone(dt.UTC):%H:%M} UTC)"


@dataclass(frozen=True)
class MarkPoint:
    """One position mark as the chart needs it (points per share, USD)."""

    ts: dt.datetime
    debit_fill: Decimal
    debit_mid: Decimal
    unrealized_pnl_usd: Decimal
    signal: str = ""


def marks_chart(marks: Sequence[MarkPoint], levels: Sequence[tuple[str, str, Decimal | None]], *, width: int = 760,
                height: int = 260) -> dict[str, Any] | None:
    """A trade's marks: the fill-model debit to close at each mark, with ``levels`` — (key, label,
    value) such as the take-profit and stop-loss debits and the entry credit — as horizontal lines
    (points per share). x is the mark's rank, labelled with ET days or hours."""
    if not marks:
        return None
    line = Line("debit to close", list(range(len(marks))), [float(m.debit_fill) for m in marks],
                [f"{et_text(m.ts)}: debit {m.debit_fill} (mid {m.debit_mid}), unrealized {usd(m.unrealized_pnl_usd)}"
                 + (f" — {m.signal.replace('_', ' ')}" if m.signal else "") for m in marks],
                dot_classes=[m.signal for m in marks])
    lv = [Level(key, label, float(value), f"{value:.2f}") for key, label, value in levels if value is not None]
    return line_chart([line], x_ticks=instant_ticks([m.ts for m in marks]), x_range=(-0.5, len(marks) - 0.5),
                      levels=lv, include_zero=True, y_title="points per share", x_title="mark (ET)",
                      width=width, height=height, right_margin=130)


def forward_chart(points: Sequence[tuple[dt.datetime, float]], *, entry: tuple[dt.datetime, float] | None = None,
                  exit: tuple[dt.datetime, float] | None = None, strikes: Sequence[tuple[str, float]] = (),
                  width: int = 760, height: int = 220) -> dict[str, Any] | None:
    """The underlying's forward at each mark (ET ranks), with the entry and exit as markers and the
    strikes as levels."""
    if not points:
        return None
    stamps = [t for t, _ in points]
    line = Line("forward", list(range(len(points))), [v for _, v in points],
                [f"{et_text(t)}: forward {v:,.2f}" for t, v in points], cls="s0")

    def rank(ts: dt.datetime) -> int:
        return min(range(len(stamps)), key=lambda i: abs((stamps[i] - ts).total_seconds()))

    markers = [Marker(key, label, rank(t), v, f"{label} {et_text(t)}: {v:,.2f}")
               for key, label, point in (("entry", "entry", entry), ("exit", "exit", exit)) if point
               for t, v in [point]]
    levels = [Level(f"strike-{i}", label, value, f"{value:,.0f}") for i, (label, value) in enumerate(strikes)]
    return line_chart([line], x_ticks=instant_ticks(stamps), x_range=(-0.5, len(points) - 0.5), markers=markers,
                      levels=levels, y_title="index points", x_title="mark (ET)", width=width, height=height,
                      right_margin=130)


def equity_chart(curve: Sequence[tuple[dt.date, float]], *, label: str = "equity", cls: str = "s0",
                 width: int = 760, height: int = 240) -> dict[str, Any] | None:
    """A daily curve in USD (cumulative realized PnL, or the drawdown), from 0 just before its first day."""
    return curves_chart([(label, curve)], width=width, height=height, classes=(cls,))


def curves_chart(series: Sequence[tuple[str, Sequence[tuple[dt.date, float]]]], *, width: int = 760,
                 height: int = 260, classes: Sequence[str] = ()) -> dict[str, Any] | None:
    """Several daily USD curves on one scale. x is the rank of the day in the union of the curves'
    days (runs over different ranges line up by date); each curve starts from 0 just before its first day."""
    days = sorted({d for _, curve in series for d, _ in curve})
    if not days:
        return None
    rank = {d: i + 1 for i, d in enumerate(days)}
    lines = []
    for index, (label, curve) in enumerate(series):
        pts = sorted(curve)
        if not pts:
            continue
        start = rank[pts[0][0]] - 1
        xs = [float(start)] + [float(rank[d]) for d, _ in pts]
        ys = [0.0] + [float(v) for _, v in pts]
        titles = [f"{label}: start, {usd(0)}"] + [f"{label} {d:%a %Y-%m-%d}: {usd(v)}" for d, v in pts]
        lines.append(Line(label, xs, ys, titles, cls=classes[index] if index < len(classes) else f"s{index}"))
    return line_chart(lines, x_ticks=day_ticks(days, offset=1), x_range=(0.0, float(len(days))), y_kind="usd",
                      include_zero=True, x_title="trading day", y_title="USD", width=width, height=height)


def smile_chart(a: ChainAnalytics, *, width: int = 760, height: int = 260, band: float = 0.12) -> dict[str, Any] | None:
    """The out-of-the-money implied-volatility smile within ±``band`` of the forward (IV in %, by strike)."""
    if not a.fit.ok:
        return None
    f = a.fit.forward
    otm = np.where(a.is_call, a.strikes >= f, a.strikes < f)
    keep = otm & np.isfinite(a.iv) & (np.abs(a.strikes / f - 1.0) <= band)
    if keep.sum() < 3:
        return None
    k, iv = a.strikes[keep], a.iv[keep] * 100.0
    calls = a.is_call[keep]
    order = np.argsort(k)
    k, iv, calls = k[order], iv[order], calls[order]
    line = Line("OTM IV", k.tolist(), iv.tolist(),
                [f"{'call' if c else 'put'} {s:,.0f}: IV {v:.2f}%" for s, v, c in zip(k, iv, calls, strict=True)])
    out = line_chart([line], vlines=[(float(f), f"F {f:,.1f}")], x_title="strike", y_title="implied vol (%)",
                     width=width, height=height)
    if out is not None:
        out["n"] = int(keep.sum())
    return out


def xy_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, width: int = 480, height: int = 260,
             x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
             diagonal: bool = False, x_title: str = "", y_title: str = "") -> dict[str, Any] | None:
    """Several (x, y) curves on one linear scale — a reliability curve (``diagonal``: the
    perfect-calibration line), a threshold sweep. Ranges default to the data's."""
    lines = [Line(label, [float(p[0]) for p in pts], [float(p[1]) for p in pts],
                  [f"{label}: {float(px):.4g}, {float(py):.4g}" for px, py in pts], cls=f"s{i}")
             for i, (label, pts) in enumerate(series) if pts]
    return line_chart(lines, x_range=x_range, y_range=y_range, diagonal=diagonal, x_title=x_title, y_title=y_title,
                      width=width, height=height)


def histogram_chart(values: Sequence[float], *, bins: int = 20, width: int = 760, height: int = 220,
                    x_title: str = "realized PnL per trade (USD)") -> dict[str, Any] | None:
    """Bars of the distribution of ``values`` (USD) on nice bin edges; zero marked."""
    vals = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    if vals.size == 0:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    width_usd = nice_step(hi - lo, bins) if hi > lo else 1.0
    first = math.floor(lo / width_usd) * width_usd
    n_bins = max(1, math.ceil((hi - first) / width_usd + 1e-9))
    if first + n_bins * width_usd <= hi:
        n_bins += 1
    edges = first + width_usd * np.arange(n_bins + 1)
    counts, _ = np.histogram(vals, bins=edges)
    return bars_chart([float(e) for e in edges], [int(c) for c in counts], bin_usd=width_usd, x_title=x_title,
                      width=width, height=height)


def bars_chart(edges: Sequence[float], counts: Sequence[int], *, bin_usd: float, x_title: str,
               unit: str = "trade", width: int = 760, height: int = 220) -> dict[str, Any] | None:
    """Bars of counts between USD bin ``edges`` (len(counts) + 1, ascending) — a histogram whose bins
    were chosen elsewhere (``histogram_chart``, ``backtests.engine.capital.pnl_histogram``); zero marked."""
    if not counts:
        return None
    _, c_hi, c_ticks = nice_domain(0.0, float(max(counts)), 4)
    c_ticks = [t for t in c_ticks if float(t).is_integer()] or [0.0, c_hi]
    frame = Frame(width, height, float(edges[0]), float(edges[-1]), 0.0, c_hi)
    x_lo, x_hi, x_ticks = nice_domain(float(edges[0]), float(edges[-1]), 6)
    text = usd_tick_text(x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0)
    bars = []
    for left_edge, right_edge, count in zip(edges[:-1], edges[1:], counts, strict=True):
        x0, x1 = frame.x(float(left_edge)), frame.x(float(right_edge))
        y0 = frame.y(float(count))
        bars.append({"x": x0, "w": round(max(x1 - x0 - 1, 1), 1), "y": y0, "h": round(frame.bottom - y0, 1),
                     "cls": "bad" if right_edge <= 0 else ("good" if left_edge >= 0 else ""),
                     "title": f"{usd(left_edge)} to {usd(right_edge)}: {int(count)} {unit}{'s' if count != 1 else ''}"})
    out = frame.base()
    out.update({
        "bars": bars, "y_ticks": [{"y": frame.y(t), "text": f"{int(t)}"} for t in c_ticks],
        "x_ticks": [{"x": frame.x(t), "text": text(t)} for t in x_ticks if edges[0] <= t <= edges[-1]],
        "zero_x": frame.x(0.0) if edges[0] < 0 < edges[-1] else None, "x_title": x_title, "y_title": f"{unit}s",
        "bin_usd": bin_usd, "n": int(sum(counts)), "lines": [], "levels": [], "markers": [], "vlines": [],
    })
    return out


def heat_color(value: float | None, scale: float) -> str:
    """A cell background for ``value`` on a diverging scale: green above zero, red below, stronger
    with |value| / ``scale``; blank when undefined."""
    if value is None or not math.isfinite(value) or scale <= 0:
        return ""
    alpha = 0.08 + 0.6 * min(abs(value) / scale, 1.0)
    rgb = "22,128,61" if value > 0 else "180,35,24" if value < 0 else "156,163,175"
    return f"rgba({rgb},{alpha:.2f})"


def monthly_table(days: Sequence[tuple[dt.date, float]]) -> dict[str, Any]:
    """Realized PnL (USD) per calendar month and year from daily PnL, with year totals; months
    without a trading day in the data are None (not 0)."""
    by: dict[int, list[float | None]] = {}
    for day, pnl in days:
        row = by.setdefault(day.year, [None] * 12)
        row[day.month - 1] = (row[day.month - 1] or 0.0) + float(pnl)
    values = [v for row in by.values() for v in row if v is not None]
    scale = max((abs(v) for v in values), default=0.0)
    return {
        "months": MONTHS,
        "rows": [{"year": year, "total": usd(sum(v for v in row if v is not None)),
                  "total_tone": _tone(sum(v for v in row if v is not None)),
                  "cells": [{"text": usd(v) if v is not None else "", "bg": heat_color(v, scale)} for v in row]}
                 for year, row in sorted(by.items())],
    }


def _tone(value: float) -> str:
    return "good" if value > 0 else "bad" if value < 0 else ""
