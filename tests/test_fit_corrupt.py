"""A battery of corrupted sweep files: each is one clear error naming the line (numbered as in the file, comments
and blank lines counted) or the problem, never a traceback and never a silent fit of what was not meant."""
from pathlib import Path

import pytest

from aimc_theory import fit
from aimc_theory.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep.csv"
BASE = EXAMPLE.read_text()
ROW = "0,up,1,-0.29786555470255377"          # line 4 of the example (line 1 is a comment)
LINES = BASE.splitlines()


def _write(tmp_path, text: str, name="data.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    return p


CASES = {
    "nan": (BASE.replace(ROW, "0,up,1,nan"), r"line 4: pulse and w must be finite"),
    "inf": (BASE.replace(ROW, "0,up,1,inf"), r"line 4: pulse and w must be finite"),
    "huge": (BASE.replace(ROW, "0,up,1,1e308"), r"line 4: \|w\| = 1e\+308 is beyond 1e12"),
    "text": (BASE.replace(ROW, "0,up,1,abc"), r"line 4: pulse and w must be numbers"),
    "empty field": (BASE.replace(ROW, "0,up,1,"), r"line 4: pulse and w must be numbers"),
    "extra field": (BASE.replace(ROW, ROW + ",9"), r"line 4: 5 fields, the header has 4"),
    "a million fields": ("\n".join(LINES[:3]) + "\n" + ",".join(["1"] * 10**6) + "\n", r"line 4: 1,000,000 fields"),
    "duplicate pulse": (BASE.replace("0,up,2,", "0,up,1,"), r"line 5: pulse index 1 does not increase"),
    "one direction": ("\n".join(l for l in LINES if ",down," not in l), r"0 down steps"),
    "header only": ("\n".join(LINES[:2]) + "\n", r"a header and no rows"),
    "constant": ("\n".join(LINES[:2] + [f"0,{'up' if i < 50 else 'down'},{i},0.1" for i in range(100)]),
                 r"never moves"),
    "semicolons": (BASE.replace(",", ";"), r"separated by ';': the file must be comma-separated"),
    "tabs": (BASE.replace(",", "\t"), r"separated by '\\t'"),
    "NUL": (BASE.replace(ROW, "0,up\x00,1,-0.29"), r"line 4: direction 'up\\x00' is not up or down"),
    "tiny span": ("\n".join(LINES[:2] + [f"0,{'up' if i < 200 else 'down'},{i},{1e-300 * (i if i < 200 else 400 - i):.17g}"
                                         for i in range(400)]), r"span"),
    "empty": ("", r"is empty"),
    "comments only": ("# nothing\n\n# here\n", r"is empty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_corrupted_file_is_one_clear_error(tmp_path, case):
    text, message = CASES[case]
    with pytest.raises(InputError, match=message) as info:
        fit.read(_write(tmp_path, text))
    assert info.value.param == "data" and "\n" not in str(info.value)


def test_binary_garbage_and_invalid_utf8(tmp_path):
    with pytest.raises(InputError, match="data"):
        fit.read(_write(tmp_path, bytes(range(256)).decode("latin1") * 20))
    p = tmp_path / "bad.csv"
    p.write_bytes(b"direction,pulse,w\nup,0,\xff\xfe\n")
    with pytest.raises(InputError, match="cannot read"):
        fit.read(p)


@pytest.mark.parametrize("variant", ["bom", "crlf", "quoted", "upper case"])
def test_harmless_variants_read_as_the_example(tmp_path, variant):
    text = {"bom": "\ufeff" + BASE, "crlf": BASE.replace("\n", "\r\n"),
            "quoted": BASE.replace(ROW, '0,"up",1,"-0.29786555470255377"'),
            "upper case": BASE.replace(",up,", ",UP,")}[variant]
    a, b = fit.read(EXAMPLE), fit.read(_write(tmp_path, text))
    assert (a.w_up == b.w_up).all() and (a.dw_down == b.dw_down).all()
