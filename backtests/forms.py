"""The launch form of the backtests page: field types and ranges only; the run's rules (data present,
windows, configs, …) are checked by ``services.params_build`` / ``services.run_create``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings

from backtests.capital import input_text
from backtests.engine.capital import capital_error, risk_fraction_error
from backtests.services import DEFAULT_CHUNK_DAYS, RISK_SCOPES, run_limits_errors, strategy_count
from strategy.models import StrategyConfig
from strategy.services import ENTRY_WINDOWS

WINDOW_CHOICES = [(w.strftime("%H:%M"), w.strftime("%H:%M")) for w in ENTRY_WINDOWS]
RISK_SCOPE_LABELS = {
    "per_strategy": "per strategy: each config × window has its own risk budget (research grid)",
    "shared": "shared: the configs share one budget, ranked as live trading does",
}


class RunLaunchForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    configs = forms.ModelMultipleChoiceField(
        queryset=StrategyConfig.objects.all(), widget=forms.SelectMultiple(attrs={"size": 12}),
        error_messages={"required": "choose at least one strategy config"},
    )
    windows = forms.MultipleChoiceField(
        choices=WINDOW_CHOICES, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "choose at least one entry window"},
    )
    risk_scope = forms.ChoiceField(choices=[(s, RISK_SCOPE_LABELS.get(s, s)) for s in RISK_SCOPES])
    exit_check_minutes = forms.IntegerField(min_value=1, max_value=60, help_text="minutes between TP/SL checks")
    chunk_days = forms.IntegerField(min_value=1, max_value=366, required=False,
                                    help_text=f"trading days per worker task (default {DEFAULT_CHUNK_DAYS})")
    ml_model = forms.CharField(max_length=20, required=False, label="gated by model",
                               help_text="a meta-labeler version id (models page); empty: the rules alone")
    capital_usd = forms.FloatField(required=False, label="capital per strategy (USD)",
                                   help_text="the run page sizes its trades by it (a view: no row depends on it)")
    risk_fraction = forms.FloatField(required=False, label="risk fraction per trade",
                                     help_text="contracts = floor(capital × fraction ÷ ((width − credit) × 100))")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {
            "configs": list(StrategyConfig.objects.values_list("pk", flat=True)),  # all of them
            "windows": [value for value, _ in WINDOW_CHOICES],
            "risk_scope": RISK_SCOPES[0],
            "exit_check_minutes": 1,
            "chunk_days": DEFAULT_CHUNK_DAYS,
            "capital_usd": settings.BACKTEST_CAPITAL_USD,
            "risk_fraction": settings.BACKTEST_RISK_FRACTION,
        })
        super().__init__(*args, **kwargs)

    def clean_capital_usd(self) -> float | None:
        value = self.cleaned_data.get("capital_usd")
        if value is not None and (error := capital_error(value)):
            raise forms.ValidationError(error)
        return value

    def clean_risk_fraction(self) -> float | None:
        value = self.cleaned_data.get("risk_fraction")
        if value is not None and (error := risk_fraction_error(value)):
            raise forms.ValidationError(error)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", f"end {end} is before start {start}")
        elif start and end:
            # The caps on the field at fault (the service checks them again for every other door).
            configs, windows = data.get("configs"), data.get("windows")
            strategies = (strategy_count(configs=len(configs), windows=len(windows),
                                         risk_scope=data.get("risk_scope") or RISK_SCOPES[0])
                          if configs is not None and windows else None)
            for name, messages in run_limits_errors(start=start, end=end, strategies=strategies).items():
                for message in messages:
                    self.add_error(name, message)
        return data


def _number(text: str, *, percent: bool) -> float | None:
    """A typed number: "100,000", "$100000", "1e5"; with ``percent`` "5%" is 0.05. None when it is not one."""
    raw = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    scale = 1.0
    if percent and raw.endswith("%"):
        raw, scale = raw[:-1], 0.01
    elif not percent:
        raw = raw.removeprefix("$").removeprefix("US$")
    try:
        value = float(raw) * scale
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class CapitalForm(forms.Form):
    """The run page's capital and sizing inputs (GET): capital per strategy, risk fraction, and
    optionally one strategy (risk book) instead of the whole run. Empty inputs take the run's
    defaults; the ranges are the engine's (``engine.capital.capital_error`` / ``risk_fraction_error``)."""

    capital_usd = forms.CharField(max_length=40, required=False, label="capital per strategy (USD)",
                                  widget=forms.TextInput(attrs={"size": 12, "inputmode": "decimal"}))
    risk_fraction = forms.CharField(max_length=40, required=False, label="risk fraction per trade",
                                    widget=forms.TextInput(attrs={"size": 8, "placeholder": "0.05 or 5%"}))
    book = forms.ChoiceField(required=False, label="strategy", choices=())

    def __init__(self, *args: Any, books: Sequence[tuple[str, str]] | None = (), defaults: tuple[float, float],
                 **kwargs: Any) -> None:
        """``books`` None: no strategy choice (the compare page sizes whole runs)."""
        self.defaults = defaults
        kwargs.setdefault("initial", {"capital_usd": input_text(defaults[0]), "risk_fraction": input_text(defaults[1]),
                                      "book": ""})
        super().__init__(*args, **kwargs)
        if books is None:
            del self.fields["book"]
            return
        field = self.fields["book"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", f"all {len(books)} together" if len(books) > 1 else "the run")] + list(books)
        field.error_messages["invalid_choice"] = "this run has no such strategy: choose one of the list"

    def _clean_number(self, name: str, *, percent: bool, default: float) -> float:
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return default
        value = _number(text, percent=percent)
        if value is None:
            example = "0.05 or 5%" if percent else "100000 or 100,000"
            raise forms.ValidationError(f"{text[:20]!r} is not a number: enter e.g. {example}")
        if error := (risk_fraction_error(value) if percent else capital_error(value)):
            raise forms.ValidationError(error)
        return value

    def clean_capital_usd(self) -> float:
        return self._clean_number("capital_usd", percent=False, default=self.defaults[0])

    def clean_risk_fraction(self) -> float:
        return self._clean_number("risk_fraction", percent=True, default=self.defaults[1])

