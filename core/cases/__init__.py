"""Support cases: every channel, routing, SLAs in business time, escalation, traces and claims."""
