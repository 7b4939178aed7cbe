"""OSI option symbols: parse, format, round trip, SPX/SPXW padding, malformed input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.quant.osi import OptionSymbol, format_symbol, parse_symbol


def test_parse_spxw() -> None:
    s = parse_symbol("SPXW261218C06000000")
    assert s == OptionSymbol("SPXW", dt.date(2026, 12, 18), True, Decimal("6000"))


def test_padded_and_unpadded_forms_agree() -> None:
    for root, padded in (("SPX", "SPX   251219P05800000"), ("SPXW", "SPXW  251219P05800000")):
        unpadded = f"{root}251219P05800000"
        assert parse_symbol(padded) == parse_symbol(unpadded)
        assert format_symbol(root, dt.date(2025, 12, 19), False, 5800, padded=True) == padded
        assert len(padded) == 21
        assert parse_symbol(padded).format() == unpadded
        assert parse_symbol(unpadded).format(padded=True) == padded


def test_fractional_strikes_and_case() -> None:
    s = parse_symbol(" spxw250117c05812500 ")
    assert s.strike == Decimal("5812.5") and s.root == "SPXW" and s.is_call
    assert format_symbol("spxw", dt.date(2025, 1, 17), True, "5812.5") == "SPXW250117C05812500"
    assert format_symbol("SPX", dt.date(2025, 1, 17), True, 0.001) == "SPX250117C00000001"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SPXW",
        "SPXW261318C06000000",
        "SPXW261218X06000000",
        "SPXW261218C6000000",
        "TOOLONGR261218C06000000",
        "SPXW 26121 8C06000000",
    ],
)
def test_malformed_symbols_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_symbol(bad)


@pytest.mark.parametrize(
    "root, expiration, strike",
    [
        ("SPXW", dt.date(2026, 1, 16), 5800.0001),  # not a multiple of 0.001
        ("SPXW", dt.date(2026, 1, 16), 100_000),  # 9 digits × 1000
        ("SPXW", dt.date(2026, 1, 16), -5),
        ("SPXW", dt.date(2026, 1, 16), "abc"),
        ("SPX W", dt.date(2026, 1, 16), 5800),
        ("SPXWEEK", dt.date(2026, 1, 16), 5800),
        ("SPXW", dt.date(1999, 12, 17), 5800),  # two-digit year would read back as 2099
    ],
)
def test_format_rejects_what_cannot_round_trip(root: str, expiration: dt.date, strike: object) -> None:
    with pytest.raises(ValueError):
        format_symbol(root, expiration, True, strike)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    root=st.sampled_from(["SPX", "SPXW", "XSP", "AAPL1"]),
    expiration=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    is_call=st.booleans(),
    milli=st.integers(min_value=0, max_value=99_999_999),
    padded=st.booleans(),
)
def test_round_trip(root: str, expiration: dt.date, is_call: bool, milli: int, padded: bool) -> None:
    strike = Decimal(milli) / 1000
    text = format_symbol(root, expiration, is_call, strike, padded=padded)
    parsed = parse_symbol(text)
    assert parsed == OptionSymbol(root, expiration, is_call, strike)
    assert parsed.format(padded=padded) == text
