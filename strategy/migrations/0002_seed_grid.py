"""Seed the strategy grid: DTE {3, 5, 7} × short |delta| {0.10, 0.20} × side {put, call}."""

from decimal import Decimal

from django.db import migrations

GRID = [(dte, delta, side) for dte in (3, 5, 7) for delta in ("0.10", "0.20") for side in ("put_credit", "call_credit")]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    StrategyConfig = apps.get_model("strategy", "StrategyConfig")
    for dte, delta, side in GRID:
        name = f"{dte}DTE {side.split('_')[0]} {int(Decimal(delta) * 100)}d"
        StrategyConfig.objects.get_or_create(
            name=name, defaults={"side": side, "target_dte": dte, "short_delta_target": Decimal(delta)}
        )


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    StrategyConfig = apps.get_model("strategy", "StrategyConfig")
    for dte, delta, side in GRID:
        StrategyConfig.objects.filter(name=f"{dte}DTE {side.split('_')[0]} {int(Decimal(delta) * 100)}d",
                                      decisions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("strategy", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
