"""Modal screens: help, go to sample."""
