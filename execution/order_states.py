"""The order life-cycle as a pure state machine: states, the legal transitions, Tradier's statuses.

No Django, no clock, no I/O: the services that own the ``Order`` rows call ``transition`` before
they write a new state, so an illegal move (e.g. FILLED → OPEN, reliability.md B5 #54) raises
instead of corrupting the row.

States and why each exists (issue #5, "Order lifecycle"):

- ``new``: the row is committed with its client tag, nothing has been sent yet (design.md
  Principle 3: the tag is written *before* the broker is called).
- ``submitting``: the placement call is in flight (or the process died during it). A row left
  here after a crash is picked up by reconciliation, which looks the tag up at the broker.
- ``open``: the broker accepted the order and it is working (Tradier ``open``, ``pending``,
  ``submitted``).
- ``partially_filled``: some, not all, of the quantity has filled.
- ``filled``, ``canceled``, ``rejected``, ``expired``: terminal.
- ``unknown``: a call's outcome is not known (read timeout after sending, 5xx, connection reset,
  429 on a write, or a status string we do not recognise). Never resolved by re-sending; only by
  a lookup (``find_by_tag`` / ``get_order``), reliability.md B1 #1–#3, #5.
- ``pending_cancel``: we asked for a cancel and the broker has not confirmed it yet (also after a
  cancel call that timed out, B1 #12).

Transition table (``LEGAL``; every pair not listed is illegal, except that moving to the state the
order is already in is a no-op, because polling reports the same status many times):

=================  ===========================================================================
from               to (reason)
=================  ===========================================================================
new                submitting (placement starts); rejected (denied locally, never sent: the
                   caller records the reason); canceled (abandoned before it was sent)
submitting         open / partially_filled / filled (accepted, or found by tag after a crash);
                   rejected (definitive refusal, or local denial raised inside the call);
                   canceled / expired (found by tag after a crash, already final);
                   unknown (ambiguous failure, no re-POST)
open               partially_filled; filled; canceled; expired (day order at the close);
                   rejected (Tradier can accept with ``"status":"ok"`` and reject later,
                   tradier.md §4); pending_cancel (cancel sent); unknown (unrecognised status)
partially_filled   filled; canceled (remaining quantity canceled, filled quantity > 0 stays);
                   expired (day order ended part-filled); pending_cancel; unknown
pending_cancel     canceled (confirmed); filled (the fill won the race); open /
                   partially_filled (the cancel never took effect: refused, or it timed out
                   and the lookup shows the order still working); expired; unknown
unknown            open / partially_filled / filled / canceled / rejected / expired (resolved by
                   reconciliation); rejected is also the *labelled local resolution* when the
                   tag is still not found after the configured number of lookups (B1 #2, #10);
                   pending_cancel (a cancel sent while the state was unknown)
filled, canceled,  nothing: terminal
rejected, expired
=================  ===========================================================================

Fills are not states. A fill that arrives after the cancel was confirmed (B1 #11, "late fill")
leaves the order ``canceled``; the fill itself is still recorded (``BrokerFill`` deduplicates on
broker order id + cumulative quantity), so the position always equals the sum of the fills. The
same holds for ``expired``. ``canceled`` with filled quantity > 0 is reached through
``partially_filled → canceled`` (or ``pending_cancel → canceled``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

logger = logging.getLogger(__name__)


class OrderState(StrEnum):
    """Our normalised order state; the string values are what the ``Order`` row stores."""

    NEW = "new"
    SUBMITTING = "submitting"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    PENDING_CANCEL = "pending_cancel"


class IllegalTransition(ValueError):
    """``transition`` was asked for a move the table does not allow; the state must not change."""

    def __init__(self, current: OrderState, target: OrderState) -> None:
        super().__init__(f"illegal order state transition {current.value} -> {target.value}")
        self.current = current
        self.target = target


S = OrderState

TERMINAL: Final[frozenset[OrderState]] = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})

# The table in the module docstring, one entry per state (terminal states map to the empty set).
LEGAL: Final[Mapping[OrderState, frozenset[OrderState]]] = MappingProxyType(
    {
        S.NEW: frozenset({S.SUBMITTING, S.REJECTED, S.CANCELED}),
        S.SUBMITTING: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
        S.OPEN: frozenset(
            {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.PENDING_CANCEL, S.UNKNOWN}
        ),
        S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL, S.UNKNOWN}),
        S.PENDING_CANCEL: frozenset({S.CANCELED, S.FILLED, S.OPEN, S.PARTIALLY_FILLED, S.EXPIRED, S.UNKNOWN}),
        S.UNKNOWN: frozenset(
            {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.PENDING_CANCEL}
        ),
        S.FILLED: frozenset(),
        S.CANCELED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    }
)

# Tradier order ``status`` values (tradier.md §6.2): the documented eight plus ``submitted`` from
# older docs, which QuantConnect maps to open. ``pending`` (accepted, not yet working at the
# exchange) is ``open`` for us: it can fill or be canceled like any working order. ``error`` is
# a refusal after acceptance, so it is ``rejected``.
_TRADIER_STATUS: Final[Mapping[str, OrderState]] = MappingProxyType(
    {
        "open": S.OPEN,
        "pending": S.OPEN,
        "submitted": S.OPEN,
        "partially_filled": S.PARTIALLY_FILLED,
        "filled": S.FILLED,
        "expired": S.EXPIRED,
        "canceled": S.CANCELED,
        "rejected": S.REJECTED,
        "error": S.REJECTED,
    }
)


def is_terminal(state: OrderState) -> bool:
    """True for filled, canceled, rejected and expired: no further state change is legal."""
    return OrderState(state) in TERMINAL


def is_legal(current: OrderState, target: OrderState) -> bool:
    """True when ``transition(current, target)`` would succeed (staying put is always legal)."""
    current, target = OrderState(current), OrderState(target)
    return current == target or target in LEGAL[current]


def transition(current: OrderState, target: OrderState) -> OrderState:
    """Return ``target`` if the move is legal (or a no-op), else raise ``IllegalTransition``.

    Accepts the enum or its string value (what the ``Order`` row stores).
    """
    current, target = OrderState(current), OrderState(target)
    if not is_legal(current, target):
        logger.warning("rejected order state transition %s -> %s", current.value, target.value)
        raise IllegalTransition(current, target)
    return target


def from_tradier_status(raw: str | None) -> OrderState:
    """Tradier's order ``status`` string → ``OrderState``; unrecognised values → ``unknown`` (logged).

    Tradier's status list has changed over time (tradier.md §6.2: "Handle unknown values"), so a
    new spelling must not crash the poller; ``unknown`` makes reconciliation look at it again.
    """
    key = (raw or "").strip().lower()
    state = _TRADIER_STATUS.get(key)
    if state is None:
        logger.warning("unrecognised Tradier order status %r; treating it as unknown", raw)
        return S.UNKNOWN
    return state
