"""The ML gate the entry windows consult before a TRADE (registered with ``strategy.gating``).

The meta-labeler (model versions, training, activation) is built by the ML issue. Until a model
version exists and is active there is no gate to offer, so ``strategy.gating`` passes every entry
and says so ("no active model = pass").
"""

from __future__ import annotations

from strategy.quant.decision import Gate


def gate_factory(model_version: str | None) -> Gate | None:
    """The gate of ``model_version`` (None: the active model); None while no model exists."""
    return None
