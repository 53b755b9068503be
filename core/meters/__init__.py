"""Meters: the data-center view of postage meters (reset tokens; registry and sync to come)."""
