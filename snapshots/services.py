"""Writes for the snapshots app: capture chains for the DTE targets at one slot."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from snapshots import market_calendar, payloads, settlement_values
from snapshots.context import context_capture
from snapshots.expiry_selection import choose_expiration
from snapshots.models import CaptureFailure, ChainSnapshot, OptionInstrument
from snapshots.providers import registry
from snapshots.providers.base import ChainResult, MarketDataProvider, ProviderError
from snapshots.providers.simulated_market import RegimeParams, regime_preset
from strategy.quant.timemodel import NEW_YORK

logger = logging.getLogger(__name__)


def provider_get(*, now: dt.datetime | None = None) -> MarketDataProvider:
    """The configured market-data provider (``MARKET_DATA_PROVIDER``, from ``providers.registry``).

    ``now`` pins the simulated market's clock, and the OPRA replay's, to the capture time (so
    ``--at`` a past time replays that moment); Tradier always answers with its live (sandbox:
    15-minute delayed) market.
    """
    return registry.get(settings.MARKET_DATA_PROVIDER).factory(now)


def tradier_provider(now: dt.datetime | None = None) -> MarketDataProvider:
    """Tradier market data (``TRADIER_ACCESS_TOKEN``); it has no notion of a replayed ``now``."""
    from snapshots.providers.tradier import TradierClient

    return TradierClient(settings.TRADIER_BASE_URL, settings.TRADIER_ACCESS_TOKEN, timeout_s=settings.TRADIER_TIMEOUT_S)


def simulated_provider(now: dt.datetime | None = None) -> MarketDataProvider:
    """The simulated market at ``now`` (outside the session: a replay of the last one, see below)."""
    from snapshots.providers.simulated import SimulatedMarket

    market_now = simulated_market_time(now or timezone.now())
    market = SimulatedMarket(seed=settings.SIMULATED_MARKET_SEED, now=lambda: market_now, regime=simulated_regime())
    if market_now != (now or market_now):
        market.name = "simulated-replay"
    return market


def simulated_regime() -> RegimeParams:
    """The simulated market's planted regime (``SIMULATED_REGIME``: off (default), on, strong)."""
    return regime_preset(settings.SIMULATED_REGIME)


def simulated_settlement(expiration: dt.date, root: str, now: dt.datetime) -> tuple[float, str] | None:
    """The simulated market's own settlement value: its SPX at the settlement instant."""
    from snapshots.providers.simulated import SimulatedMarket

    value = SimulatedMarket(seed=settings.SIMULATED_MARKET_SEED, now=lambda: now,
                            regime=simulated_regime()).settlement_value(expiration, root)
    return (float(value), f"simulated SPX at the {root} settlement instant") if value is not None else None


def tradier_settlement(expiration: dt.date, root: str, now: dt.datetime) -> tuple[float, str] | None:
    """Tradier publishes no settlement values: the SPX quote's ``last`` once a PM series' session
    has closed stands in (ORATS-derived, tradier.md §5.3); AM values wait for an official one."""
    if root != "SPXW" or now < market_calendar.expiring_series_close(expiration):
        return None
    quote = provider_get().quotes(["SPX"]).quotes.get("SPX", {})
    last = quote.get("last")
    return (float(last), "tradier SPX last after the close (derived)") if isinstance(last, (int, float)) else None


def simulated_market_time(now: dt.datetime) -> dt.datetime:
    """The moment the simulated market shows at ``now``: ``now`` in the session, else a replay.

    Outside the session (with ``SIMULATED_REPLAY_OUTSIDE_RTH``) it maps ``now`` into the most
    recent session that has opened: open + (seconds since the epoch mod the session length). So
    successive 5-minute slots at night walk through that session 5 minutes at a time, and loop.
    """
    if not settings.SIMULATED_REPLAY_OUTSIDE_RTH or market_calendar.is_session_open(now):
        return now
    day = now.astimezone(NEW_YORK).date()
    bounds = market_calendar.session_bounds(day)
    while bounds is None or bounds[0] > now:
        day = market_calendar.previous_trading_day(day)
        bounds = market_calendar.session_bounds(day)
    open_utc, close_utc = bounds
    length_s = (close_utc - open_utc).total_seconds()
    return open_utc + dt.timedelta(seconds=now.timestamp() % length_s)


def slot_floor(now: dt.datetime, *, minutes: int) -> dt.datetime:
    """The capture slot containing ``now``: UTC, floored to a multiple of ``minutes`` past the hour."""
    now_utc = now.astimezone(dt.UTC)
    return now_utc.replace(minute=now_utc.minute - now_utc.minute % minutes, second=0, microsecond=0)


@dataclass
class CaptureResult:
    skipped: bool
    reason: str
    now_et: dt.datetime
    slot: dt.datetime
    provider: str = ""
    inserted: list[dict[str, Any]] = field(default_factory=list)
    existing: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    context_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["now_et"] = self.now_et.isoformat()
        data["slot"] = self.slot.isoformat()
        return data


def _failure(
    result: CaptureResult,
    *,
    stage: str,
    exc: Exception | str,
    target_dte: int | None = None,
    expiration: dt.date | None = None,
) -> None:
    names: dict[str, str] = {CaptureFailure.Stage.SELECT: "NoExpiration", CaptureFailure.Stage.CHAIN: "EmptyChain",
                             CaptureFailure.Stage.CONTEXT: "ContextGap"}
    error_type = type(exc).__name__ if isinstance(exc, Exception) else names.get(stage, "CaptureError")
    message = str(exc)
    CaptureFailure.objects.create(
        ts=result.slot,
        underlying=settings.SNAPSHOT_UNDERLYING,
        stage=stage,
        target_dte=target_dte,
        expiration=expiration,
        provider=result.provider,
        error_type=error_type,
        message=message,
    )
    logger.warning("snapshot capture %s failed (target %s, %s): %s: %s", stage, target_dte, expiration, error_type, message)
    result.failures.append(
        {"stage": stage, "target_dte": target_dte, "expiration": expiration.isoformat() if expiration else None,
         "error": f"{error_type}: {message}"}
    )


def _chain_root(chain: ChainResult) -> str:
    roots = {str(o.get("root_symbol") or "") for o in chain.options}
    if "SPXW" in roots:
        return "SPXW"
    return sorted(r for r in roots if r)[0] if any(roots) else chain.underlying


def _instruments_record(chain: ChainResult, underlying: str) -> None:
    """Add contracts not seen before (one query for the known symbols, one bulk insert)."""
    known = set(OptionInstrument.objects.filter(expiration=chain.expiration).values_list("symbol", flat=True))
    new = []
    for o in chain.options:
        symbol = str(o["symbol"])
        if symbol in known:
            continue
        known.add(symbol)
        root = str(o.get("root_symbol") or underlying)
        new.append(
            OptionInstrument(
                symbol=symbol,
                underlying=underlying,
                root=root,
                expiration=chain.expiration,
                strike=Decimal(str(o["strike"])),
                option_type=str(o.get("option_type", "")),
                settlement=OptionInstrument.Settlement.AM if root == "SPX" else OptionInstrument.Settlement.PM,
            )
        )
    OptionInstrument.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)


def snapshot_store(
    *,
    chain: ChainResult,
    slot: dt.datetime,
    target_dte: int,
    actual_dte_days: int,
    provider: str,
    purpose: str = ChainSnapshot.Purpose.TARGET,
    dte_targets: list[int] | None = None,
) -> tuple[ChainSnapshot, bool]:
    """Store one chain at one slot; returns (row, created). A second call for the key changes nothing.

    ``dte_targets``: the DTE targets the chain serves (default: ``[target_dte]`` for a target chain).
    """
    existing = ChainSnapshot.objects.filter(underlying=chain.underlying, expiration=chain.expiration, ts=slot).first()
    if existing:
        return existing, False
    canonical = payloads.canonical_json(chain.payload)
    try:
        with transaction.atomic():
            row = ChainSnapshot.objects.create(
                ts=slot,
                captured_at=chain.received_at,
                underlying=chain.underlying,
                root=_chain_root(chain),
                target_dte=target_dte,
                dte_targets=dte_targets if dte_targets is not None else (
                    [target_dte] if purpose == ChainSnapshot.Purpose.TARGET else []),
                purpose=purpose,
                expiration=chain.expiration,
                actual_dte_days=actual_dte_days,
                provider=provider,
                option_count=len(chain.options),
                payload_zstd=payloads.compress(canonical),
                payload_size_bytes=len(canonical),
                checksum=payloads.checksum_of(canonical),
            )
            _instruments_record(chain, chain.underlying)
    except IntegrityError:
        # Another worker stored this slot between our check and insert: theirs stands.
        return ChainSnapshot.objects.get(underlying=chain.underlying, expiration=chain.expiration, ts=slot), False
    return row, True


def snapshot_capture(
    *, now: dt.datetime, force: bool = False, provider: MarketDataProvider | None = None,
    context: bool | None = None, position_expirations: Iterable[dt.date] | None = None,
) -> CaptureResult:
    """Capture one chain per DTE target for the slot containing ``now``.

    Scheduled runs (``force=False``) happen only while the SPX options session is open per the
    trading calendar, unless ``ALLOW_SNAPSHOT_OUTSIDE_RTH``. Idempotent per (underlying,
    expiration, slot): a rerun inserts nothing and does not refetch. One failing expiration is
    recorded as a ``CaptureFailure`` and the others still land. The chains of open positions'
    expirations are stored too: ``position_expirations``, or by default those the registered
    sources give (``register_position_expirations``). Listing the expirations is the
    one step whose failure ends the run: ``ProviderError`` is re-raised after it is recorded, so
    the task can retry it and the API can answer 502.
    """
    now_et = now.astimezone(NEW_YORK)
    slot = slot_floor(now, minutes=settings.SNAPSHOT_INTERVAL_MINUTES)
    result = CaptureResult(skipped=False, reason="", now_et=now_et, slot=slot)
    if not force and not settings.ALLOW_SNAPSHOT_OUTSIDE_RTH and not market_calendar.is_session_open(now):
        result.skipped = True
        day = now_et.date()
        result.reason = (
            "market closed: not a trading day" if not market_calendar.is_trading_day(day)
            else "market closed: outside the 09:30-16:15 ET session"
        )
        return result

    provider = provider or provider_get(now=now)
    result.provider = provider.name
    underlying = settings.SNAPSHOT_UNDERLYING
    try:
        listed = [e.date for e in provider.expirations(underlying, include_all_roots=True)]
    except ProviderError as exc:
        _failure(result, stage=CaptureFailure.Stage.EXPIRATIONS, exc=exc)
        raise

    # expiration -> (the DTE targets it serves, ascending; actual dte). Two targets may resolve to one
    # expiration (3 and 5 DTE in Thanksgiving week): the chain is stored once and serves both.
    wanted: dict[dt.date, tuple[list[int], int]] = {}
    for target in sorted(settings.SNAPSHOT_DTE_TARGETS):
        choice = choose_expiration(
            now_et.date(), listed, target_dte=target, tolerance_days=settings.SNAPSHOT_DTE_TOLERANCE_DAYS, force=force
        )
        if choice.expiration is None:
            _failure(result, stage=CaptureFailure.Stage.SELECT, exc=choice.reason, target_dte=target)
            continue
        assert choice.actual_dte_days is not None
        wanted.setdefault(choice.expiration, ([], choice.actual_dte_days))[0].append(target)

    for expiration, (targets, actual_dte) in sorted(wanted.items(), key=lambda kv: kv[1][0][0]):
        target = targets[0]
        summary = {"target_dte": target, "dte_targets": targets, "expiration": expiration.isoformat(),
                   "actual_dte_days": actual_dte}
        existing = ChainSnapshot.objects.filter(underlying=underlying, expiration=expiration, ts=slot).first()
        if existing:
            result.existing.append({**summary, "checksum": existing.checksum, "snapshot_id": existing.pk})
            continue
        try:
            chain = provider.chain(underlying, expiration, greeks=True)
        except ProviderError as exc:
            _failure(result, stage=CaptureFailure.Stage.CHAIN, exc=exc, target_dte=target, expiration=expiration)
            continue
        if not chain.options:
            _failure(result, stage=CaptureFailure.Stage.CHAIN, exc="empty chain returned", target_dte=target,
                     expiration=expiration)
            continue
        row, created = snapshot_store(
            chain=chain, slot=slot, target_dte=target, actual_dte_days=actual_dte, provider=provider.name,
            dte_targets=targets,
        )
        (result.inserted if created else result.existing).append(
            {**summary, "checksum": row.checksum, "snapshot_id": row.pk}
        )
    _positions_capture(result, provider=provider, listed=listed, now_et=now_et, expirations=position_expirations)
    if not result.inserted and not result.existing and result.failures:
        result.reason = "no snapshot stored: every target failed"
        return result
    if settings.SNAPSHOT_CONTEXT_ENABLED if context is None else context:
        _context_record(result, provider=provider, listed=listed, now_et=now_et)
    return result


# Apps above this one that hold positions register where their open expirations come from
# (``execution.apps``), so every capture also stores those chains and marks can value them.
_position_sources: list[Callable[[], Iterable[dt.date]]] = []


def register_position_expirations(source: Callable[[], Iterable[dt.date]]) -> None:
    """Add a source of expirations the capture stores every slot too (``purpose="position"``)."""
    if source not in _position_sources:
        _position_sources.append(source)


def _positions_capture(result: CaptureResult, *, provider: MarketDataProvider, listed: list[dt.date],
                       now_et: dt.datetime, expirations: Iterable[dt.date] | None) -> None:
    """Open trades' expirations are captured every slot too, so marks value them from stored chains."""
    underlying = settings.SNAPSHOT_UNDERLYING
    wanted = set(expirations) if expirations is not None else {e for src in _position_sources for e in src()}
    for expiration in sorted(wanted):
        if expiration not in listed or ChainSnapshot.objects.filter(
            underlying=underlying, expiration=expiration, ts=result.slot
        ).exists():
            continue
        try:
            chain = provider.chain(underlying, expiration, greeks=True)
        except ProviderError as exc:
            _failure(result, stage=CaptureFailure.Stage.CHAIN, exc=exc, expiration=expiration)
            continue
        if chain.options:
            dte = (expiration - now_et.date()).days
            snapshot_store(chain=chain, slot=result.slot, target_dte=max(dte, 0), actual_dte_days=dte,
                           provider=provider.name, purpose=ChainSnapshot.Purpose.POSITION)


def _context_record(result: CaptureResult, *, provider: MarketDataProvider, listed: list[dt.date], now_et: dt.datetime) -> None:
    """The slot's market context; its problems become capture failures, never a lost snapshot."""

    underlying = settings.SNAPSHOT_UNDERLYING
    chains = list(ChainSnapshot.objects.filter(
        underlying=underlying, ts=result.slot, purpose=ChainSnapshot.Purpose.TARGET
    ))

    def store_vix_chain(chain: ChainResult, target_days: int) -> ChainSnapshot:
        row, _ = snapshot_store(
            chain=chain, slot=result.slot, target_dte=target_days,
            actual_dte_days=(chain.expiration - now_et.date()).days, provider=provider.name,
            purpose=ChainSnapshot.Purpose.VIX,
        )
        return row

    try:
        context, problems = context_capture(
            slot=result.slot, provider=provider, listed=listed, chains=chains, store_chain=store_vix_chain
        )
    except Exception as exc:  # context is derived data: record and keep the chains we stored
        logger.exception("market context failed for slot %s", result.slot)
        _failure(result, stage=CaptureFailure.Stage.CONTEXT, exc=exc)
        return
    for where, problem in problems:
        message = f"{where}: {problem}"
        _failure(result, stage=CaptureFailure.Stage.CONTEXT,
                 exc=type(problem)(message) if isinstance(problem, Exception) else message)
    result.context_id = context.pk if context else None


def settlement_value_get(expiration: dt.date, root: str) -> tuple[float, str] | None:
    """The settlement value of ``root`` options expiring on ``expiration``, with where it came from.

    An official value loaded by the operator (``settlement_import``) comes first, whatever the
    provider; else the configured provider's own (``providers.registry``): the simulated market's
    SPX at the settlement instant, Tradier's SPX quote after a PM close (AM trades wait for an
    official value), the OPRA replay's estimate from the expiring chain (as the backtester settles).
    None until one is known.
    """
    official = settlement_values.official_settlement(expiration, root)
    if official is not None:
        return official[0], f"official {official[1]}"
    settle = registry.get(settings.MARKET_DATA_PROVIDER).settlement
    return settle(expiration, root, timezone.now()) if settle is not None else None
