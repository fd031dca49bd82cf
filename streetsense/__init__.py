"""StreetSense streetsense."""
