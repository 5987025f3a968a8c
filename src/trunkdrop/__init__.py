"""trunkdrop: in-car delivery platform."""

__version__ = "0.1.0"
