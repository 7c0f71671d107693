"""S1 exchange connectors: the venue port, SimVenue (paper), Binance via ccxt, recordings."""
