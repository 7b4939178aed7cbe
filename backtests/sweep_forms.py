"""The sweep launch form: a base config, a date range and a value list per dimension, as typed
("0.05:0.30:0.025" ranges, "10,15,20" lists, "10:00-14:30/30" clock ranges). It parses the text
into value lists; the spec's rules (values, variant count, dates) are ``services.sweeps.
sweep_spec_errors``'s, put on the field they concern."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from django import forms
from django.conf import settings

from backtests.services import DEFAULT_CHUNK_DAYS
from backtests.services.sweeps import DIMENSIONS, dims_normalise, sweep_spec_errors, values_parse
from strategy.models import StrategyConfig

CLOCK_DIMENSIONS = ("window", "exit_at_time")
DEFAULT_WINDOWS = "10:00,11:00,12:00"
SOME_DAY = dt.date(2026, 1, 2)  # stands in for a date not typed yet: the spec's value checks are arithmetic
_CLOCK_RANGE = re.compile(r"(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*/\s*(\d{1,3})")

# (dimension, label, help, placeholder)
DIMENSION_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("target_dte", "DTE", "calendar days to expiration, 0–7", "0,3,5"),
    ("side", "Side", "put, call", "put,call"),
    ("window", "Entry windows (ET)", "5-minute slots 09:35–15:30; a range start-stop/minutes", "10:00-14:30/30"),
    ("short_delta_target", "Short |delta|", "in (0, 1); a range start:stop:step", "0.05:0.30:0.025"),
    ("width_points", "Width (points)", "", "10,15,20,25,50"),
    ("take_profit_fraction", "Take profit (fraction of credit)", "in (0, 1]", "0.25:0.75:0.25"),
    ("stop_loss_multiple", "Stop (× credit)", "", "1:3:0.5"),
    ("exit_at_time", "Time exit (ET, on the expiry day)", "HH:MM; none = without", "none,15:00"),
    ("exit_minutes_before_settlement", "Exit N minutes before settlement", "none = without", "none,30"),
)
DIMENSION_LABELS = {name: label for name, label, _, _ in DIMENSION_FIELDS}


def clock_values_parse(text: str) -> list[str]:
    """A clock-time list: ``10:00,11:30`` and ranges ``10:00-14:30/30`` (every 30 minutes,
    inclusive), other words (``none``) as typed. Not validated here."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        m = _CLOCK_RANGE.fullmatch(part)
        if not m:
            if part:
                out.append(part)
            continue
        try:
            first, last = (dt.datetime.combine(dt.date(2000, 1, 3), dt.time.fromisoformat(t.zfill(5)))
                           for t in m.group(1, 2))
        except ValueError:
            raise ValueError(f"range {part!r}: times are HH:MM") from None
        step = int(m.group(3))
        if step < 1 or last < first:
            raise ValueError(f"range {part!r} needs start <= stop and a step of at least 1 minute")
        while first <= last:
            out.append(first.strftime("%H:%M"))
            first += dt.timedelta(minutes=step)
    return out


def dimension_values_parse(name: str, text: str) -> list[str]:
    """One dimension's text as a list of values (``ValueError`` says why it does not parse)."""
    return clock_values_parse(text) if name in CLOCK_DIMENSIONS else values_parse(text)


class SweepLaunchForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    config = forms.ModelChoiceField(queryset=StrategyConfig.objects.all(), label="base config",
                                    error_messages={"required": "choose the base strategy config"})
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    exit_check_minutes = forms.IntegerField(min_value=1, max_value=60, initial=1, help_text="minutes between TP/SL checks")
    chunk_days = forms.IntegerField(min_value=1, max_value=400, required=False,
                                    help_text=f"trading days per worker task (default {DEFAULT_CHUNK_DAYS})")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label, help_text, placeholder in DIMENSION_FIELDS:
            self.fields[name] = forms.CharField(
                label=label, required=False, max_length=2000, help_text=help_text,
                widget=forms.TextInput(attrs={"placeholder": placeholder, "size": 18}))
        self.fields["window"].initial = DEFAULT_WINDOWS
        self.fields["chunk_days"].initial = DEFAULT_CHUNK_DAYS
        self.dims: dict[str, list[str]] = {}

    def dimension_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _, _, _ in DIMENSION_FIELDS]

    def _dims_parse(self, data: dict[str, Any]) -> None:
        """``self.dims``: each non-empty dimension's values; a text that does not parse is its field's error."""
        self.dims = {}
        for name in DIMENSIONS:
            text = (data.get(name) or "").strip()
            if not text:
                continue  # not swept: the base config's value (entry windows: 10:00, 11:00, 12:00)
            try:
                self.dims[name] = dimension_values_parse(name, text)
            except ValueError as exc:
                self.add_error(name, str(exc))

    def _spec_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._dims_parse(data)
        config, start, end = data.get("config"), data.get("start"), data.get("end")
        if any(name in self.errors for name in DIMENSIONS):
            return data
        # The values and the variant cap are checked even before the dates are (the count beside
        # the form shows them while typing); the dates' rules only once both parse.
        dated = bool(start and end)
        first: dt.date = start or SOME_DAY
        last: dt.date = end or first
        errors = sweep_spec_errors(config=config, dims=self.dims, start=first, end=last)
        self._spec_errors({k: v for k, v in errors.items()
                           if (dated or k in DIMENSIONS or k == "dims") and not (k == "config" and config is None)})
        return data

    def preview(self) -> dict[str, Any]:
        """What the form would launch, for the count beside it while it is typed: the number of
        variants, each dimension's values (or the base config's value), and every refusal of
        ``sweep_spec_errors`` (the variant cap first)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        parse_failed = {name for name in DIMENSIONS if name in self.errors}
        normal, dim_errors = dims_normalise({k: v for k, v in self.dims.items() if k not in parse_failed})
        config = data.get("config")
        base = config.frozen() if config else {}
        swept = dict(normal)
        rows = []
        for name, label, _, _ in DIMENSION_FIELDS:
            if name in swept:
                values = swept[name]
                rows.append({"name": name, "label": label, "n": len(values),
                             "text": ", ".join("none" if v is None else str(v) for v in values[:12])
                                     + (f", … ({len(values)})" if len(values) > 12 else "")})
            else:
                rows.append({"name": name, "label": label, "n": 1,
                             "text": f"base: {base[name]}" if name in base else ("base config" if name != "window" else ""),
                             "base": True})
        ok = not parse_failed and not dim_errors
        count = math.prod(len(v) for _, v in normal) if ok else None
        errors: list[str] = []
        for name, messages in self.errors.items():
            if name == "__all__" or name in DIMENSIONS:
                label = DIMENSION_LABELS.get(name, "")
                errors += [f"{label}: {m}" if label else str(m) for m in messages]
        return {"count": count, "rows": rows, "errors": errors, "most": int(settings.SWEEP_MAX_VARIANTS),
                "sizes": " × ".join(f"{len(v)} {name}" for name, v in normal) if ok else ""}
