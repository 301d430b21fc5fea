import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

# The README's test command is a gate, not an exploration: the property tests draw the same examples on
# every run and every machine. `HYPOTHESIS_PROFILE=explore pytest ...` draws new examples (what such a
# run finds is fixed and the example pinned with @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- the claims catalogue in the background ----------------------------------------------------------------
# test_checks.py needs the whole catalogue with every claim's controls (checker.check(fast=True, controls=True):
# about 100 s on 2 cores). It starts in a forked process as soon as collection shows it is needed and the
# test_checks items run last, so the other tests run meanwhile (the README's test command on 2 cores).

import multiprocessing  # noqa: E402
import pickle  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

_JOB: dict = {}


def _catalogue_job(path: str) -> None:
    os.setpgrp()                     # its own process group: the session can stop it and its pool together
    from verification import checker
    rows = checker.check(fast=True, controls=True)
    with open(path, "wb") as f:
        pickle.dump(rows, f)


def _needs_catalogue(item) -> bool:
    return item.fspath.basename == "test_checks.py" and "rows" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_needs_catalogue)          # stable: the catalogue's tests last, the rest in their order


def pytest_collection_finish(session):
    if not any(_needs_catalogue(i) for i in session.items) or os.environ.get("AIMC_CATALOGUE_INLINE"):
        return
    fd, path = tempfile.mkstemp(prefix="aimc-catalogue-", suffix=".pkl")
    os.close(fd)
    proc = multiprocessing.get_context("fork").Process(target=_catalogue_job, args=(path,))
    proc.start()
    _JOB.update(proc=proc, path=path)


def pytest_sessionfinish(session, exitstatus):
    proc = _JOB.get("proc")
    if proc is not None:
        if proc.is_alive():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                proc.terminate()
            proc.join(5)
        try:
            os.unlink(_JOB["path"])
        except OSError:
            pass


@pytest.fixture(scope="session")
def catalogue_rows():
    """{id: row} of checker.check(fast=True, controls=True): the background job's, or run here."""
    proc = _JOB.get("proc")
    if proc is None:
        from verification import checker
        rows = checker.check(fast=True, controls=True)
    else:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"the background claims catalogue failed (exit code {proc.exitcode}); rerun with "
                               "AIMC_CATALOGUE_INLINE=1 to see its traceback")
        with open(_JOB["path"], "rb") as f:
            rows = pickle.load(f)
    return {r["id"]: r for r in rows}
