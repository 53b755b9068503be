"""Payouts: money owed to a customer given back through the payments that brought it."""
