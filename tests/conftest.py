import os

os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread in the test processes and the commands they start (set before NumPy loads): the tests' matrices
# are small, and with pytest-xdist's two workers next to the catalogue's two processes a second BLAS thread only
# waits for a busy core (the library sets its own counts where it matters: network.train, check's workers).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import settings  # noqa: E402

# The README's test command is a gate, not an exploration: the property tests draw the same examples on
# every run and every machine. `HYPOTHESIS_PROFILE=explore pytest ...` draws new examples (what such a
# run finds is fixed and the example pinned with @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- the claims catalogue in the background ----------------------------------------------------------------
# test_checks.py needs the whole catalogue with every claim's controls (checker.check(fast=True, controls=True):
# about 3 minutes of CPU). It runs in a process of its own, started as soon as collection shows it is needed, and
# writes its rows to a file that the tests needing them wait for; the other tests run meanwhile. Without
# pytest-xdist the session starts it; with `-n N` (the README's command) the controller does, once, when a worker's
# collection needs it: every worker gets a folder of the session from the controller and leaves there what the
# controller needs (that it needs the catalogue; which tests share a module fixture, for the scheduler below).
# Ctrl-C stops it at once. AIMC_CATALOGUE_INLINE=1 runs it in the test process instead (its traceback then shows
# where it failed).

import pickle  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_JOB_SCRIPT = """
import os, pickle, sys
from verification import checker
rows = checker.check(fast=True, controls=True)
with open(os.path.join(sys.argv[1], "rows.tmp"), "wb") as f:
    pickle.dump(rows, f)
os.replace(os.path.join(sys.argv[1], "rows.tmp"), os.path.join(sys.argv[1], "rows.pkl"))
"""


class _Catalogue:
    """The background run: ``folder`` gets rows.pkl when it succeeds and exit (its exit status) when it ends."""

    def __init__(self, folder: Path):
        self.folder, self.proc = folder, None

    def start(self) -> None:
        if self.proc is not None:
            return
        with open(self.folder / "stderr.txt", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", _JOB_SCRIPT, str(self.folder)], cwd=ROOT,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)   # its own group: stopped with its workers
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        code = self.proc.wait()
        try:
            (self.folder / "exit.tmp").write_text(str(code))
            os.replace(self.folder / "exit.tmp", self.folder / "exit")
        except OSError:                   # stopped at the session's end: the folder is gone
            pass

    def stop(self, keep_folder: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if not keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


_JOB: dict = {}        # "catalogue": the _Catalogue this process owns (the session, or xdist's controller)


def _needs_catalogue(item) -> bool:
    return item.path.name == "test_checks.py" and "rows" in getattr(item, "fixturenames", ())


def _inline() -> bool:
    return bool(os.environ.get("AIMC_CATALOGUE_INLINE"))


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _shares_a_module_fixture(item) -> bool:
    """The item uses a module- or class-scoped fixture (not the catalogue's: that one only reads a file)."""
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return not _needs_catalogue(item) and any(d and d[-1].scope in ("module", "class", "package")
                                              for d in defs.values())


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_needs_catalogue)          # stable: the catalogue's tests last, the rest in their order
    if _is_worker(config):                    # tell the controller (see pytest_xdist_make_scheduler)
        folder, me = Path(config.workerinput["aimc_session"]), config.workerinput["workerid"]
        shared = [i.nodeid for i in items if _shares_a_module_fixture(i)]
        (folder / f"groups-{me}.tmp").write_text("\n".join(shared))
        os.replace(folder / f"groups-{me}.tmp", folder / f"groups-{me}.txt")
        if any(map(_needs_catalogue, items)):
            (folder / f"needed-{me}").touch()


def pytest_collection_finish(session):
    config = session.config
    if _is_worker(config) or _inline() or "catalogue" in _JOB or config.getoption("collectonly") \
            or not any(map(_needs_catalogue, session.items)):
        return
    _JOB["catalogue"] = _Catalogue(Path(tempfile.mkdtemp(prefix="aimc-tests-")))
    _JOB["catalogue"].start()


# -- pytest-xdist (`pytest -n 2`, the README's test command): the controller's side ------------------------------

@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Every worker gets the session's folder: it writes its groups there, and finds the catalogue's rows."""
    if "catalogue" not in _JOB:
        _JOB["catalogue"] = _Catalogue(Path(tempfile.mkdtemp(prefix="aimc-tests-")))
    node.workerinput["aimc_session"] = str(_JOB["catalogue"].folder)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    job = _JOB.get("catalogue")
    if job is not None and not _inline() and not node.config.getoption("collectonly") \
            and any(job.folder.glob("needed-*")):
        job.start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's `load` (the default of -n), except that a module's tests that share a module-scoped fixture go to
    one worker together, so the fixture is built once (xdist's own `loadgroup` does not group under pytest 9.2:
    it renames nodeids through an attribute pytest no longer reads). Groups go out first (the larger first), then
    the single tests in collection order, the catalogue's last."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::", 1)[0] if nodeid in _grouped() else nodeid

    return SharedFixtureScheduling(config, log)


def _grouped() -> set:
    """The tests the workers reported as sharing a module fixture (read once: the scheduler asks after every
    worker has collected)."""
    if "groups" not in _JOB:
        job = _JOB.get("catalogue")
        files = list(job.folder.glob("groups-*.txt")) if job is not None else []
        _JOB["groups"] = {n for f in files for n in f.read_text().split("\n") if n}
    return _JOB["groups"]


def pytest_keyboard_interrupt(excinfo):
    """Ctrl-C: stop the catalogue now. pytest-xdist's workers ignore SIGINT and finish their test first; one
    waiting for the rows then sees the run end (its test fails at once) instead of waiting minutes for it."""
    job = _JOB.get("catalogue")
    if job is not None:
        job.stop(keep_folder=True)


def pytest_sessionfinish(session, exitstatus):
    job = _JOB.pop("catalogue", None)
    if job is not None and not _is_worker(session.config):
        job.stop()


def _wait_for_rows(folder: Path) -> list:
    rows, done, t0 = folder / "rows.pkl", folder / "exit", time.monotonic()
    while not rows.exists():
        if not folder.exists():
            raise RuntimeError("the session stopped the background claims catalogue")
        if not (folder / "stderr.txt").exists() and time.monotonic() - t0 > 60:
            raise RuntimeError(f"the background claims catalogue was never started ({folder})")
        if done.exists() and not rows.exists():
            err = (folder / "stderr.txt").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the background claims catalogue failed (exit status {done.read_text()}); rerun "
                               f"with AIMC_CATALOGUE_INLINE=1 to see it in the test process:\n{err}")
        time.sleep(0.2)
    with open(rows, "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="session")
def catalogue_rows(request):
    """{id: row} of checker.check(fast=True, controls=True): the background run's, or run here."""
    config = request.config
    if _inline():
        folder = None
    elif _is_worker(config):
        folder = config.workerinput["aimc_session"]
    else:
        folder = str(_JOB["catalogue"].folder) if "catalogue" in _JOB else None
    if folder is None:
        from verification import checker
        rows = checker.check(fast=True, controls=True)
    else:
        rows = _wait_for_rows(Path(folder))
    return {r["id"]: r for r in rows}


@pytest.fixture(autouse=True)
def _default_ctrl_c():
    """Every test starts with Python's own Ctrl-C: SIGINT neither ignored nor blocked, default_int_handler. The
    Ctrl-C tests (in this process and in the commands they start, which inherit an ignored SIGINT) need it, and in
    CI a pytest-xdist worker was twice found with SIGINT ignored at the OS level (Python's handler table still
    showing the default) after some sequence of tests: 17 Ctrl-C tests then failed."""
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.default_int_handler)     # also re-installs it where the OS ignores it
    yield
