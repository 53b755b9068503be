"""The kiosks area: mailroom terminals' keys, and what a terminal may print."""
