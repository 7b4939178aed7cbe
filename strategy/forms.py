"""The strategy config form of the config pages: every editable model field (a field added to the
model later is on the form without an edit here) and the model's own validation — field ranges,
``StrategyConfig.clean()``, the unique name and the check constraints — through ``ModelForm``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models

from strategy.configs import field_groups
from strategy.models import StrategyConfig

# Fields the pages never edit. None today: the form takes every editable field of the model.
EXCLUDED_FIELDS: tuple[str, ...] = ()


def _formfield(field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    if isinstance(field, models.TimeField):
        kwargs.setdefault("widget", forms.TimeInput(format="%H:%M", attrs={"type": "time", "step": 60}))
    return field.formfield(**kwargs)


class StrategyConfigForm(forms.ModelForm):
    class Meta:
        model = StrategyConfig
        exclude = EXCLUDED_FIELDS
        formfield_callback = _formfield

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The form's fields in the pages' groups (``strategy.configs.FIELD_GROUPS``)."""
        return [(title, [self[n] for n in names]) for title, names in field_groups(list(self.fields))]
