"""The order state machine: every (from, to) pair, table-driven, against a table written out here.

The expected table is spelled independently of ``LEGAL`` (as pairs of strings), so a change to the
machine has to be made in both places on purpose.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.order_states import (
    LEGAL,
    TERMINAL,
    IllegalTransition,
    OrderState,
    from_tradier_status,
    is_legal,
    is_terminal,
    transition,
)

EXPECTED_LEGAL = {
    "new": {"submitting", "rejected", "canceled"},
    "submitting": {"open", "partially_filled", "filled", "rejected", "canceled", "expired", "unknown"},
    "open": {"partially_filled", "filled", "canceled", "expired", "rejected", "pending_cancel", "unknown"},
    "partially_filled": {"filled", "canceled", "expired", "pending_cancel", "unknown"},
    "pending_cancel": {"canceled", "filled", "open", "partially_filled", "expired", "unknown"},
    "unknown": {"open", "partially_filled", "filled", "canceled", "rejected", "expired", "pending_cancel"},
    "filled": set(),
    "canceled": set(),
    "rejected": set(),
    "expired": set(),
}

ALL_PAIRS = [(a, b) for a, b in itertools.product(OrderState, OrderState) if a != b]
LEGAL_PAIRS = [(a, b) for a, b in ALL_PAIRS if b.value in EXPECTED_LEGAL[a.value]]
ILLEGAL_PAIRS = [(a, b) for a, b in ALL_PAIRS if b.value not in EXPECTED_LEGAL[a.value]]


def test_table_covers_every_state_exactly() -> None:
    assert set(LEGAL) == set(OrderState)
    assert {s.value for s in OrderState} == set(EXPECTED_LEGAL)
    assert {k.value: {t.value for t in v} for k, v in LEGAL.items()} == EXPECTED_LEGAL
    # 90 ordered pairs of distinct states; the split is what the table above says.
    assert len(ALL_PAIRS) == 90
    assert len(LEGAL_PAIRS) == 35 and len(ILLEGAL_PAIRS) == 55


@pytest.mark.parametrize(("current", "target"), LEGAL_PAIRS, ids=[f"{a}->{b}" for a, b in LEGAL_PAIRS])
def test_legal_transition(current: OrderState, target: OrderState) -> None:
    assert is_legal(current, target)
    assert transition(current, target) is target
    # The row stores the string value; that must work the same way.
    assert transition(current.value, target.value) is target  # type: ignore[arg-type]


@pytest.mark.parametrize(("current", "target"), ILLEGAL_PAIRS, ids=[f"{a}->{b}" for a, b in ILLEGAL_PAIRS])
def test_illegal_transition(current: OrderState, target: OrderState, caplog: pytest.LogCaptureFixture) -> None:
    assert not is_legal(current, target)
    with caplog.at_level(logging.WARNING, logger="execution.order_states"), pytest.raises(IllegalTransition) as info:
        transition(current, target)
    assert info.value.current is current and info.value.target is target
    assert f"{current.value} -> {target.value}" in str(info.value)
    assert f"{current.value} -> {target.value}" in caplog.text


@pytest.mark.parametrize("state", list(OrderState))
def test_staying_in_a_state_is_a_no_op(state: OrderState) -> None:
    # Polling reports the same status again and again; that is not an error, even when terminal.
    assert transition(state, state) is state


@pytest.mark.parametrize("state", list(OrderState))
def test_terminal_states(state: OrderState) -> None:
    expected = state.value in {"filled", "canceled", "rejected", "expired"}
    assert is_terminal(state) is expected
    assert (state in TERMINAL) is expected
    assert (len(LEGAL[state]) == 0) is expected


def test_named_paths_from_the_issue() -> None:
    # Happy path, an ambiguous submit resolved by reconciliation, and partial fill then cancel.
    for path in (
        ["new", "submitting", "open", "partially_filled", "filled"],
        ["new", "submitting", "unknown", "open", "filled"],
        ["new", "submitting", "unknown", "rejected"],  # labelled "not found after N lookups"
        ["new", "submitting", "open", "partially_filled", "pending_cancel", "canceled"],
        ["new", "submitting", "open", "pending_cancel", "open"],  # cancel never took effect
        ["new", "submitting", "open", "pending_cancel", "filled"],  # the fill won the race
    ):
        state = OrderState(path[0])
        for step in path[1:]:
            state = transition(state, OrderState(step))
        assert state.value == path[-1]


def test_late_fill_after_cancel_keeps_canceled() -> None:
    # The broker may report "filled" for an order we hold as canceled (late fill); the state stays
    # canceled (the fill is recorded separately), so the machine must refuse to change it.
    with pytest.raises(IllegalTransition):
        transition(OrderState.CANCELED, OrderState.FILLED)
    assert transition(OrderState.CANCELED, OrderState.CANCELED) is OrderState.CANCELED


def test_unknown_value_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        transition("open", "bogus")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("open", "open"),
        ("pending", "open"),
        ("submitted", "open"),
        ("partially_filled", "partially_filled"),
        ("filled", "filled"),
        ("expired", "expired"),
        ("canceled", "canceled"),
        ("rejected", "rejected"),
        ("error", "rejected"),
        ("  FILLED ", "filled"),
    ],
)
def test_from_tradier_status(raw: str, expected: str) -> None:
    assert from_tradier_status(raw) is OrderState(expected)


@pytest.mark.parametrize("raw", ["calculated", "ok", "", None, "pending_cancel"])
def test_unrecognised_tradier_status_is_unknown_and_logged(raw: str | None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="execution.order_states"):
        assert from_tradier_status(raw) is OrderState.UNKNOWN
    assert "unrecognised Tradier order status" in caplog.text


@given(st.lists(st.sampled_from(list(OrderState)), max_size=30))
def test_random_event_sequences_never_leave_a_terminal_state(events: list[OrderState]) -> None:
    # reliability.md Part C: the machine never reaches an illegal transition under random events.
    state = OrderState.NEW
    reached_terminal: OrderState | None = None
    left_new = False
    for event in events:
        try:
            state = transition(state, event)
        except IllegalTransition:
            continue
        if reached_terminal is not None:
            assert state is reached_terminal
        if is_terminal(state):
            reached_terminal = state
        if left_new:
            assert state is not OrderState.NEW  # nothing leads back to "new"
        left_new = left_new or state is not OrderState.NEW


def test_broker_layer_imports_no_django() -> None:
    # A fresh interpreter: this test process may already hold Django from other apps' tests.
    probe = (
        "import sys, json; import execution.order_states, execution.brokers, execution.brokers.tradier, "
        "execution.brokers.simulated; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
