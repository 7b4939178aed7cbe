"""Market-data providers behind one interface: the Tradier REST client and the simulated market."""
