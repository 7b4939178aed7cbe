"""The trades table as CSV columns (``snapshots.csv_export``): the stored figures of each trade."""

from __future__ import annotations

from snapshots.csv_export import Column

TRADE_COLUMNS: list[Column] = [
    ("trade_id", lambda t: t.pk),
    ("source", lambda t: t.source),
    ("backtest_run_id", lambda t: t.backtest_run_id),
    ("decision_id", lambda t: t.decision_id),
    ("strategy_config", lambda t: t.strategy_config.name),
    ("entry_window", lambda t: t.decision.entry_window),
    ("side", lambda t: t.side),
    ("root", lambda t: t.root),
    ("expiration", lambda t: t.expiration),
    ("quantity", lambda t: t.quantity),
    ("short_strike", lambda t: t.short_strike),
    ("long_strike", lambda t: t.long_strike),
    ("width_points", lambda t: t.width_points),
    ("entry_credit", lambda t: t.entry_credit),
    ("max_profit_usd", lambda t: t.max_profit_usd),
    ("max_loss_usd", lambda t: t.max_loss_usd),
    ("take_profit_debit", lambda t: t.take_profit_debit),
    ("stop_loss_debit", lambda t: t.stop_loss_debit),
    ("status", lambda t: t.status),
    ("opened_at", lambda t: t.opened_at),
    ("closed_at", lambda t: t.closed_at),
    ("exit_reason", lambda t: t.exit_reason),
    ("exit_debit", lambda t: t.exit_debit),
    ("settlement_price", lambda t: t.settlement_price),
    ("fees_usd", lambda t: t.fees_usd),
    ("realized_pnl_usd", lambda t: t.realized_pnl_usd),
]
