"""Customer accounts: the owners of postage accounts, meters and API keys."""
