"""derive's closed forms as a paper prints them (issue 22): decimals instead of huge rationals, no |u| where u
has one sign on the range, LaTeX, the forms in named parameters next to their values, figures as PDF/SVG.

Every printed form is compared with the exact one it stands for: a display that dropped a term, flipped a
sign inside a logarithm or substituted the numbers instead of keeping the parameters fails."""
import json
import math
import re

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from aimc_theory import response
from aimc_theory.cli import main
from aimc_theory.expressions import W
from aimc_theory.symbolic import derivation

FITTED = ("1.00085 - 0.251413*w", "0.99913 + 0.2498*w")       # as `aimc-theory fit` prints a fitted response


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def values(text: str, points, names=()) -> np.ndarray:
    """A printed form evaluated at the points (parsed back by SymPy, as a reader would type it in)."""
    local = {"w": W, **{n: sp.Symbol(n) for n in names}}
    expr = sp.sympify(text, locals=local)
    out = [complex(sp.N(expr.subs(W, float(x)), 20)) for x in points]
    return np.array([v.real if v.imag == 0 else math.nan for v in out])     # log of a negative: not R_c


def rounding_allowance(digits: int, expr_text: str, scale: float) -> float:
    """What rounding each printed number to ``digits`` significant digits may change: half a unit in the last
    digit per number, times the number of numbers, relative to the form's scale."""
    numbers = len(re.findall(r"\d+\.\d+(?:e[-+]?\d+)?", expr_text)) or 1
    return numbers * 0.5 * 10.0 ** (1 - digits) * scale


def test_fitted_decimals_print_as_decimals_not_rationals(capsys):
    code, out, err = run(capsys, "derive", "--q-plus", FITTED[0], "--q-minus", FITTED[1], "--json",
                         "--time-budget", "600")
    assert code == 0, err
    d = json.loads(out)
    shown = d["display"]
    # the exact forms keep their rationals (JSON keys unchanged); the printed ones have no such fractions
    assert re.search(r"\d{4,}/\d{4,}", d["F"]) and re.search(r"\d{4,}/\d{4,}", d["penalty"])
    for key in ("F", "G", "R", "penalty"):
        assert not re.search(r"\d{3,}/\d{3,}", shown[key]), (key, shown[key])
    assert shown["F"] == "0.99999 - 0.0008065*w" and shown["G"] == "0.250606*w - 0.00086"
    # each printed form is the exact one to its printed digits, on the whole range
    lo, hi = d["range"]
    pts = np.linspace(lo, hi, 9)[1:-1]
    for key in ("F", "G", "R"):
        exact, printed = values(d[key], pts), values(shown[key], pts)
        scale = np.max(np.abs(exact))
        assert np.max(np.abs(printed - exact)) <= rounding_allowance(6, shown[key], scale) * 10, key
    # R_c is now a closed form (checked at 30 digits; float64 cancels ~6 digits of its terms), and it is R_c
    assert d["penalty_closed_form"] is True
    r = response.from_expressions(*FITTED)
    dv = derivation.derive(r, time_budget=None)
    ref = [integrate.quad(lambda t: float(dv.R_fn(np.array(t))), dv.symmetric_point, x, epsabs=1e-13,
                          epsrel=1e-12)[0] for x in pts]
    assert np.allclose(dv.penalty_fn(pts), ref, rtol=1e-9, atol=1e-11)


def test_digits_sets_the_printed_precision():
    d = derivation.derive(response.from_expressions(*FITTED), time_budget=None)
    assert d.paper(3)["display"]["G"] == "0.251*w - 0.00086"
    assert d.paper(10)["display"]["G"] == "0.2506065*w - 0.00086"
    # integers and simple fractions stay exact, other rationals become decimals
    e = derivation.readable(sp.Rational(1, 2) * W ** 2 + sp.Rational(99957361, 397588560) * W + 3, 6)
    assert sp.sstr(e, full_prec=False) == "w**2/2 + 0.251409*w + 3"
    with pytest.raises(Exception, match="digits"):
        derivation.readable(W, 0)


@pytest.mark.parametrize("args", [["--response", "aihwkit-softbounds", "-p", "up_down=0.3"],
                                  ["--response", "linear", "-p", "tau=3.5", "-p", "c=0.2"],
                                  ["--q-plus", "1 - w", "--q-minus", "1.2*(1 + w)"]])
def test_no_abs_where_the_argument_has_one_sign_on_the_range(capsys, args):
    code, out, err = run(capsys, "derive", *args, "--json", "--time-budget", "600")
    assert code == 0, err
    d = json.loads(out)
    assert "Abs" in d["penalty"]                    # SymPy's antiderivative, log|u|
    assert "Abs" not in d["display"]["penalty"] and "left|" not in d["latex"]["penalty"]
    # u or -u, whichever is right: the printed log's argument is positive and R_c is unchanged on the range
    lo, hi = d["range"]
    pts = np.linspace(lo, hi, 11)[1:-1]
    exact, printed = values(d["penalty"], pts), values(d["display"]["penalty"], pts)
    assert np.all(np.isfinite(printed))
    assert np.max(np.abs(printed - exact)) <= rounding_allowance(6, d["display"]["penalty"], np.max(np.abs(exact))) * 10


def test_abs_stays_where_the_sign_changes_or_cannot_be_proven():
    u = sp.Abs(W)
    assert derivation.on_range(sp.log(sp.Abs(1 - W)) + u, -1, 1) == sp.log(1 - W) + u     # w changes sign
    assert derivation.on_range(sp.log(sp.Abs(W - 2)), -1, 1) == sp.log(2 - W)
    # zero at a break (the SP), one sign on both sides: |u| = -u there too
    assert derivation.on_range(sp.Abs(-W ** 2), -1, 1, breaks=[0]) == W ** 2
    assert derivation.on_range(sp.Abs(W ** 3), -1, 1, breaks=[0]) == sp.Abs(W ** 3)


def test_latex_prints_one_paste_ready_block(capsys):
    code, out, err = run(capsys, "derive", "--response", "linear", "-p", "tau=3.5", "-p", "c=0.2", "--latex",
                         "--time-budget", "600")
    assert code == 0, err
    lines = out.splitlines()
    body = [ln for ln in lines if not ln.startswith("%")]
    assert body[0] == r"\begin{align*}" and body[-1] == r"\end{align*}"
    text = "\n".join(body)
    assert r"\log" in text and r"\frac" in text and "R_c(w) &=" in text and r"R_c(w; \tau, c) &=" in text
    assert text.count("{") == text.count("}") and text.count(r"\left") == text.count(r"\right")
    assert "Abs" not in text and "**" not in text          # LaTeX, not SymPy text


def test_json_keeps_its_keys_and_adds_the_printed_forms(capsys):
    code, out, _ = run(capsys, "derive", "--q-plus", "1 - w/2", "--q-minus", "1 + w/2", "--range=-2,2", "--json")
    d = json.loads(out)
    assert code == 0 and d["penalty"] == "w**2/4" and set(d["latex"]) == {"F", "G", "R", "penalty"}
    assert {"F", "G", "R", "penalty", "penalty_closed_form", "symmetric_points", "penalty_curvature",
            "sp_stability", "notes", "range"} <= set(d)
    assert d["display"]["penalty"] == "w**2/4" and d["latex"]["penalty"] == r"\frac{w^{2}}{4}"
    assert d["digits"] == 6 and "in_parameters" not in d


def test_named_parameters_stay_symbols_next_to_their_values(capsys):
    code, out, err = run(capsys, "derive", "--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p",
                         "b=0.5", "--json", "--time-budget", "600")
    assert code == 0, err
    d = json.loads(out)
    p = d["in_parameters"]
    assert p["parameters"] == {"a": 1.0, "b": 0.5} and p["assumptions"] == "a > 0, b > 0"
    a, b = sp.symbols("a b")
    forms = {k: sp.sympify(v, locals={"w": W, "a": a, "b": b}) for k, v in p["display"].items()}
    # in the parameters (the numbers substituted would not contain a and b) ...
    assert sp.simplify(forms["penalty"] - b * W ** 2 / (2 * a)) == 0
    assert sp.simplify(forms["penalty_curvature"] - b / a) == 0 and forms["symmetric_point"] == 0
    # ... and at the values they are the forms printed with the values
    assert d["display"]["penalty"] == "w**2/4"
    assert sp.simplify(forms["penalty"].subs({a: 1, b: sp.Rational(1, 2)}) - W ** 2 / 4) == 0
    code, out, _ = run(capsys, "derive", "--q-plus", "a - b*w", "--q-minus", "a + b*w", "-p", "a=1", "-p", "b=0.5")
    assert "R_c(w; a, b)" in out and "b*w**2/(2*a)" in out and "w**2/4" in out


def test_soft_bounds_print_as_the_published_square(capsys):
    """P1 eq. 148 with gamma = 1: R_c(w) = (w - SP)^2/(2 tau), printed so, not expanded (5 w^2/8 - w/8 + 1/160)."""
    code, out, err = run(capsys, "derive", "--response", "softbounds", "-p", "tau=0.8", "--sp-shift", "0.1",
                         "--json", "--time-budget", "600")
    assert code == 0, err
    d = json.loads(out)
    assert d["display"]["penalty"] == "5*(w - 1/10)**2/8" and d["penalty"] == "5*w**2/8 - w/8 + 1/160"
    tau = sp.Symbol("tau")
    got = sp.sympify(d["in_parameters"]["display"]["penalty"], locals={"w": W, "tau": tau})
    assert sp.simplify(got - (W - sp.Rational(1, 10)) ** 2 / (2 * tau)) == 0
    assert d["in_parameters"]["display"]["penalty"] == "(w - 1/10)**2/(2*tau)"


def test_family_parameters_and_the_checks_against_the_values():
    r = response.linear(tau=3.5, c=0.2)
    d = derivation.derive(r, time_budget=None)
    p = derivation.in_parameters("(1 + c)*(1 - w/tau)", "(1 - c)*(1 + w/tau)", {"tau": 3.5, "c": 0.2}, d,
                                 time_budget=None)
    tau, c = sorted(p.values, key=str)[1], sorted(p.values, key=str)[0]
    assert sp.simplify(p.symmetric_point - c * tau) == 0                 # SP = c tau (the family's doc)
    assert sp.simplify(p.penalty_curvature - 1 / (tau * (1 - c ** 2))) == 0
    pts = np.linspace(-3.4, 3.4, 7)
    got = [float(sp.N(p.penalty.xreplace({**p.values, W: sp.Float(x, 30)}), 20)) for x in pts]
    assert np.allclose(got, d.penalty_fn(pts), rtol=1e-10, atol=1e-12)
    # a name left out of -p keeps its value: gamma is a number in the forms, tau a symbol
    dp = derivation.derive(response.power(tau=0.6, gamma=2.0), time_budget=None)
    pp = derivation.in_parameters("(1 - w/tau)**gamma", "(1 + w/tau)**gamma", {"tau": 0.6}, dp,
                                  time_budget=None, fixed={"gamma": 2.0})
    assert {str(s) for s in pp.R.free_symbols} == {"w", "tau"}


def test_parameters_fall_back_to_the_values_when_sympy_is_too_slow(capsys):
    code, out, err = run(capsys, "derive", "--response", "power", "-p", "tau=0.6", "-p", "gamma=0.5", "--json",
                         "--time-budget", "0.1")
    assert code == 0, err
    p = json.loads(out)["in_parameters"]
    assert p["display"]["penalty"] is None
    assert any("with the values only" in n for n in p["notes"])


def test_a_family_in_derived_quantities_says_why_it_has_no_parameter_form(capsys):
    code, out, _ = run(capsys, "derive", "--response", "aihwkit-softbounds", "-p", "up_down=0.3", "--json")
    assert code == 0 and "derived from its parameters" in json.loads(out)["in_parameters"]["unavailable"]


def test_save_figure_formats(tmp_path):
    from matplotlib.figure import Figure
    from aimc_theory.files import figure_format, save_figure
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    assert save_figure(fig, tmp_path / "a.png") == tmp_path / "a.png"           # default: unchanged
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    pdf = save_figure(fig, tmp_path / "b.png", format="pdf")
    assert pdf == tmp_path / "b.pdf" and pdf.read_bytes()[:5] == b"%PDF-" and not (tmp_path / "b.png").exists()
    with figure_format("svg"):
        svg = save_figure(fig, tmp_path / "c.png")
    assert svg.suffix == ".svg" and b"<svg" in svg.read_bytes()[:500]
    again = save_figure(fig, tmp_path / "d.pdf")
    assert again.read_bytes() == pdf.read_bytes()            # no creation date: the same figure, the same file
    with pytest.raises(Exception, match="format"):
        save_figure(fig, tmp_path / "e.png", format="jpg")


def test_reproduce_writes_a_pdf(tmp_path, capsys):
    code, out, err = run(capsys, "reproduce", "p1-fig2", "--steps", "5", "--seeds", "2", "--format", "pdf",
                         "--out", str(tmp_path), "--json")
    assert code == 0, err
    fig = json.loads(out)["figure"]
    assert fig.endswith(".pdf") and open(fig, "rb").read(5) == b"%PDF-"
    assert not list(tmp_path.rglob("*.png"))
