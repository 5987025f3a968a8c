"""Where opaque files (proof photos) are kept: a port and its filesystem adapter."""
