"""vlmtop.sessions: the session database, and everything read from or recorded into it.

The run vocabulary, at the bottom (it imports only ``vlmtop.core``):

    records     the row types (SampleRecord, EventRecord) and what "measured" means
    knobs       the named, typed settings a run can fix or compare, and arm order
    policies    the runtime policies, their values and how they cycle

The packages, each with a map in its ``__init__``:

    store/      the ONLY package that runs SQL: one SQLite file of many sessions
    analysis/   the numbers (numpy, scipy): summaries, outliers, segments, bootstrap
    compare/    is a change faster: verdicts from intervals, at every level of evidence
    costmodel/  per-stage cost models fitted from a sweep of knob settings
    export/     one session out as a database, tables or a trace
    report/     one self-contained HTML page
    run/        recording: the worker, its process, experiments, Ray (the only torch)

And three modules the screens read:

    playback    the dashboard's feed: a live tail or a replay
    summary     the per-stage summary ``vlmtop run --headless`` prints at the end
    fleet       an experiment's processes as rows, per session, host or device

Dependency rules (import-linter checks them: pyproject.toml, tests/project/test_code_rules.py):

1. ``records``, ``knobs`` and ``policies`` import only ``vlmtop.core``.
2. ``store`` imports the run vocabulary and ``vlmtop.core`` only, and only it runs SQL.
3. ``analysis`` never reads the store: it takes rows or columns.
4. ``compare`` and ``costmodel`` use ``analysis``, ``records`` and the store's public API;
   ``export`` and ``report`` may use all of these.
5. ``run`` is the only importer of torch here, and nothing imports it but ``run.ray`` and
   the launchers (``vlmtop.cli``, ``vlmtop.tui.launch``).
6. No module imports another's ``_private`` name; re-exports happen only in a package's
   ``__init__``; every import is absolute (``vlmtop.…``), so grep finds every importer.
"""
