from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from snapshots import payloads


class OptionInstrument(models.Model):
    """One listed option contract, known from the chains we captured (business key: the OSI symbol)."""

    class OptionType(models.TextChoices):
        CALL = "call"
        PUT = "put"

    class Settlement(models.TextChoices):
        AM = "AM", "AM (opening quotation)"
        PM = "PM", "PM (closing value)"

    symbol = models.CharField(max_length=32, unique=True)
    underlying = models.CharField(max_length=10)
    root = models.CharField(max_length=6)
    expiration = models.DateField()
    strike = models.DecimalField(max_digits=10, decimal_places=3)
    option_type = models.CharField(max_length=4, choices=OptionType.choices)
    settlement = models.CharField(max_length=2, choices=Settlement.choices)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "option_instruments"
        indexes = [models.Index(fields=["underlying", "expiration", "strike"])]
        ordering = ["expiration", "strike", "option_type"]

    def __str__(self) -> str:
        return self.symbol


class ChainSnapshot(models.Model):
    """One expiration's option chain at one capture slot, stored as received plus its checksum.

    ``ts`` is the capture slot (UTC, floored to the snapshot interval); it is the business key with
    the underlying and the expiration, so a rerun or a second beat tick adds nothing. ``purpose``
    says why it was fetched: a DTE target of the strategy, or a term of the VIX-style index.
    """

    class Purpose(models.TextChoices):
        TARGET = "target", "DTE target"
        VIX = "vix", "VIX-style index term"
        POSITION = "position", "an open trade's expiration"

    ts = models.DateTimeField(help_text="capture slot, UTC")
    captured_at = models.DateTimeField(help_text="when the chain was received, UTC")
    underlying = models.CharField(max_length=10)
    root = models.CharField(max_length=6, help_text="SPXW (PM) preferred; SPX (AM) on a monthly-only date")
    target_dte = models.PositiveSmallIntegerField(help_text="DTE bucket (or 9/30 for a VIX term)")
    dte_targets = models.JSONField(
        default=list, blank=True,
        help_text="every DTE target this chain serves at its slot, ascending (several when targets resolve to one "
                  "expiration, e.g. 3 and 5 DTE in Thanksgiving week); target_dte is the first",
    )
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.TARGET)
    expiration = models.DateField()
    actual_dte_days = models.SmallIntegerField(help_text="calendar days from the slot's New York date")
    provider = models.CharField(max_length=20)
    option_count = models.PositiveIntegerField()
    payload_zstd = models.BinaryField(help_text="canonical JSON of the payload, zstd-compressed")
    payload_size_bytes = models.PositiveIntegerField(help_text="size of the canonical JSON before compression")
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON")

    class Meta:
        db_table = "chain_snapshots"
        permissions = [
            ("force_capture", "Can force a snapshot capture now (calls the market-data provider)"),
            ("verify_checksums", "Can verify stored snapshots' checksums (decompresses every selected payload)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["underlying", "expiration", "ts"], name="chain_snapshot_slot_uniq"),
        ]
        indexes = [
            models.Index(fields=["target_dte", "-ts"]),
            models.Index(fields=["-ts"]),
            # The snapshots page (one purpose, newest first) and its pager's count: an index-only count.
            models.Index(fields=["purpose", "-ts", "target_dte"], name="chain_snapshot_purpose_ts_idx"),
        ]
        ordering = ["-ts", "target_dte"]

    def __str__(self) -> str:
        return f"{self.underlying} {self.expiration} @ {self.ts:%Y-%m-%d %H:%M}Z"

    @property
    def canonical_bytes(self) -> bytes:
        return payloads.decompress(self.payload_zstd)

    @property
    def payload(self) -> Any:
        return json.loads(self.canonical_bytes)

    def payload_options(self) -> list[dict[str, Any]]:
        from snapshots.providers.parsing import unwrap

        return unwrap(self.payload, "options", "option")

    def verify_checksum(self) -> bool:
        return payloads.checksum_of(self.canonical_bytes) == self.checksum


class CaptureFailure(models.Model):
    """A capture step that failed, so nothing fails silently (the other expirations still land)."""

    class Stage(models.TextChoices):
        EXPIRATIONS = "expirations", "list expirations"
        SELECT = "select", "choose expiration"
        CHAIN = "chain", "fetch chain"
        STORE = "store", "store snapshot"
        CONTEXT = "context", "market context"

    ts = models.DateTimeField(help_text="capture slot, UTC")
    occurred_at = models.DateTimeField(auto_now_add=True)
    underlying = models.CharField(max_length=10)
    stage = models.CharField(max_length=12, choices=Stage.choices)
    target_dte = models.PositiveSmallIntegerField(null=True, blank=True)
    expiration = models.DateField(null=True, blank=True)
    provider = models.CharField(max_length=20)
    error_type = models.CharField(max_length=80)
    message = models.TextField()

    class Meta:
        db_table = "capture_failures"
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["-ts"])]

    def __str__(self) -> str:
        return f"{self.stage} failed @ {self.ts:%Y-%m-%d %H:%M}Z: {self.error_type}"


class ContextSnapshot(models.Model):
    """Market context at one capture slot: index quotes, our VIX-style indexes, term structure,
    GEX and the implied forward of every chain captured in the slot.

    Vendor quotes (SPX, VIX, VIX9D) are as the provider sent them; the ``*_own`` values are ours,
    computed from the stored chains (``chain_snapshots``), so they can be recomputed and checked.
    """

    ts = models.DateTimeField(help_text="capture slot, UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    underlying = models.CharField(max_length=10)
    provider = models.CharField(max_length=20)
    spx_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    vix_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    vix9d_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    vix30_own = models.FloatField(null=True, blank=True, help_text="our 30-day VIX-style index, vol points")
    vix9d_own = models.FloatField(null=True, blank=True, help_text="our 9-day VIX-style index, vol points")
    vix30_reason = models.CharField(max_length=120, blank=True)
    vix9d_reason = models.CharField(max_length=120, blank=True)
    term_ratio_9d_30d = models.FloatField(null=True, blank=True)
    term_slope_pts_per_day = models.FloatField(null=True, blank=True)
    gex_usd_per_pct = models.DecimalField(
        max_digits=20, decimal_places=2, null=True, blank=True,
        help_text="dealer gamma exposure, USD per 1 % index move, over the captured expirations",
    )
    forwards = models.JSONField(default=list, help_text="per expiration and root: forward, discount, fit quality")
    details = models.JSONField(default=dict, help_text="VIX intermediates (F, K0, σ² per term) and data gaps")
    chain_snapshots = models.ManyToManyField(ChainSnapshot, related_name="contexts", blank=True)

    class Meta:
        db_table = "context_snapshots"
        constraints = [models.UniqueConstraint(fields=["underlying", "ts"], name="context_snapshot_slot_uniq")]
        # The newest context (the dashboard's levels, the snapshots page): not a sort of every slot.
        indexes = [models.Index(fields=["-ts"], name="context_snapshot_ts_idx")]
        ordering = ["-ts"]

    def __str__(self) -> str:
        return f"context {self.underlying} @ {self.ts:%Y-%m-%d %H:%M}Z"


class SettlementValue(models.Model):
    """An official exercise-settlement value, loaded by the operator (``manage.py settlement_import``).

    It takes precedence over every estimate, live and in backtests: AM-settled SPX monthlies settle
    on the Special Opening Quotation (SET), which no option quote shows, and PM-settled SPXW on the
    official close. ``source`` is the operator's label for where the value came from.
    """

    class Style(models.TextChoices):
        AM = "AM", "AM (opening quotation)"
        PM = "PM", "PM (closing value)"

    expiration = models.DateField(help_text="the settlement day (the expiration date)")
    root = models.CharField(max_length=6, help_text="SPX (AM) or SPXW (PM)")
    style = models.CharField(max_length=2, choices=Style.choices)
    value = models.DecimalField(max_digits=10, decimal_places=2, help_text="index points")
    source = models.CharField(max_length=80, help_text="where the value came from, e.g. 'Cboe SET'")
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "settlement_values"
        constraints = [models.UniqueConstraint(fields=["expiration", "root"], name="settlement_value_uniq")]
        ordering = ["-expiration", "root"]

    def __str__(self) -> str:
        return f"{self.root} {self.expiration} {self.style} {self.value}"


class MarketEvent(models.Model):
    """A scheduled market event on a day (FOMC statements seeded from ``shared/reference/events.md``;
    CPI, NFP and unscheduled meetings loaded by the operator with ``manage.py events_import``).

    The decision features read it: days to the next FOMC statement, and whether the entry day is one.
    """

    class Kind(models.TextChoices):
        FOMC = "fomc", "FOMC statement"
        CPI = "cpi", "CPI release"
        NFP = "nfp", "employment report (NFP)"
        OTHER = "other", "other"

    day = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    time_et = models.TimeField(null=True, blank=True, help_text="release time, New York (14:00 for FOMC)")
    description = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=120, blank=True, help_text="where the date came from")

    class Meta:
        db_table = "market_events"
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="market_event_day_kind_uniq")]
        ordering = ["day", "kind"]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}"


class ApiToken(models.Model):
    """A user's API token for scripts (``Authorization: Token <key>``). Only its SHA-256 is stored: the
    key is shown once, when it is made (``manage.py api_token`` or the staff page /api-tokens/).

    ``read`` may call every read endpoint; ``operator`` may also write (launch/cancel backtests,
    train/activate/retire models). It lives in the lowest app so every app's ``api.py`` can check it.
    """

    class Scope(models.TextChoices):
        READ = "read", "read-only"
        OPERATOR = "operator", "operator (reads and writes)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, blank=True, default="")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    key_sha256 = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="the key's first characters, to tell tokens apart")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}, {self.scope})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.active and self.scope == self.Scope.OPERATOR
