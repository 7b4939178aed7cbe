"""The ML gate the entry windows consult before a TRADE.

The meta-labeler (model versions, training, activation) is built by the ML issue. Until a model
version exists and is active, the gate passes every entry and says so, which is the documented
behaviour of the decision engine ("no active model = pass").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_ACTIVE_MODEL = "no_active_model"


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    reason: str
    model_version: str = ""
    score: float | None = None


def gate(features: dict[str, Any]) -> GateResult:
    """Score a candidate entry; with no active model every entry passes unscored."""
    return GateResult(allowed=True, reason=NO_ACTIVE_MODEL)
