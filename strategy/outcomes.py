"""Candidate outcomes and labels: what every candidate's spread did after its window.

Backtests write them from the engine's walk (``backtests.services.assembly``). Live, a job walks
the stored snapshots of each pending candidate's expiration every capture slot with the same
mark step as the live marks (``rules.mark_step``: the fill-model debit to close, the decision's
frozen TP/SL and time exit), until a take profit, a stop, the time exit, or the cash settlement of its series (``settlement_value``, the same
source the live trades settle from) — the shadow outcome. So a candidate the risk rules or a gate
turned away keeps feeding the dataset.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from snapshots.analytics import settlement_for
from snapshots.models import ChainSnapshot
from strategy.models import DecisionOutcome, TradeDecision
from strategy.quant import rules
from strategy.quant.decision import ML_GATE, RISK_LIMIT, TRADE
from strategy.quant.money import cents
from strategy.quant.osi import parse_symbol
from strategy.quant.types import SETTLEMENT, as_side
from strategy.services import exit_rules_of

logger = logging.getLogger(__name__)
# Decisions whose spread passed selection: what the gate and the dataset care about.
CANDIDATE_REASONS = (RISK_LIMIT, ML_GATE)
SettlementFn = Callable[[dt.date, str], "tuple[float, str] | None"]


def outcome_fields(*, entry_credit: Decimal, quantity: int, entry_at: dt.datetime, exit_reason: str,
                   exit_debit: Decimal, exit_at: dt.datetime, fee_per_contract_usd: float, take_profit_fraction: float,
                   settlement_price: Decimal | None = None, settlement_source: str = "") -> dict[str, Any]:
    """A resolved outcome's fields (live shadow and backtest alike): PnL as a trade books it, label."""
    fees = cents(rules.fees_usd(fee_per_contract_usd, quantity, settled=exit_reason == SETTLEMENT))
    gross = rules.pnl_usd(float(entry_credit), float(exit_debit), quantity)
    return {
        "status": DecisionOutcome.Status.RESOLVED, "entry_credit": entry_credit, "exit_reason": exit_reason,
        "exit_at": exit_at, "exit_debit": cents(exit_debit), "settlement_price": settlement_price,
        "settlement_source": settlement_source[:200], "pnl_usd": cents(Decimal(str(gross)) - fees),
        "holding_minutes": (exit_at - entry_at).total_seconds() / 60,
        "label": rules.outcome_label(exit_reason, float(exit_debit), entry_credit=float(entry_credit),
                                     take_profit_fraction=take_profit_fraction),
    }


def pending_candidates() -> QuerySet[TradeDecision]:
    """Live decisions whose spread passed selection and whose outcome is not resolved yet."""
    return (TradeDecision.objects.filter(backtest_run__isnull=True, credit_fill__isnull=False)
            .filter(Q(action=TRADE) | Q(reason_code__in=CANDIDATE_REASONS))
            .exclude(outcome__status__in=[DecisionOutcome.Status.RESOLVED, DecisionOutcome.Status.UNRESOLVED]))


def pending_expirations() -> list[dt.date]:
    """Expirations the capture must keep storing so the shadow walk can mark them."""
    return sorted({e for e in pending_candidates().values_list("expiration", flat=True) if e is not None})


QuoteCache = dict[int, dict[str, tuple[float, float]]]


def _leg_quotes(snapshot: ChainSnapshot, symbols: tuple[str, str],
                cache: QuoteCache) -> tuple[float, float, float, float] | None:
    """Both legs' (bid, ask) in a stored chain; a chain is parsed once per update (``cache``)."""
    if snapshot.pk not in cache:
        cache[snapshot.pk] = {str(o["symbol"]): (float(o["bid"]), float(o["ask"])) for o in snapshot.payload_options()
                              if isinstance(o.get("bid"), (int, float)) and isinstance(o.get("ask"), (int, float))}
    found = cache[snapshot.pk]
    if symbols[0] not in found or symbols[1] not in found:
        return None
    return (*found[symbols[0]], *found[symbols[1]])


def shadow_walk(decision: TradeDecision, *, now: dt.datetime, settlement_value: SettlementFn,
                cache: QuoteCache | None = None) -> DecisionOutcome:
    """Walk one live candidate's stored snapshots from its last walked slot to ``now``; resolve it at
    the first TP/SL/time-exit mark or at its settlement. Idempotent: a rerun resumes where the last one ended."""
    assert decision.credit_fill is not None and decision.width_points is not None and decision.expiration is not None
    outcome, _ = DecisionOutcome.objects.get_or_create(
        decision=decision, defaults={"method": DecisionOutcome.Method.SHADOW, "entry_credit": decision.credit_fill})
    if outcome.status != DecisionOutcome.Status.PENDING:
        return outcome
    short, long_ = decision.legs
    root = parse_symbol(short["symbol"]).root
    settles_at = settlement_for(decision.expiration, root)
    quantity = int(decision.config_params.get("quantity", 1))
    credit = decision.credit_fill
    exits = exit_rules_of(decision.config_params)  # frozen with the decision: a later config edit changes nothing
    time_exit = rules.time_exit_for(exits, expiration=decision.expiration, settles_at=settles_at)
    common = {"entry_credit": credit, "quantity": quantity, "entry_at": decision.decided_at,
              "fee_per_contract_usd": settings.FEES_PER_CONTRACT_USD, "take_profit_fraction": exits.take_profit_fraction}
    since = outcome.walked_until or decision.decided_at - dt.timedelta(seconds=1)
    snapshots = (ChainSnapshot.objects.filter(underlying=settings.SNAPSHOT_UNDERLYING, expiration=decision.expiration,
                                              ts__gt=since, ts__lte=min(now, settles_at))
                 .order_by("ts"))
    for snap in snapshots:
        quotes = _leg_quotes(snap, (short["symbol"], long_["symbol"]), cache if cache is not None else {})
        outcome.walked_until = snap.ts
        step = rules.mark_step(*quotes, entry_credit=float(credit), width_points=float(decision.width_points),
                               exit_rules=exits, at=snap.ts, time_exit=time_exit) if quotes else None
        if step is not None and step[2] is not None:
            signal = step[2]
            for name, value in outcome_fields(exit_reason=signal.reason, exit_debit=Decimal(str(step[1])),
                                              exit_at=snap.ts, **common).items():
                setattr(outcome, name, value)
            outcome.save()
            return outcome
    if now >= settles_at:
        value = settlement_value(decision.expiration, root)
        if value is not None:
            price, source = value
            debit = rules.settlement_value(as_side(decision.config_params["side"]), float(short["strike"]),
                                           float(long_["strike"]), float(price))
            for name, v in outcome_fields(exit_reason=SETTLEMENT, exit_debit=Decimal(str(debit)), exit_at=settles_at,
                                          settlement_price=cents(price), settlement_source=source, **common).items():
                setattr(outcome, name, v)
    outcome.save()
    return outcome


def shadow_outcomes_update(*, now: dt.datetime, settlement_value: SettlementFn) -> dict[str, int]:
    """Advance every pending live candidate to ``now``; counts of what happened."""
    counts = {"walked": 0, "resolved": 0}
    cache: QuoteCache = {}
    for decision in pending_candidates().filter(decided_at__lte=now).order_by("decided_at", "pk"):
        with transaction.atomic():
            outcome = shadow_walk(decision, now=now, settlement_value=settlement_value, cache=cache)
        counts["walked"] += 1
        counts["resolved"] += outcome.status == DecisionOutcome.Status.RESOLVED
    return counts
