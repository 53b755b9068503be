"""Support cases: every channel, routing, SLAs in business hours, escalation."""
