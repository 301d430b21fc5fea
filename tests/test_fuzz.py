"""Property-based fuzzing of every CLI command with random and hostile inputs (rules in tests/fuzz_cli.py).
The counts of inputs tried per command are printed at the end; benchmarks/fuzz_cli.py runs a larger budget."""
import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_cli

EXAMPLES = {"derive": 60, "fixed-point": 60, "simulate": 60, "calibrate": 40, "reproduce": 15, "train": 15,
            "check": 8, "sweep": 25, "presets": 6, "fit": 30}


@pytest.mark.parametrize("command", list(EXAMPLES))
def test_cli_survives_hostile_input(command):
    @settings(max_examples=EXAMPLES[command], deadline=None, suppress_health_check=list(HealthCheck))
    @given(fuzz_cli.command_args(command))
    def run(argv):
        fuzz_cli.check_call(argv)

    run()


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
