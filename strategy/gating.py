"""Where the entry windows get their ML gate from, without the strategy app importing ``mlmodels``.

The decision core takes the gate as a plain callable (``decision.Gate``: strategy group and features → ``GateScore``).
The app that owns the models registers a factory here at start-up (``mlmodels.apps``); until one
is registered, and whenever the factory has no model to offer, every candidate passes unscored
(``no_active_model``) — the documented "no active model = pass".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from strategy.quant.decision import Gate, GateScore

NO_ACTIVE_MODEL = "no_active_model"
GateFactory = Callable[[str | None], Gate | None]

_factory: GateFactory | None = None
_known: Callable[[str], bool] | None = None


def pass_all(group: str, features: Mapping[str, Any]) -> GateScore:
    """The gate with no model: every candidate passes, unscored, and the decision says why."""
    return GateScore(allowed=True, reason=NO_ACTIVE_MODEL)


def register(factory: GateFactory | None, *, known: Callable[[str], bool] | None = None) -> None:
    """Install the gate factory: ``factory(None)`` is the active models' gate (None: no model is
    active), ``factory(version)`` a named model's; ``known(version)``: does that model exist."""
    global _factory, _known
    _factory, _known = factory, known


def known(model_version: str) -> bool:
    """Whether the registered models include ``model_version`` (a gate factory without a
    ``known`` check accepts any name)."""
    if _factory is None:
        return False
    return _known(model_version) if _known is not None else True


def registered() -> GateFactory | None:
    """The factory installed now (None before any app registered one)."""
    return _factory


def gate_for(model_version: str | None = None) -> Gate:
    """The gate of ``model_version`` (None: the active model), or ``pass_all``."""
    made = _factory(model_version) if _factory is not None else None
    return made if made is not None else pass_all
