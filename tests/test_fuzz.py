"""Property-based fuzzing of every CLI command with random and hostile inputs (rules in tests/fuzz_cli.py).
The counts of inputs tried per command are printed at the end; benchmarks/fuzz_cli.py runs a larger budget."""
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_cli

# The README's test command (profile "ci": the same inputs on every run) is the gate: half the inputs of the
# commands whose calls cost ~0.1 s each (derive's SymPy budget, fit's least squares, reproduce's figures); an
# exploring run (HYPOTHESIS_PROFILE=explore: new inputs) tries all of them, benchmarks/fuzz_cli.py thousands.
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
EXAMPLES = {"derive": 60 if EXPLORE else 30, "fixed-point": 60, "simulate": 60, "calibrate": 40,
            "reproduce": 15 if EXPLORE else 8, "train": 15, "check": 8, "sweep": 25, "presets": 6,
            "fit": 30 if EXPLORE else 15}


@pytest.mark.parametrize("command", list(EXAMPLES))
def test_cli_survives_hostile_input(command):
    @settings(max_examples=EXAMPLES[command], deadline=None, suppress_health_check=list(HealthCheck))
    @given(fuzz_cli.command_args(command))
    def run(argv):
        code, out, err = fuzz_cli.check_call(argv)
        if code == 2 and command in ("derive", "fixed-point", "simulate", "calibrate"):
            assert fuzz_cli.names_a_parameter(command, err), (argv, err)

    run()


# '^' as power and named parameters with -p, hostile or not (the fuzzer draws these shapes among the others;
# here each case once, with what the one line names): (arguments, exit status, the flag named on exit 2)
NAMED = [
    (["--q-plus", "1 - w^2/2", "--q-minus", "1 + w/2"], 0, None),            # 1 - w**2/2, not (1 - w)**2/2
    (["--q-plus", "(1-w)^3", "--q-minus", "(1+w)^3"], 0, None),
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p", "b=0.5"], 0, None),
    (["--q-plus", "(1 - w/tau)^2", "--q-minus", "(1 + w/tau)^2", "-p", "tau=1.5", "--range=-1.5,1.5"], 0, None),
    # the default range's scan steps over the double zero at w = tau: refused naming --range (was --q-plus, on
    # a range (-inf, inf) the user never gave)
    (["--q-plus", "(1 - w/tau)^2", "--q-minus", "(1 + w/tau)^2", "-p", "tau=1.5"], 2, "--range"),
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1"], 2, "--q-plus"),          # b never given
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=-1", "-p", "b=0.5"], 2, "--range"),  # q < 0 at 0
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p", "b=0.5", "--range=-3,3"], 2, "--q-plus"),
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=nan", "-p", "b=0.5"], 2, "-p"),
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p", "b=0.5", "-p", "c=1"], 2, "-p"),  # unused
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p", "b=0.5", "-p", "w=1"], 2, "-p"),  # reserved
    (["--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a", "-p", "b=0.5"], 2, "-p"),                 # no value
    (["--q-plus", "1 - w^a", "--q-minus", "1 + w^a", "-p", "a=65"], 2, "--q-plus"),        # exponent beyond 64
    # undefined for w < 0: the default range is refused naming --range (was "(-6.2e-67, 1)" refused by --q-plus)
    (["--q-plus", "1 - w^a", "--q-minus", "1 + w^a", "-p", "a=0.5"], 2, "--range"),
]


@pytest.mark.parametrize("args, code, flag", NAMED, ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_powers_and_named_parameters(args, code, flag):
    got, out, err = fuzz_cli.check_call(["derive", *args, "--time-budget", "1", "--json"])
    assert got == code, (args, err)
    if code == 2:
        line = err.strip().splitlines()[-1].removeprefix("aimc-theory: error: ")
        assert re.match(re.escape(flag) + r"[: ]", line), err


def test_a_parameter_given_twice_is_an_error():
    """-p a=1 ... -p a=2: which value was meant is not known (the last one won silently before): one error line
    naming -p a."""
    code, out, err = fuzz_cli.check_call(["derive", "--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1",
                                          "-p", "b=0.5", "-p", "a=2", "--time-budget", "1", "--json"])
    line = err.strip().splitlines()[-1]
    assert code == 2 and line.startswith("aimc-theory: error: -p a: given twice"), err


TABLE_EXAMPLES = {"derive": 25, "fixed-point": 40, "simulate": 40, "calibrate": 25, "presets": 8, "train": 10,
                  "reproduce": 8}


@pytest.mark.parametrize("command", list(TABLE_EXAMPLES))
def test_every_option_of_the_parameter_table_survives_hostile_values(command):
    """Options drawn from the one parameter table (negative, zero, tiny, huge, NaN, inf, wrong type, text,
    options that do not apply): exit 0 with finite JSON, or exit 2 with one line naming the parameter."""
    @settings(max_examples=TABLE_EXAMPLES[command], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz_cli.table_args(command))
    def run(argv):
        code, out, err = fuzz_cli.check_call(argv)
        if code == 2:
            assert fuzz_cli.names_a_parameter(command, err), (argv, err)

    run()


def test_fixed_point_and_simulate_apply_the_same_rules():
    """The same bad input is rejected by both commands (exit 2), and good input accepted by both."""
    for extra, want in ((["--lr", "5"], 2), (["--noise", "1e200"], 2), (["--w-star", "3"], 2), ([], 0),
                        (["--lr", "0.02"], 0)):
        codes = {cmd: fuzz_cli.check_call([cmd, "--response", "softbounds", *extra, "--json"]
                                          + (["--steps", "50", "--chains", "10"] if cmd == "simulate" else []))[0]
                 for cmd in ("fixed-point", "simulate")}
        assert set(codes.values()) == {want}, (extra, codes)


def test_zz_report_counts(capsys):
    with capsys.disabled():
        print("\nfuzzed CLI inputs per command: " + ", ".join(f"{k} {v}" for k, v in sorted(fuzz_cli.COUNTS.items()))
              + "; slowest call per command (s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in sorted(fuzz_cli.SLOWEST.items())))
