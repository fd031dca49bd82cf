"""StreetSense edge."""
