"""Built-in payment sources, each its own plugin (entry points in pyproject.toml):
``sepa-debit``, ``ach-debit``, ``sandbox-card`` and ``postage-credit-line``."""
