"""Rates: versioned postal price tables and the rating engine (``pr.rates``)."""
