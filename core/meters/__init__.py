"""Meters: the data-center view of postage meters (registry, sync, reset tokens)."""
