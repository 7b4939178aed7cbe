"""The decisions table as CSV columns (``snapshots.csv_export``): what each decision read and decided."""

from __future__ import annotations

from typing import Any

from snapshots.csv_export import Column


def _strike(decision: Any, index: int) -> Any:
    """The strike of the short (0) or long (1) leg; blank for a SKIP without legs."""
    legs = decision.legs or []
    return legs[index].get("strike") if len(legs) > index else None


DECISION_COLUMNS: list[Column] = [
    ("decision_id", lambda d: d.pk),
    ("source", lambda d: d.source),
    ("backtest_run_id", lambda d: d.backtest_run_id),
    ("trading_day", lambda d: d.trading_day),
    ("entry_window", lambda d: d.entry_window),
    ("decided_at", lambda d: d.decided_at),
    ("strategy_config", lambda d: d.strategy_config.name),
    ("action", lambda d: d.action),
    ("reason_code", lambda d: d.reason_code),
    ("reason_message", lambda d: d.reason_message),
    ("snapshot_id", lambda d: d.snapshot_id),
    ("snapshot_checksum", lambda d: d.snapshot_checksum),
    ("expiration", lambda d: d.expiration),
    ("short_strike", lambda d: _strike(d, 0)),
    ("long_strike", lambda d: _strike(d, 1)),
    ("credit_mid", lambda d: d.credit_mid),
    ("credit_fill", lambda d: d.credit_fill),
    ("width_points", lambda d: d.width_points),
    ("max_profit_usd", lambda d: d.max_profit_usd),
    ("max_loss_usd", lambda d: d.max_loss_usd),
    ("model_version", lambda d: d.model_version),
    ("model_score", lambda d: d.model_score),
]
