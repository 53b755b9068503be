"""Hardware abstraction: serial framing, meter and scale drivers, simulators."""
