from __future__ import annotations

from typing import Any

from django import forms

from snapshots.params import DB_INT_MAX
from strategy.models import Source
from strategy.quant.decision import DEFAULT_ML_GROUP


class TrainForm(forms.Form):
    source = forms.ChoiceField(choices=Source.choices, initial=Source.BACKTEST)
    run = forms.IntegerField(min_value=1, max_value=DB_INT_MAX, required=False, help_text="backtest run id (source backtest)")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group = forms.CharField(max_length=40, initial=DEFAULT_ML_GROUP)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("source") == Source.BACKTEST and not data.get("run"):
            self.add_error("run", "a backtest dataset needs its run id")
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "end is before start")
        return data


class ActivateForm(forms.Form):
    force = forms.BooleanField(required=False, help_text="activate although the gain interval does not lie above zero")
    reason = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))
