"""The decision core: one entry window for a set of strategies, from quotes to verdicts.

Live (``strategy.services.entry_window_run``) and the backtester (``backtests.engine``) call these
same functions and only do I/O around them:

1. ``evaluate`` — per strategy: the chain it read (our forward, IV and delta) → ``select_spread``
   with its quality filters → the decision-time features → the config's entry filters on those
   features (``rules.entry_filter_check``: SKIP ``entry_filter``). A strategy that read no usable
   chain gets ``missing`` (``no_snapshot`` / ``stale_snapshot``) instead.
2. ``decide_window`` — the evaluations of one window instant, per risk book: the ones that want to
   trade are ranked (``rules.rank_candidates``), checked in that order against the book's risk
   state (``rules.risk_check``, each TRADE counting against the next), then the ML gate; the rest
   keep their selection reason. Returns a ``Verdict`` per evaluation.

Pure: stdlib and numpy only, no Django, no clock, no I/O. The window's market and calendar facts
(``features.WindowContext``, ``features.ForwardHistory``) and the ML gate (a plain
``features → GateScore`` callable) are passed in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from strategy.quant import rules
from strategy.quant.analytics import ChainAnalytics
from strategy.quant.features import FeatureRow, ForwardHistory, WindowContext, candidate_features
from strategy.quant.types import (
    REASONS,
    ChainQuotes,
    EntryFilters,
    ExitRules,
    Leg,
    NoCandidate,
    RiskLimits,
    SpreadCandidate,
    SpreadRules,
)

Action = Literal["TRADE", "SKIP"]
TRADE: Final = "TRADE"
SKIP: Final = "SKIP"

# Decision reason codes beyond the selection and risk ones (``types.REASONS``).
NO_SNAPSHOT: Final = "no_snapshot"
STALE_SNAPSHOT: Final = "stale_snapshot"
NO_FORWARD: Final = "no_forward"
ENTRY_FILTER: Final = "entry_filter"
RISK_LIMIT: Final = "risk_limit"
ML_GATE: Final = "ml_gate"
ML_ERROR: Final = "ml_error"
TRADE_OK: Final = "ok"
DEFAULT_ML_GROUP: Final = "spx-verticals"  # the strategy group of a config that names none
DECISION_REASONS: Final[Mapping[str, str]] = MappingProxyType({
    **REASONS,
    NO_SNAPSHOT: "no chain of the DTE bucket's expiration was read at the window",
    STALE_SNAPSHOT: "the latest chain of the bucket is older than the config allows",
    NO_FORWARD: "our implied forward could not be fitted from the chain (or it has settled)",
    ENTRY_FILTER: "the spread passed selection but one of the config's entry filters refused the entry "
                  "(weekday, event day, VIX range, term ratio range, credit / width; the message names it and "
                  "the value)",
    RISK_LIMIT: "a risk limit refused the trade (the message says which)",
    ML_GATE: "the meta-labeler scored the candidate below its threshold",
    ML_ERROR: "the meta-labeler could not score the candidate, so it was not traded (the message says why)",
    TRADE_OK: "selected: the spread passed its filters, the risk limits and the gate",
})


@dataclass(frozen=True)
class StrategySpec:
    """One strategy deciding at a window: a strategy config (at some entry windows) in a risk book.

    ``key`` is unique among the strategies of a decision set and is the ranking's last tie-break
    (live: the config's name). Strategies with the same ``book`` share one risk budget.
    ``exits``: how its trades close (the config's frozen exit rules; the decision itself does not
    read them, the marks and the backtest's exit walk do). ``filters``: its entry filters on the
    decision-time features (``evaluate`` applies them once the spread passed selection).
    """

    key: str
    priority: int
    book: str
    target_dte: int
    rules: SpreadRules
    limits: RiskLimits
    ml_group: str = DEFAULT_ML_GROUP  # whose meta-labeler gates it (``StrategyConfig.ml_group``)
    exits: ExitRules = field(default_factory=ExitRules)
    filters: EntryFilters = field(default_factory=EntryFilters)


@dataclass(frozen=True)
class ChainRead:
    """The chain a strategy read at the window: our analytics of it, and how old and how far out it is."""

    analytics: ChainAnalytics
    actual_dte_days: int | None
    age_minutes: float = 0.0  # the snapshot's age live; 0 in a backtest (quotes in force at the minute)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A strategy's way to a decision before the risk rules: a candidate spread, or why not.

    ``reason_code`` is empty when the candidate passed its filters (``wants_to_trade``); else the
    selection or data reason, and ``candidate`` is the rejected spread when one was built.
    ``features`` is everything known at decision time (``strategy.quant.features``).
    """

    spec: StrategySpec
    at: dt.datetime
    candidate: SpreadCandidate | None
    reason_code: str
    reason_message: str
    features: FeatureRow = field(default_factory=lambda: FeatureRow({}, {}))

    @property
    def wants_to_trade(self) -> bool:
        return self.candidate is not None and self.candidate.passed and not self.reason_code


@dataclass(frozen=True)
class GateScore:
    """What the ML gate says about one candidate's features (``score`` None = not scored).

    ``error``: the model could not score it (a broken file, a feature schema it was not trained
    on, ...): the candidate is SKIPped with ``ml_error`` — never traded unscored while a gate is on.
    """

    allowed: bool
    reason: str
    model_version: str = ""
    score: float | None = None
    error: bool = False


Gate = Callable[[str, Mapping[str, float]], GateScore]  # (strategy group, feature values; NaN = missing) → score


@dataclass(frozen=True)
class BookState:
    """A risk book's state at the window instant: trades open now, entered today, stopped out today."""

    open_trades: int = 0
    entries_today: int = 0
    stops_today: int = 0


@dataclass(frozen=True, eq=False)
class Verdict:
    """TRADE or SKIP for one evaluation, with the reason code and message stored on the decision."""

    evaluation: Evaluation
    action: Action
    reason_code: str
    reason_message: str
    model_version: str = ""
    model_score: float | None = None

    @property
    def spec(self) -> StrategySpec:
        return self.evaluation.spec

    @property
    def candidate(self) -> SpreadCandidate | None:
        return self.evaluation.candidate


# ------------------------------------------------------------------------------------ evaluation

def chain_quotes(a: ChainAnalytics) -> ChainQuotes:
    """The selection input of a chain's analytics (validated once; share it between strategies)."""
    return ChainQuotes(
        strikes=a.strikes, is_call=a.is_call, bid=a.bid, ask=a.ask, iv=a.iv, delta=a.delta,
        symbols=a.symbols.astype(object), root=a.root, expiration=a.expiration,
        forward=a.fit.forward, t_years=a.t_years,
    )


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def leg_record(leg: Leg) -> dict[str, Any]:
    """A leg as stored on a decision (JSON: non-finite numbers become null)."""
    return {"symbol": leg.symbol, "side": leg.side, "strike": leg.strike, "is_call": leg.is_call,
            "bid": _finite(leg.bid), "ask": _finite(leg.ask), "mid": _finite(leg.mid), "iv": _finite(leg.iv),
            "delta": _finite(leg.delta)}


def _features(spec: StrategySpec, chain: ChainRead | None, candidate: SpreadCandidate | None, *,
              window: WindowContext, history: ForwardHistory) -> FeatureRow:
    return candidate_features(
        target_dte=spec.target_dte, delta_target=spec.rules.short_delta_target, side_is_call=spec.rules.is_call,
        chain=chain.analytics if chain is not None else None, dte_calendar=chain.actual_dte_days if chain else None,
        candidate=candidate, history=history, window=window,
    )


def missing(spec: StrategySpec, *, window: WindowContext, reason_code: str, reason_message: str,
            dte_calendar: int | None = None) -> Evaluation:
    """The evaluation of a strategy that read no usable chain (``no_snapshot``, ``stale_snapshot``);
    its window's market and calendar features are still known."""
    row = candidate_features(target_dte=spec.target_dte, delta_target=spec.rules.short_delta_target,
                             side_is_call=spec.rules.is_call, chain=None, dte_calendar=dte_calendar, candidate=None,
                             history=ForwardHistory(), window=window)
    return Evaluation(spec, window.at, None, reason_code, reason_message, row)


def evaluate(
    spec: StrategySpec, chain: ChainRead, *, window: WindowContext, history: ForwardHistory,
    quotes: ChainQuotes | None = None,
) -> Evaluation:
    """Chain → candidate spread → features → entry filters for one strategy (no risk rules yet).

    Order: ``no_forward``, then the selection reasons (``select_spread``), then — for a spread that
    passed selection — the entry filters (``rules.entry_filter_check`` on the features: SKIP
    ``entry_filter``, the rejected spread kept as for a selection SKIP). ``quotes`` is ``chain_quotes(chain.analytics)`` when the caller already built it (strategies
    reading the same chain share one). A chain without a fitted forward, or at/after its
    settlement, is SKIP ``no_forward``. ``window`` and ``history`` carry the market and calendar
    facts of the window and the expiration's forward earlier in the session (``features``).
    """
    a = chain.analytics
    at = window.at
    if not a.fit.ok or a.t_years <= 0:
        feats = _features(spec, chain, None, window=window, history=history)
        return Evaluation(spec, at, None, NO_FORWARD, f"no implied forward for the chain: {a.fit.reason}", feats)
    result = rules.select_spread(quotes if quotes is not None else chain_quotes(a), spec.rules)
    candidate = result.candidate if isinstance(result, NoCandidate) else result
    feats = _features(spec, chain, candidate, window=window, history=history)
    if isinstance(result, NoCandidate):
        return Evaluation(spec, at, candidate, result.reason, result.message, feats)
    refusal = rules.entry_filter_check(spec.filters, feats.values, feats.missing)
    if refusal is not None:
        return Evaluation(spec, at, candidate, ENTRY_FILTER, f"{refusal.filter}: {refusal.message}", feats)
    return Evaluation(spec, at, candidate, "", "", feats)


# ------------------------------------------------------------------------------------ the window

def decide_window(
    evaluations: Sequence[Evaluation], books: Mapping[str, BookState], *, gate: Gate | None = None,
) -> list[Verdict]:
    """A verdict for every evaluation of one window instant, in the input order.

    Per book: the evaluations that want to trade are ranked — priority ascending, then
    credit / width descending (exactly), then key — and walked in that order against the book's
    state (``books[book]``, empty if absent). Each is scored first by ``gate(group, features)`` when
    a gate is given (so the score is stored on risk-limited candidates too); then a risk limit →
    SKIP ``risk_limit`` with the rule's code and message; a gate error → SKIP ``ml_error``; a score
    below the threshold → SKIP ``ml_gate``; else TRADE, which counts as one more open trade and one
    more entry for the next in line.
    Every other evaluation keeps its own reason as a SKIP.
    """
    out: dict[int, Verdict] = {}
    by_book: dict[str, list[Evaluation]] = {}
    for ev in evaluations:
        if ev.wants_to_trade:
            by_book.setdefault(ev.spec.book, []).append(ev)
    for book, members in by_book.items():
        by_key = {ev.spec.key: ev for ev in members}
        ranked = rules.rank_candidates([(ev.spec.priority, c, ev.spec.key) for ev in members
                                        if (c := ev.candidate) is not None])
        state = books.get(book, BookState())
        open_now, entries = state.open_trades, state.entries_today
        for _, _, key in ranked:
            ev = by_key[key]
            g = gate(ev.spec.ml_group, ev.features.values) if gate is not None else None
            version, score = (g.model_version, g.score) if g is not None else ("", None)
            risk = rules.risk_check(open_trades=open_now, entries_today=entries, stops_today=state.stops_today,
                                    limits=ev.spec.limits)
            if not risk.allowed:
                out[id(ev)] = Verdict(ev, SKIP, RISK_LIMIT, f"{risk.reason}: {risk.message}", version, score)
                continue
            if g is not None and g.error:
                out[id(ev)] = Verdict(ev, SKIP, ML_ERROR, f"model {g.model_version}: {g.reason}", version, score)
                continue
            if g is not None and not g.allowed:
                out[id(ev)] = Verdict(ev, SKIP, ML_GATE, f"model {g.model_version} score {g.score}: {g.reason}",
                                      version, score)
                continue
            out[id(ev)] = Verdict(ev, TRADE, TRADE_OK, f"selected ({g.reason if g is not None else 'no gate'})",
                                  g.model_version if g is not None else "", g.score if g is not None else None)
            open_now += 1
            entries += 1
    return [out.get(id(ev)) or Verdict(ev, SKIP, ev.reason_code, ev.reason_message) for ev in evaluations]
