"""vlmtop: `top` for vision-language-model inference latency.

The measurement lives in :mod:`vlmtop.core`, the session database in
:mod:`vlmtop.sessions`, the dashboard in :mod:`vlmtop.tui`, the command line in
:mod:`vlmtop.cli`. Each is a top-level folder of the repository (``core/``, ``sessions/``,
``tui/``, ``cli/``) installed under this one name.
"""

from pkgutil import extend_path

__version__ = "0.1.0"

# Run from the repository root, Python finds this folder first (the working directory is on
# sys.path) and would look for vlmtop.core in it alone. extend_path adds the installed
# vlmtop tree (the editable install's link tree, or site-packages), which holds them all.
__path__ = extend_path(__path__, __name__)
