"""S2 feature generator and market regime: pure cores over NumPy arrays (no broker, no Redis).

``core.step`` turns a symbol's tick arrays into closed bars and one feature event per closed bar;
``regime.classify`` labels the market from a history of daily realised volatilities.
"""
