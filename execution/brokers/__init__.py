"""Brokers behind one ``Broker`` protocol: the Tradier sandbox (``tradier``) and the simulated
broker (``simulated``). Pure of Django; the execution services wire them to settings and models.

The shared request/result types and errors live in ``base``; the order life-cycle states in
``execution.order_states``.
"""

from execution.brokers.base import (
    AmbiguousTag,
    Broker,
    BrokerAuthError,
    BrokerBadResponse,
    BrokerError,
    BrokerFill,
    BrokerLeg,
    BrokerOrder,
    BrokerRequestError,
    BrokerUnavailable,
    CancelResult,
    LegFill,
    OrderDenied,
    OrderLeg,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    PlaceOutcome,
    PlaceResult,
    SpreadOrderRequest,
    SpreadPreview,
    validate_spread_request,
)
from execution.brokers.simulated import SimFault, SimulatedBroker
from execution.brokers.tradier import SANDBOX_BASE_URL, TradierBroker

__all__ = [
    "SANDBOX_BASE_URL",
    "AmbiguousTag",
    "Broker",
    "BrokerAuthError",
    "BrokerBadResponse",
    "BrokerError",
    "BrokerFill",
    "BrokerLeg",
    "BrokerOrder",
    "BrokerRequestError",
    "BrokerUnavailable",
    "CancelResult",
    "LegFill",
    "OrderDenied",
    "OrderLeg",
    "OrderNotFound",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "PlaceOutcome",
    "PlaceResult",
    "SimFault",
    "SimulatedBroker",
    "SpreadOrderRequest",
    "SpreadPreview",
    "TradierBroker",
    "validate_spread_request",
]
