"""Thermal label printers speaking ZPL (over TCP port 9100 or a serial line), and a
simulator of one for tests and demos."""

from postroom.hal.labels.printer import ZplPrinter
from postroom.hal.labels.zpl import indicium_label

__all__ = ["ZplPrinter", "indicium_label"]
