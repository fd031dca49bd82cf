"""StreetSense command line, demo and doctor: the glue over ``edge`` and ``broker``."""

__version__ = "0.1.0"
