"""A day of trunk delivery in a synthetic Munich, run through the real platform."""
