"""Strategy configs: saving one with its change history (the one writer of ``StrategyConfigChange``),
copying, and the reads of the config pages (rules grouped for display, the history).

``config_save`` is what the config pages, the admin's save and any script call, so every door
records its change the same way: ``frozen()`` before and after and the diff between them, in the
transaction that saves the row. Decisions keep the parameters they froze; no change touches them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.db.models import Max, QuerySet

from strategy.models import StrategyConfig, StrategyConfigChange

Action = StrategyConfigChange.Action
Via = StrategyConfigChange.Via

# How the pages group the rules. A field named in no group (an entry filter added later, say) is
# shown and edited in OTHER_GROUP, so a new model field needs no change here.
FIELD_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Config", ("name", "enabled", "priority", "ml_group")),
    ("Entry: the spread", ("side", "target_dte", "short_delta_target", "width_points", "max_width_mult", "quantity")),
    ("Entry: quality", ("min_credit", "max_combo_spread", "max_combo_spread_frac", "max_snapshot_age_minutes")),
    ("Entry filters (blank = no filter)", ("vix_min", "vix_max", "term_ratio_min", "term_ratio_max", "entry_weekdays",
                                           "skip_event_days", "min_credit_to_width")),
    ("Exits", ("take_profit_fraction", "stop_loss_multiple", "exit_at_time", "exit_minutes_before_settlement")),
    ("Risk limits", ("max_open_trades", "max_new_trades_per_day", "no_new_after_stop")),
)
OTHER_GROUP = "Entry filters and other rules"


# ------------------------------------------------------------------------------------------ writes

def config_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose frozen value differs (all of them against None)."""
    before = before or {}
    keys = list(after) + [k for k in before if k not in after]
    return {k: [before.get(k), after.get(k)] for k in keys
            if before.get(k) != after.get(k) or (k in before) != (k in after)}


def config_save(config: StrategyConfig, *, user: Any = None, via: str = Via.COMMAND,
                copied_from: StrategyConfig | None = None) -> StrategyConfigChange | None:
    """Validate and save ``config`` and record what changed: the one writer of the history.

    The model's own validation runs first (``full_clean``: field ranges, ``clean()``'s exit rules,
    the unique name, the check constraints), so a refused config raises ``ValidationError`` named by
    field and nothing is saved. A new config is ``created``, or ``copied`` when ``copied_from`` is
    given (its diff is against that config); a saved one is ``enabled``/``disabled`` when only
    ``enabled`` changed, else ``edited``. A save that changes nothing records nothing (returns None).
    ``user`` is the one acting (None for a command or script).
    """
    config.full_clean()
    with transaction.atomic():
        before: dict[str, Any] | None = None
        adding = config._state.adding or config.pk is None
        if not adding:
            current = StrategyConfig.objects.select_for_update().filter(pk=config.pk).first()
            before = current.frozen() if current is not None else None
            adding = current is None
        elif copied_from is not None:
            source = StrategyConfig.objects.filter(pk=copied_from.pk).first()
            before = (source or copied_from).frozen()
        config.save()
        # Read back: the values as the database holds them (a script may have set "0.1" or "5").
        after = StrategyConfig.objects.get(pk=config.pk).frozen()
        if adding:
            action = Action.COPIED if copied_from is not None else Action.CREATED
            diff = config_diff(before if copied_from is not None else None, after)
        else:
            diff = config_diff(before, after)
            if not diff:
                return None
            if set(diff) == {"enabled"}:
                action = Action.ENABLED if after["enabled"] else Action.DISABLED
            else:
                action = Action.EDITED
        acting = user if user is not None and getattr(user, "is_authenticated", False) else None
        return StrategyConfigChange.objects.create(
            config=config, changed_by=acting, changed_by_name=acting.get_username() if acting else "",
            action=action, via=via, copied_from=copied_from if adding else None,
            before=before, after=after, diff=diff,
        )


def config_set_enabled(config: StrategyConfig, *, enabled: bool, user: Any = None,
                       via: str = Via.COMMAND) -> StrategyConfigChange | None:
    """Turn a config on or off for the live entry windows (recorded as ``enabled``/``disabled``)."""
    config.enabled = enabled
    return config_save(config, user=user, via=via)


def copy_name(name: str) -> str:
    """The name a copy is offered: "copy of X", cut to the column's length."""
    max_length = StrategyConfig._meta.get_field("name").max_length or 60
    return f"copy of {name}"[:max_length]


# ------------------------------------------------------------------------------------------- reads

def config_list() -> QuerySet[StrategyConfig]:
    """Every config in ranking order (priority, name), with the time of its latest recorded change."""
    return StrategyConfig.objects.annotate(last_changed_at=Max("changes__changed_at")).order_by("priority", "name")


def config_history(config: StrategyConfig) -> QuerySet[StrategyConfigChange]:
    """The config's recorded changes, newest first."""
    return (StrategyConfigChange.objects.filter(config=config).select_related("changed_by", "copied_from")
            .order_by("-changed_at", "-pk"))


def field_groups(names: list[str]) -> list[tuple[str, list[str]]]:
    """``names`` (fields in model order) in the pages' groups; the ones no group names go last."""
    present = set(names)
    grouped = {n for _, members in FIELD_GROUPS for n in members}
    groups = [(title, [n for n in members if n in present]) for title, members in FIELD_GROUPS]
    groups.append((OTHER_GROUP, [n for n in names if n not in grouped]))
    return [(title, members) for title, members in groups if members]


def config_fields() -> list[models.Field[Any, Any]]:
    """The config's editable model fields, in model order (what the pages show and edit)."""
    return [f for f in StrategyConfig._meta.fields if f.editable and not f.primary_key]


def value_text(field: models.Field[Any, Any] | None, value: Any) -> str:
    """A field's value as the pages print it: choices as words, yes/no, HH:MM, "none" for empty."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def field_label(name: str) -> str:
    try:
        field = StrategyConfig._meta.get_field(name)
    except FieldDoesNotExist:  # a field of an older frozen() that the model no longer has
        return name.replace("_", " ")
    return str(getattr(field, "verbose_name", name))


def config_rules(config: StrategyConfig) -> list[dict[str, Any]]:
    """Every rule of the config in the pages' groups: label, value as text, the code name, help."""
    fields = {f.name: f for f in config_fields()}
    return [{"title": title, "rows": [{
        "name": n, "label": str(fields[n].verbose_name), "value": value_text(fields[n], getattr(config, n)),
        "help": str(fields[n].help_text),
    } for n in members]} for title, members in field_groups(list(fields))]


def change_rows(changes: Any) -> list[dict[str, Any]]:
    """History rows for the pages: each change with its diff as (label, old, new) in words."""
    fields = {f.name: f for f in config_fields()}
    rows = []
    for change in changes:
        diff = [{"name": k, "label": field_label(k), "old": value_text(fields.get(k), old),
                 "new": value_text(fields.get(k), new)} for k, (old, new) in (change.diff or {}).items()]
        rows.append({"change": change, "diff": diff})
    return rows
