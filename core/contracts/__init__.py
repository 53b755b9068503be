"""Equipment of customer accounts and its contracts: lease, rental and maintenance
contracts with renewal reminders, installation addresses and their change requests."""
