"""Safe output files (aimc_theory.files): a fresh mkstemp file in the target's directory renamed over the
target; symlinks planted in the output directory are never followed; a failed write (no permission, a full
disk, a read-only file system) is one InputError line naming the path and leaves no partial file."""
import errno
import json
import os
import stat
from pathlib import Path

import pytest

from aimc_theory import files, sweep
from aimc_theory.cli import main
from aimc_theory.errors import InputError

STUDY = """
[study]
name = "safe"
command = "fixed-point"
[vary]
noise = [0.0, 0.3]
"""


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_a_write_replaces_the_file_whole_with_ordinary_permissions(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old\n")
    files.atomic_write_text(target, "new ü\n")
    files.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert target.read_text(encoding="utf-8") == "new ü\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "report.md"]      # no temporary file left


def test_a_symlink_planted_in_the_output_directory_is_never_followed(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious\n")
    # at the old predictable temporary names, and at the final name
    for name in ("table.csv", "fig.png"):
        (out / f".{name}.{os.getpid()}.tmp").symlink_to(victim)
        (out / f".{name.split('.')[0]}.{os.getpid()}.tmp.png").symlink_to(victim)
    (out / "report.md").symlink_to(victim)
    files.atomic_write_text(out / "table.csv", "a,b\n1,2\n")
    files.atomic_write_text(out / "report.md", "report\n")
    from matplotlib.figure import Figure
    fig = Figure()
    fig.subplots().plot([0, 1])
    files.save_figure(fig, out / "fig.png")
    assert victim.read_text() == "precious\n"
    for name in ("table.csv", "report.md", "fig.png"):
        assert not (out / name).is_symlink() and (out / name).is_file()
    assert (out / "report.md").read_text() == "report\n" and (out / "fig.png").read_bytes()[:4] == b"\x89PNG"


class _Full:
    """A file object whose writes fail as on a full disk (after the first few bytes went through)."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[:3])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.fixture
def full_disk(monkeypatch):
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real(fd, mode, *args, **kwargs)
        return _Full(f) if "w" in mode else f

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.parametrize("how", ["enospc", "permission", "erofs"])
def test_a_failed_write_is_one_error_naming_the_path_and_leaves_nothing(tmp_path, monkeypatch, how, request):
    target = tmp_path / "report.md"
    target.write_text("old\n")
    if how == "enospc":
        request.getfixturevalue("full_disk")
    elif how == "permission":
        def mkstemp(*a, **k):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    else:
        def replace(*a, **k):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(InputError) as e:
        files.atomic_write_text(target, "new\n" * 100, param="out")
    assert e.value.param == "out" and str(target) in str(e.value) and "\n" not in str(e.value)
    assert os.strerror({"enospc": errno.ENOSPC, "permission": errno.EACCES, "erofs": errno.EROFS}[how]) in str(e.value)
    monkeypatch.undo()
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_full_disk_during_a_sweep_is_one_line_naming_out(tmp_path, capsys, full_disk):
    study = tmp_path / "safe.toml"
    study.write_text(STUDY)
    out = tmp_path / "o"
    assert main(["sweep", str(study), "--out", str(out), "--executor", "inline", "--no-figures"]) == 2
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line and "ETA" not in line]
    assert len(err) == 1 and err[0].startswith("aimc-theory: error: --out: cannot write ") and str(out) in err[0]
    assert "No space left on device" in err[0]
    assert not [p for p in out.rglob("*") if p.is_file()]                  # no partial point file or table


def test_the_sweep_table_and_points_are_never_written_through_a_symlink(tmp_path, capsys):
    study = tmp_path / "safe.toml"
    study.write_text(STUDY)
    out, victim = tmp_path / "o", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious\n")
    for name in ("safe.csv", "safe.parquet"):
        (out / f".{name}.{os.getpid()}.tmp").symlink_to(victim)
    (out / "safe.csv").symlink_to(victim)
    assert main(["sweep", str(study), "--out", str(out), "--executor", "inline", "--no-figures", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == 0
    assert victim.read_text() == "precious\n" and not (out / "safe.csv").is_symlink()
    assert len(sweep.read_table(out / "safe.csv")) == 2


def _unwritable_dirs(tmp_path):
    """Directories no process may write into, root included (no monkeypatching): below a regular file, and
    on Linux the kernel's own /sys (read-only for everyone) and /proc/self (no new entries)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = [str(blocker / "out")]
    if Path("/sys/kernel").is_dir():
        out += ["/sys/kernel/aimc-out", "/proc/self"]
    return out


@pytest.mark.parametrize("argv", [
    ["check", "--fast", "--claims", "1.softbounds"],
    ["check", "--fast", "--claims", "1.softbounds", "--no-figures"],
    ["reproduce", "p1-fig2", "--steps", "2", "--seeds", "2"],
    ["train", "--dataset", "digits", "--epochs", "1", "--algorithm", "digital-sgd", "--train-size", "200",
     "--test-size", "50"],
])
def test_an_unwritable_output_directory_is_one_error_line(tmp_path, capsys, argv):
    from aimc_theory.cli import main
    from aimc_theory.parameters import parameters
    if "--train-size" in argv and "train_size" not in parameters("train"):
        argv = argv[:argv.index("--train-size")]
    for out in _unwritable_dirs(tmp_path):
        code = main(argv + ["--out", out])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("aimc-theory: error: --out: ") and len(err.splitlines()) == 1, (out, err)
