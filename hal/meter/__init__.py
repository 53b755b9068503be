"""Postage meters: the virtual postal security device, its simulator and the driver."""
