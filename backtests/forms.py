"""The launch form of the backtests page: field types and ranges only; the run's rules (data present,
windows, configs, …) are checked by ``services.params_build`` / ``services.run_create``."""

from __future__ import annotations

from typing import Any

from django import forms

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {
            "configs": list(StrategyConfig.objects.values_list("pk", flat=True)),  # all of them
            "windows": [value for value, _ in WINDOW_CHOICES],
            "risk_scope": RISK_SCOPES[0],
            "exit_check_minutes": 1,
            "chunk_days": DEFAULT_CHUNK_DAYS,
        })
        super().__init__(*args, **kwargs)

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
