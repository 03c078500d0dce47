"""Errors a user can act on. The command line prints them as one line, never a traceback."""


class VlmtopError(Exception):
    """Base of every error vlmtop raises on bad input; the message says what to do."""


class StageNotFoundError(VlmtopError):
    """A stage module could not be located in the model."""


class ModelLoadError(VlmtopError):
    """A model (preset, Hugging Face id or local path) could not be loaded."""


class SampleError(VlmtopError):
    """One sample could not be read or prepared (missing or corrupt image, bad manifest line)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries raise paragraphs), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
