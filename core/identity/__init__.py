"""Identity: portal users, staff, credentials and web sessions."""
