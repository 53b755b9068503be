"""The ledger: double-entry accounts of integer mills, transfers, their checks and chain."""
