"""Funding: payment instruments, deposits, auto-refill, returns, statements, pending debits."""
