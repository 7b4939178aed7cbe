"""Term structure: 9-day vs 30-day ratio and slope."""

from __future__ import annotations

import math

import pytest

from strategy.quant.term import term_structure, term_structure_from_results
from strategy.quant.vix import vix9d_index, vix_index
from strategy.tests.quant.chains import flat_vol_chain


def test_contango_and_backwardation() -> None:
    calm = term_structure(12.0, 15.0)
    assert calm.ratio_9d_30d == pytest.approx(0.8) and not calm.backwardation
    assert calm.slope_pts_per_day == pytest.approx(3.0 / 21.0)
    stress = term_structure(40.0, 32.0)
    assert stress.ratio_9d_30d == pytest.approx(1.25) and stress.backwardation
    assert stress.slope_pts_per_day < 0


def test_missing_index_gives_nan_not_an_exception() -> None:
    ts = term_structure(math.nan, 15.0)
    assert math.isnan(ts.ratio_9d_30d) and math.isnan(ts.slope_pts_per_day) and not ts.backwardation
    assert math.isnan(term_structure(12.0, 0.0).ratio_9d_30d)


def test_from_vix_results() -> None:
    v9 = vix9d_index(flat_vol_chain(sigma=0.25, days=7).term(), flat_vol_chain(sigma=0.25, days=14).term())
    v30 = vix_index(flat_vol_chain(sigma=0.20, days=25).term(), flat_vol_chain(sigma=0.20, days=32).term())
    ts = term_structure_from_results(v9, v30)
    assert ts.ratio_9d_30d == pytest.approx(1.25, rel=5e-3) and ts.backwardation
    refused = vix_index(flat_vol_chain(days=31).term(), flat_vol_chain(days=38).term())
    assert math.isnan(term_structure_from_results(v9, refused).ratio_9d_30d)
