"""Chart geometry for the server-rendered SVG charts (pure: plain values in, coordinates out).

One module for every page's charts: a trade's marks, equity curves, several curves on one scale,
the IV smile. Templates draw the returned coordinates; nothing here reads the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from strategy.quant.analytics import ChainAnalytics
from strategy.quant.timemodel import NEW_YORK


def linear_scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


@dataclass(frozen=True)
class MarkPoint:
    """One position mark as the chart needs it (points per share, USD)."""

    ts: dt.datetime
    debit_fill: Decimal
    debit_mid: Decimal
    unrealized_pnl_usd: Decimal
    signal: str = ""


def marks_chart(marks: Sequence[MarkPoint], levels: Sequence[tuple[str, str, Decimal | None]], *, width: int = 720,
                height: int = 260) -> dict[str, Any] | None:
    """SVG geometry of a trade's marks: the fill-model debit to close at each slot, with ``levels``
    — (key, label, value) such as the take-profit and stop-loss debits and the entry credit — as
    horizontal lines (points per share).

    x is the slot's rank, not its time, so nights and weekends take no room; a label marks each new day.
    """
    if not marks:
        return None
    left, right, top, bottom = 50, width - 110, 16, height - 28
    debits = [float(m.debit_fill) for m in marks]
    lines = [(key, label, float(value)) for key, label, value in levels if value is not None]
    # The debit to close is never negative, so 0 is a natural floor and keeps charts comparable.
    hi = max(debits + [value for _, _, value in lines]) * 1.08
    y = linear_scale(0.0, hi, bottom, top)
    n = len(marks)
    x = (lambda i: (left + right) / 2) if n == 1 else (lambda i: left + i / (n - 1) * (right - left))
    days, previous_day = [], None
    dots = []
    for i, mark in enumerate(marks):
        local = mark.ts.astimezone(NEW_YORK)
        if local.date() != previous_day:
            days.append({"x": round(x(i), 1), "label": f"{local:%a %m-%d}"})
            previous_day = local.date()
        dots.append({"x": round(x(i), 1), "y": round(y(debits[i]), 1), "signal": mark.signal,
                     "title": f"{local:%m-%d %H:%M} ET debit {mark.debit_fill} (mid {mark.debit_mid}), "
                              f"unrealized ${mark.unrealized_pnl_usd}"})
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "days": days,
        "levels": [{"key": key, "label": label, "value": value, "y": round(y(value), 1)} for key, label, value in lines],
        "y_max": hi, "n": n,
    }


def equity_chart(curve: Sequence[tuple[dt.date, float]], *, width: int = 720,
                 height: int = 220) -> dict[str, Any] | None:
    """SVG geometry of the equity curve (cumulative realized PnL, USD, one point per close date).

    It starts from 0, the account's starting equity, as ``stats.pnl_stats`` measures the drawdown from.
    """
    if not curve:
        return None
    left, right, top, bottom = 64, width - 16, 14, height - 26
    values = [0.0] + [float(v) for _, v in curve]
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    y = linear_scale(lo, hi, bottom, top)
    x = linear_scale(0, len(values) - 1, left, right)
    # Axis labels at the top, the bottom and 0, each once (0 is often the top or the bottom too).
    labels = {round(v): round(y(v), 1) for v in (hi, lo, 0.0)}
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
        "points": " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values)),
        "zero_y": round(y(0.0), 1), "labels": [{"text": text, "y": label_y} for text, label_y in labels.items()],
        "last_day": curve[-1][0], "last": values[-1],
        "last_x": round(x(len(values) - 1), 1), "last_y": round(y(values[-1]), 1),
    }


def curves_chart(series: Sequence[tuple[str, Sequence[tuple[dt.date, float]]]], *, width: int = 720,
                 height: int = 240) -> dict[str, Any] | None:
    """SVG geometry of several equity curves (USD) on one shared scale, for the compare page.

    x is the rank of the day in the union of the curves' days (weekends take no room, and runs over
    different ranges line up by date); each curve starts from 0 just before its first day.
    """
    days = sorted({d for _, curve in series for d, _ in curve})
    if not days:
        return None
    left, right, top, bottom = 64, width - 16, 14, height - 26
    values = [0.0, *(v for _, curve in series for _, v in curve)]
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    rank = {d: i + 1 for i, d in enumerate(days)}
    x = linear_scale(0, len(days), left, right)
    y = linear_scale(lo, hi, bottom, top)

    lines = []
    for index, (label, curve) in enumerate(series):
        pts = sorted(curve)
        if not pts:
            continue
        start = rank[pts[0][0]] - 1
        coords = [(x(start), y(0.0))] + [(x(rank[d]), y(v)) for d, v in pts]
        lines.append({"label": label, "index": index, "points": " ".join(f"{px:.1f},{py:.1f}" for px, py in coords),
                      "last": pts[-1][1], "last_x": round(coords[-1][0], 1), "last_y": round(coords[-1][1], 1)})
    labels = {round(v): round(y(v), 1) for v in (hi, lo, 0.0)}
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
        "zero_y": round(y(0.0), 1), "labels": [{"text": t, "y": ly} for t, ly in labels.items()],
        "lines": lines, "first_day": days[0], "last_day": days[-1],
    }


def smile_chart(a: ChainAnalytics, *, width: int = 720, height: int = 260, band: float = 0.12) -> dict[str, Any] | None:  # noqa: E501
    """SVG polyline points of the OTM implied-volatility smile within ±``band`` of the forward."""
    if not a.fit.ok:
        return None
    f = a.fit.forward
    otm = np.where(a.is_call, a.strikes >= f, a.strikes < f)
    keep = otm & np.isfinite(a.iv) & (np.abs(a.strikes / f - 1.0) <= band)
    if keep.sum() < 3:
        return None
    k, iv = a.strikes[keep], a.iv[keep] * 100.0
    order = np.argsort(k)
    k, iv = k[order], iv[order]
    pad = 30
    kx = lambda v: pad + (v - k[0]) / (k[-1] - k[0]) * (width - 2 * pad)  # noqa: E731
    lo, hi = float(np.floor(iv.min())), float(np.ceil(iv.max()))
    hi = hi if hi > lo else lo + 1
    vy = lambda v: height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)  # noqa: E731
    points = " ".join(f"{kx(x):.1f},{vy(y):.1f}" for x, y in zip(k, iv, strict=True))
    return {
        "width": width, "height": height, "points": points, "forward_x": round(kx(f), 1),
        "k_min": float(k[0]), "k_max": float(k[-1]), "iv_min": lo, "iv_max": hi, "n": int(keep.sum()),
        "pad": pad, "bottom": height - pad,
    }


def xy_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, width: int = 480, height: int = 240,
             x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
             diagonal: bool = False) -> dict[str, Any] | None:
    """SVG geometry of several (x, y) curves on one linear scale — a reliability curve (``diagonal``:
    the perfect-calibration line), a threshold sweep. Ranges default to the data's."""
    points = [(float(px), float(py)) for _, pts in series for px, py in pts]
    if not points:
        return None
    left, right, top, bottom = 56, width - 16, 14, height - 28
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_lo, x_hi = x_range or (min(xs), max(xs))
    y_lo, y_hi = y_range or (min(ys), max(ys))
    x_hi, y_hi = (x_hi if x_hi != x_lo else x_lo + 1.0), (y_hi if y_hi != y_lo else y_lo + 1.0)
    x = linear_scale(x_lo, x_hi, left, right)
    y = linear_scale(y_lo, y_hi, bottom, top)
    lines = [{"label": label, "index": i, "points": " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in pts),
              "dots": [{"x": round(x(px), 1), "y": round(y(py), 1), "title": f"{label}: {px:.4g}, {py:.4g}"}
                       for px, py in pts]}
             for i, (label, pts) in enumerate(series) if pts]
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom, "lines": lines,
        "x_labels": [{"text": f"{v:.3g}", "x": round(x(v), 1)} for v in (x_lo, (x_lo + x_hi) / 2, x_hi)],
        "y_labels": [{"text": f"{v:.3g}", "y": round(y(v), 1)} for v in (y_lo, (y_lo + y_hi) / 2, y_hi)],
        "diagonal": (f"{x(max(x_lo, y_lo)):.1f},{y(max(x_lo, y_lo)):.1f} {x(min(x_hi, y_hi)):.1f},{y(min(x_hi, y_hi)):.1f}"
                     if diagonal else ""),
        "zero_y": round(y(0.0), 1) if y_lo < 0 < y_hi else None,
    }
