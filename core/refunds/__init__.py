"""Refunds of unused postage: requests, review, the refund fee."""
