"""Helpers of the config page tests: a client per kind of user and a form body built from a config."""

from __future__ import annotations

from typing import Any

import itertools

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from strategy.forms import StrategyConfigForm
from strategy.models import StrategyConfig


def client_for(kind: str) -> Client:
    """``anonymous``, ``trader`` (a login, not staff), ``viewer`` (staff, view only), ``adder`` (staff,
    add), ``changer`` (staff, change), ``editor`` (staff, add and change)."""
    client = Client()
    if kind == "anonymous":
        return client
    perms = {
        "viewer": ["strategy.view_strategyconfig"],
        "adder": ["strategy.view_strategyconfig", "strategy.add_strategyconfig"],
        "changer": ["strategy.view_strategyconfig", "strategy.change_strategyconfig"],
        "editor": ["strategy.view_strategyconfig", "strategy.add_strategyconfig", "strategy.change_strategyconfig"],
    }
    client.force_login(user_for(kind, perms.get(kind, [])))
    return client


_serial = itertools.count(1)


def user_for(kind: str, perms: list[str]) -> Any:
    """A user named ``staff-<kind>`` (``trader-…`` not staff) holding ``perms``; no password to hash
    (the project's PBKDF2 rounds cost about a second a user; the tests log in with force_login)."""
    staff = kind != "trader"
    name = f"{'staff' if staff else 'trader'}-{kind}"
    User = get_user_model()
    if User.objects.filter(username=name).exists():
        name = f"{name}-{next(_serial)}"
    user = User(username=name, is_staff=staff)
    user.set_unusable_password()
    user.save()
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def form_data(config: StrategyConfig, **overrides: Any) -> dict[str, Any]:
    """The POST body the config form sends for ``config``'s values (every field of the form, so a
    field added to the model later is sent too), with ``overrides``; False unticks a checkbox."""
    form = StrategyConfigForm(instance=config)
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    for name, value in overrides.items():
        if value is False or value is None:
            data.pop(name, None)
        else:
            data[name] = "on" if value is True else value
    return data
