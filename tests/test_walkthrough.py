"""docs/walkthrough.md is true for the current code: every ```bash block that starts with `aimc-theory` runs
(in-process, from the repository root) with exit 0, the ```text block right after it is that command's output
(each of its lines, in order, is a line of the output: text equal, numbers equal to 1e-6 relative; a line
ending in `...` is a line's beginning; `...` alone stands for lines left out), and the pytest file the
walk-through gives a CI passes."""
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aimc_theory.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "walkthrough.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, content, end offset) of every fenced block."""
    return [(m.group(1), m.group(2), m.end()) for m in _FENCE.finditer(text)]


def steps(text: str) -> list[tuple[list[str], str | None]]:
    """(argv, the text block right after it or None) for every ```bash block starting with `aimc-theory`."""
    out = []
    found = blocks(text)
    for i, (lang, content, end) in enumerate(found):
        if lang != "bash" or not content.lstrip().startswith("aimc-theory"):
            continue
        argv = shlex.split(content.replace("\\\n", " "))
        assert argv.count("aimc-theory") == 1, f"one command per block: {content!r}"
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "text":
            start = text.index("```text", end)
            if not text[end:start].strip():                 # nothing but blank lines between command and output
                expected = found[i + 1][1]
        out.append((argv[1:], expected))
    return out


def _tokens(line: str) -> list:
    """Numbers as floats, the text between them as words."""
    out, pos = [], 0
    for m in _NUMBER.finditer(line):
        out += line[pos:m.start()].split()
        out.append(float(m.group()))
        pos = m.end()
    return out + line[pos:].split()


def line_matches(expected: str, actual: str) -> bool:
    prefix = expected.endswith("...")
    want, got = _tokens(expected.removesuffix("...")), _tokens(actual)
    if len(got) < len(want) or (not prefix and len(got) != len(want)):
        return False
    for k, (w, g) in enumerate(zip(want, got)):
        if isinstance(w, float) != isinstance(g, float):
            return False
        if isinstance(w, float):
            if not math.isclose(w, g, rel_tol=1e-6, abs_tol=1e-12):
                return False
        elif w != g and not (prefix and k == len(want) - 1 and g.startswith(w)):
            return False
    return True


def assert_output(expected: str, actual: str, argv) -> None:
    """Every line of ``expected`` but `...` is a line of ``actual``, in the same order."""
    lines = [ln.strip() for ln in actual.splitlines() if ln.strip()]
    i = 0
    for want in (ln.strip() for ln in expected.splitlines()):
        if not want or want == "...":
            continue
        while i < len(lines) and not line_matches(want, lines[i]):
            i += 1
        assert i < len(lines), f"aimc-theory {shlex.join(argv)}:\nline not in the output (in order):\n{want}\n" \
                               f"output:\n{actual}"
        i += 1


TEXT = DOC.read_text()
STEPS = steps(TEXT)


def test_the_walkthrough_has_the_whole_path():
    commands = [argv[0] for argv, _ in STEPS]
    for c in ("fit", "derive", "fixed-point", "simulate", "calibrate", "cost"):
        assert c in commands, c
    assert all(expected is not None for _, expected in STEPS), "every command's output is shown"
    assert "docs/walkthrough.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("argv, expected", STEPS, ids=[f"{i + 1}-{a[0]}" for i, (a, _) in enumerate(STEPS)])
def test_walkthrough_command(argv, expected, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)                  # the doc's paths (examples/sweep.csv) are relative to the repository
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, f"aimc-theory {shlex.join(argv)}: exit {code}"
    assert_output(expected, out, argv)


def test_walkthrough_pytest_file(tmp_path):
    """The doc's test file for a user's CI (the ```python block that starts with `# tests/test_my_device.py`)
    passes, run by pytest as a user runs it."""
    files = [c for lang, c, _ in blocks(TEXT) if lang == "python" and c.startswith("# tests/test_my_device.py")]
    assert len(files) == 1
    path = tmp_path / "test_my_device.py"
    path.write_text(files[0])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    n = len(re.findall(r"^def test_", files[0], re.M))
    assert r.returncode == 0 and f"{n} passed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_output_matching_is_strict():
    """The comparison rejects a changed number, a changed word and a missing line; accepts a line's beginning."""
    out = "mean                     0.3701183023367954\nse   0.000195\nbest: linear (lowest BIC), 4 fitted"
    assert_output("mean 0.3701183023367954\n...\nbest: linear ...", out, [])
    for bad in ("mean 0.3701", "mean 0.37012\nse 0.000196", "mean 0.3701183023367954\nvariance 1", "best: power ..."):
        with pytest.raises(AssertionError):
            assert_output(bad, out, [])
