"""Bounds on what one run may ask for, checked where the value enters (the command line, a
manifest line, a control row): a typo should be one line, not an hour-long sample."""

MAX_NEW_TOKENS = 8192  # longer decodes are not what a latency sample is for
MAX_IMAGES = 64  # images in one prompt: a cost curve's worth, and a typo stays one line
MAX_THREADS = 1024  # beyond any machine's cores: torch fails to map its pools long before
