"""Pure option math for SPX Tools: stdlib, numpy and scipy only (no Django, no clock, no I/O).

Modules: ``black76`` (price, greeks, implied_vol), ``timemodel`` (settlement instants, minutes
and year fractions), ``forward`` (implied forward and discount from put–call parity), ``vix``
(Cboe VIX methodology, 30-day and 9-day), ``term`` (9-day vs 30-day term structure), ``gex``
(gamma exposure), ``osi`` (OCC option symbols).

Researchers can import it from a notebook::

    from strategy.quant import black76
    black76.price(True, forward=6000.0, strike=6100.0, t_years=7 / 365, discount=0.999, sigma=0.15)
"""
