"""The funds vault: a double-entry ledger of integer mills, meter registers, and their checks."""
