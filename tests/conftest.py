import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

# The README's test command is a gate, not an exploration: the property tests draw the same examples on
# every run and every machine. `HYPOTHESIS_PROFILE=explore pytest ...` draws new examples (what such a
# run finds is fixed and the example pinned with @example).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
