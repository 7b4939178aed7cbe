"""Pure option math for SPX Tools: stdlib, numpy and scipy only (no Django, no clock, no I/O).

Researchers can import it from a notebook::

    from strategy.quant import black76
    black76.price(True, forward=6000.0, strike=6100.0, t_years=7 / 365, discount=0.999, sigma=0.15)
"""
