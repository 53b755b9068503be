"""Billing: invoices, credit notes, taxes, invoice documents and paying them."""
