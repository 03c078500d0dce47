"""The README's Python example runs as printed (with the built-in tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_python_example_runs(capsys):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    exec(compile(example, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("(15 steps)" in line for line in lines)


def test_ci_runs_exactly_the_readmes_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)
    test_command = next(block for block in blocks if "pytest" in block)
    assert test_command in (README.parent / ".ci" / "run").read_text().splitlines()
