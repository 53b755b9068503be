"""Tracking: tracking numbers, shipments and their scan events, the rules that find
stuck and lost parcels, and the hand-over of a stuck parcel to support."""
