"""Tests across apps (backtests and mlmodels are independent layers; their integration is tested here)."""

from backtests.tests.conftest import compact_files, compact_market, market_dir, seeded_grid  # noqa: F401  (fixtures)
