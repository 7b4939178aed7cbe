"""Chart geometry (snapshots.charts): nice ticks, axes in ET, hover texts, histogram bins, heat colours, months."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from snapshots import charts


@pytest.mark.parametrize(("lo", "hi", "ticks"), [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-132.6, 177.0, [-200.0, -100.0, 0.0, 100.0, 200.0]),
    (0.03, 0.97, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (4012.0, 4188.0, [4000.0, 4050.0, 4100.0, 4150.0, 4200.0]),
    (5.0, 5.0, [4.7, 4.8, 4.9, 5.0, 5.1, 5.2, 5.3]),
])
def test_nice_domain_widens_to_whole_steps(lo: float, hi: float, ticks: list[float]) -> None:
    d_lo, d_hi, got = charts.nice_domain(lo, hi)
    assert got == pytest.approx(ticks) and (d_lo, d_hi) == (pytest.approx(ticks[0]), pytest.approx(ticks[-1]))
    assert d_lo <= min(lo, hi) and d_hi >= max(lo, hi)


def test_tick_texts_carry_the_decimals_the_step_needs() -> None:
    assert charts.number_text(0.25)(0.5) == "0.50" and charts.number_text(2.5)(7.5) == "7.5"
    assert charts.number_text(50)(4050) == "4,050" and charts.number_text(0.2)(-0.4) == "-0.4"
    assert charts.usd_tick_text(2000)(-6000) == "-$6k" and charts.usd_tick_text(2500)(7500) == "$7.5k"
    assert charts.usd_tick_text(50)(150) == "$150" and charts.usd_tick_text(0.5)(1.5) == "$1.50"
    assert charts.usd(Decimal("-1980")) == "-$1,980.00" and charts.usd(3670, signed=True) == "+$3,670.00"
    assert charts.usd(None) == "—" and charts.usd(-0.0) == "$0.00"


def test_equity_chart_has_axes_and_a_hover_value_per_day() -> None:
    days = [dt.date(2025, 1, 2) + dt.timedelta(days=i) for i in range(200) if (dt.date(2025, 1, 2) + dt.timedelta(days=i)).weekday() < 5]
    curve = [(d, 10.0 * i - 300.0) for i, d in enumerate(days)]
    c = charts.equity_chart(curve)
    assert c is not None
    (line,) = c["lines"]
    assert len(line["dots"]) == len(days) + 1  # the start at 0, then one per day
    assert line["dots"][1]["title"] == "equity Thu 2025-01-02: -$300.00"
    assert line["dots"][-1]["title"].endswith(f"{days[-1]:%Y-%m-%d}: {charts.usd(10.0 * (len(days) - 1) - 300.0)}")
    # x ticks at month starts (the year once), y ticks in USD with a zero line inside the range
    assert [t["text"] for t in c["x_ticks"]][:3] == ["Jan 2025", "Feb", "Mar"]
    assert c["zero_y"] is not None and c["y_ticks"][0]["text"].startswith("-$")
    ys = [t["y"] for t in c["y_ticks"]]
    assert ys == sorted(ys, reverse=True) and ys[0] == c["bottom"] and ys[-1] == c["top"]
    assert c["x_title"] == "trading day" and c["y_title"] == "USD"


def test_marks_chart_labels_et_days_and_hours() -> None:
    utc = dt.UTC
    def mark(ts: dt.datetime, debit: str, signal: str = "") -> charts.MarkPoint:
        return charts.MarkPoint(ts, Decimal(debit), Decimal(debit), Decimal("12.50"), signal)

    one_day = [mark(dt.datetime(2025, 3, 3, 15, 0, tzinfo=utc) + dt.timedelta(minutes=30 * i), "1.00") for i in range(6)]
    c = charts.marks_chart(one_day, [("tp", "take profit", Decimal("0.60")), ("sl", "stop loss", None)])
    assert c is not None
    assert [t["text"] for t in c["x_ticks"]] == ["10:00", "11:00", "12:00"]  # 15:00 UTC = 10:00 EST
    assert [lv["key"] for lv in c["levels"]] == ["tp"] and c["levels"][0]["text"] == "0.60"
    assert c["lines"][0]["dots"][0]["title"] == "Mon 2025-03-03 10:00 ET (15:00 UTC): debit 1.00 (mid 1.00), unrealized $12.50"
    days = [mark(dt.datetime(2025, 3, 3 + d, 15, 0, tzinfo=utc), "1.00") for d in range(3)]
    days[-1] = mark(days[-1].ts, "0.50", "take_profit")
    c = charts.marks_chart(days, [])
    assert [t["text"] for t in c["x_ticks"]] == ["Mon 03-03", "Tue 03-04", "Wed 03-05"]
    assert c["lines"][0]["dots"][-1]["cls"] == "take_profit" and c["lines"][0]["dots"][-1]["title"].endswith("take profit")


def test_forward_chart_marks_entry_and_exit_at_their_nearest_marks() -> None:
    t0 = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)
    path = [(t0 + dt.timedelta(minutes=5 * i), 5000.0 + i) for i in range(10)]
    c = charts.forward_chart(path, entry=(t0 + dt.timedelta(minutes=1), 5000.0), exit=(t0 + dt.timedelta(minutes=44), 5009.0),
                             strikes=[("short", 4900.0), ("long", 4875.0)])
    assert c is not None
    entry, exit_ = c["markers"]
    assert entry["x"] == c["lines"][0]["dots"][0]["x"] and exit_["x"] == c["lines"][0]["dots"][-1]["x"]
    assert [lv["text"] for lv in c["levels"]] == ["4,900", "4,875"]


def test_histogram_bins_cover_every_value_once() -> None:
    values = [-132.6, -120.0, 40.0, 57.4, 60.0, 72.4, 72.4, 250.0]
    c = charts.histogram_chart(values, bins=10)
    assert c is not None and c["n"] == len(values)
    counts = [int(b["title"].split(": ")[1].split(" ")[0]) for b in c["bars"]]
    assert sum(counts) == len(values) and c["bin_usd"] == 50.0
    assert c["bars"][0]["title"] == "-$150.00 to -$100.00: 2 trades" and c["bars"][0]["cls"] == "bad"
    assert c["zero_x"] is not None and charts.histogram_chart([]) is None


def test_heat_colours_and_the_monthly_table() -> None:
    assert charts.heat_color(None, 10) == "" and charts.heat_color(5, 0) == ""
    assert charts.heat_color(10, 10) == "rgba(22,128,61,0.68)" and charts.heat_color(-5, 10) == "rgba(180,35,24,0.38)"
    table = charts.monthly_table([(dt.date(2025, 1, 2), 10.0), (dt.date(2025, 1, 3), -30.0), (dt.date(2025, 3, 3), 5.0),
                                  (dt.date(2026, 2, 2), 40.0)])
    (y2025, y2026) = table["rows"]
    assert [c["text"] for c in y2025["cells"][:3]] == ["-$20.00", "", "$5.00"] and y2025["total"] == "-$15.00"
    assert y2025["total_tone"] == "bad" and y2026["cells"][1]["bg"] == "rgba(22,128,61,0.68)"
