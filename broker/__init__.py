"""StreetSense broker."""
