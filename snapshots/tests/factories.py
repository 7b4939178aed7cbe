"""factory_boy factories for the snapshots models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from snapshots import payloads
from snapshots.api_tokens import token_create
from snapshots.models import ApiToken, CaptureFailure, ChainSnapshot, OptionInstrument
from strategy.quant.osi import format_symbol


def tradier_chain_payload(
    expiration: dt.date, *, root: str = "SPXW", center: float = 6000.0, strikes_each_side: int = 5, width: float = 5.0
) -> dict[str, Any]:
    """A small chain in Tradier's exact shape (calls and puts, greeks object), mids obeying parity."""
    options = []
    for i in range(-strikes_each_side, strikes_each_side + 1):
        strike = center + i * width
        for option_type in ("call", "put"):
            intrinsic = max(0.0, (center - strike) if option_type == "call" else (strike - center))
            mid = round(intrinsic + 10.0 - abs(i) * 0.8, 1)
            options.append(
                {
                    "symbol": format_symbol(root, expiration, option_type == "call", strike),
                    "root_symbol": root,
                    "underlying": "SPX",
                    "option_type": option_type,
                    "strike": strike,
                    "expiration_date": expiration.isoformat(),
                    "bid": round(mid - 0.1, 2),
                    "ask": round(mid + 0.1, 2),
                    "open_interest": 100 + abs(i),
                    "contract_size": 100,
                    "greeks": {"delta": 0.5 - i * 0.05 if option_type == "call" else -0.5 - i * 0.05, "mid_iv": 0.15},
                }
            )
    return {"options": {"option": options}}


class ChainSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChainSnapshot

    class Params:
        payload = factory.LazyAttribute(lambda o: tradier_chain_payload(o.expiration, root=o.root))

    ts = factory.Sequence(lambda n: dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * n))
    captured_at = factory.LazyAttribute(lambda o: o.ts + dt.timedelta(seconds=2))
    underlying = "SPX"
    root = "SPXW"
    target_dte = 3
    expiration = dt.date(2026, 11, 23)
    actual_dte_days = 3
    provider = "simulated"
    option_count = factory.LazyAttribute(lambda o: len(o.payload["options"]["option"]))
    payload_zstd = factory.LazyAttribute(lambda o: payloads.compress(payloads.canonical_json(o.payload)))
    payload_size_bytes = factory.LazyAttribute(lambda o: len(payloads.canonical_json(o.payload)))
    checksum = factory.LazyAttribute(lambda o: payloads.checksum_of(payloads.canonical_json(o.payload)))


class OptionInstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OptionInstrument

    root = "SPXW"
    underlying = "SPX"
    expiration = dt.date(2026, 11, 23)
    strike = factory.Sequence(lambda n: Decimal(5000 + 5 * n))
    option_type = OptionInstrument.OptionType.PUT
    settlement = OptionInstrument.Settlement.PM
    symbol = factory.LazyAttribute(lambda o: format_symbol(o.root, o.expiration, o.option_type == "call", o.strike))


class CaptureFailureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaptureFailure

    ts = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    underlying = "SPX"
    stage = CaptureFailure.Stage.CHAIN
    target_dte = 5
    expiration = dt.date(2026, 11, 25)
    provider = "tradier"
    error_type = "ProviderUnavailable"
    message = "HTTP 502 after 3 retries"


def read_token_client(username: str = "reader") -> APIClient:
    """An API client with a read-only token (API reads need credentials; writes still refuse it)."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    _, key = token_create(user=user, scope=ApiToken.Scope.READ, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


class StaffUserFactory(factory.django.DjangoModelFactory):
    """A staff user holding only the permissions named in ``perms`` (``"app_label.codename"``)."""

    class Meta:
        model = "auth.User"
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    password = factory.django.Password("pw-for-tests-only")
    is_staff = True

    @factory.post_generation
    def perms(obj: Any, create: bool, extracted: Any, **kwargs: Any) -> None:  # type: ignore[misc]
        from django.contrib.auth.models import Permission

        for name in extracted or ():
            app_label, codename = name.split(".")
            obj.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
