"""vlmtop: `top` for vision-language-model inference latency.

The measurement lives in :mod:`vlmtop.core`, the session database in
:mod:`vlmtop.sessions`, the dashboard in :mod:`vlmtop.tui`.
"""

__version__ = "0.1.0"
