"""Running the benches for run_all: each in a child process, or the quick smoke layout.

A full run gives every bench a process of its own (its own memory and threads, nothing
shared with the one before) and reads the JSON it prints.

`--quick` is the smoke run the tests do: every bench at its smallest sizes, to check that
each part runs and hands back figures of the right shape. Those figures mean nothing, so the
layout is chosen for speed instead. Profiled, a quick bench spent ~3 s importing torch and
transformers and building its model's classes, and well under a second on its own work;
so the model benches run one after another in THIS process (the imports paid once), while
the SEPARATE ones, which start processes of their own, run beside them as a child.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("agreement", "multipass", "stage_coverage", "overhead", "worker", "dashboard", "store", "processes",
           "verdicts", "costmodel", "ray_overhead")
# Always a child process, even in --quick:
# dashboard: it runs workers and an attached dashboard in processes of their own and times them;
# processes, verdicts, costmodel: they start `vlmtop run` processes and wait on them rather than computing;
# ray_overhead: it starts and stops a local Ray, which must not outlive it in this process.
SEPARATE = ("dashboard", "processes", "verdicts", "costmodel", "ray_overhead")
# A bench that needs an optional extra is skipped, with the reason in the report, where it is missing.
NEEDS = {"ray_overhead": ("ray", "Ray is not installed here: pip install 'vlmtop[ray]'")}
QUIET = {"TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}


class BenchProcess:
    """One bench as a child process that prints its figures as JSON."""

    def __init__(self, name: str, quick: bool) -> None:
        self.name = name
        command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--json"] + (["--quick"] if quick else [])
        # files, not pipes: a child that writes much never blocks on a full pipe while
        # this process is busy running other benches
        self.out, self.err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.start = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=self.out, stderr=self.err, text=True,
                                        env={**os.environ, **QUIET}, cwd=ROOT)

    def result(self) -> dict:
        code = self.process.wait()
        self.out.seek(0)
        self.err.seek(0)
        if code != 0:
            raise SystemExit(f"bench/{self.name}.py failed (exit {code}):\n{_tail(self.err.read())}")
        report_time(self.name, self.start)
        return json.loads(self.out.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def missing_extra(name: str) -> str | None:
    """Why ``name`` cannot run here (an optional package is not installed), else None."""
    module, reason = NEEDS.get(name, (None, None))
    return reason if module and importlib.util.find_spec(module) is None else None


def run_bench(name: str, quick: bool = False) -> dict:
    if reason := missing_extra(name):
        return {"skipped": reason}
    return BenchProcess(name, quick).result()


def run_quick(names: list[str]) -> dict:
    """Every bench at its smallest: the SEPARATE ones as children, the others here, at once."""
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.simplefilter("ignore")
    skipped = {name: {"skipped": reason} for name in names if (reason := missing_extra(name))}
    background = [BenchProcess(name, quick=True) for name in names if name in SEPARATE and name not in skipped]
    try:
        results = {name: run_in_process(name) for name in names if name not in SEPARATE}
        results.update(skipped)
        results.update({bench.name: bench.result() for bench in background})
    finally:
        for bench in background:
            bench.stop()
    return {name: results[name] for name in names}


def run_in_process(name: str) -> dict:
    """A bench's quick figures computed here: ``figures(parse(["--quick"]))`` of its module."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    with _stderr_to_file() as err:
        try:
            figures = module.figures(module.parse(["--quick", "--json"]))
        except Exception as exc:
            err.seek(0)
            raise SystemExit(f"bench/{name}.py failed ({type(exc).__name__}: {exc}):\n{_tail(err.read())}") from exc
    report_time(name, start)
    # through JSON, as from a child: the smoke catches figures that could not be saved
    return json.loads(json.dumps({"machine": machine(), **figures}))


@contextlib.contextmanager
def _stderr_to_file():
    """What a bench writes to stderr, C++ libraries included (the profiler's start and stop
    lines), goes to a file, as a child's would: shown only when the bench fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+") as err:
        os.dup2(err.fileno(), 2)
        try:
            yield err
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def report_time(name: str, start: float) -> None:
    print(f"  {name:<12} {time.perf_counter() - start:6.1f} s", file=sys.stderr)
