"""Safe parsing of user expressions for q+(w) and q-(w) into SymPy.

The text is parsed with :mod:`ast` and the tree is translated node by node into SymPy
objects; nothing is ever passed to ``eval``/``exec``/``sympify``. Only numbers, the
weight ``w``, named parameters, ``pi``/``E``, arithmetic (+ - * / ** and ``^`` as power)
and a fixed list of elementary functions are accepted; anything else (attributes,
subscripts, lambdas, keyword arguments, unknown names such as ``__import__``) is an
:class:`~aimc_theory.errors.InputError`.
"""
from __future__ import annotations

import ast

import sympy as sp

from .errors import InputError

W = sp.Symbol("w", real=True)

FUNCTIONS = {
    "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sinh": sp.sinh, "cosh": sp.cosh,
    "tanh": sp.tanh, "atan": sp.atan, "asinh": sp.asinh, "erf": sp.erf,
}
CONSTANTS = {"pi": sp.pi, "E": sp.E, "e": sp.E}
_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b, ast.BitXor: lambda a, b: a ** b,
}
# bounds on what a user expression may ask of SymPy (checked before SymPy sees it): each one alone kept
# `derive` busy for minutes or overflowed when unbounded
MAX_LENGTH = 1000          # characters
MAX_NODES = 300            # AST nodes
MAX_DEPTH = 100            # AST nesting (a sum of n terms nests n deep)
MAX_CALL_DEPTH = 4         # nested function calls, e.g. sin(sin(sin(sin(w))))
MAX_POWER_DEPTH = 3        # towers such as 2**2**2**w
MAX_CONSTANT = 1e6         # |number literal|
MAX_EXPONENT = 64          # |numeric exponent| of a power


def to_number(value: float) -> sp.Expr:
    """A float as an exact SymPy number when it is a short decimal (0.6 -> 3/5)."""
    r = sp.Rational(repr(float(value)))  # shortest decimal that round-trips: 0.6 -> 3/5
    return r if len(str(r)) <= 24 else sp.Float(value)


def parse(text: str, param_names, *, what: str = "expression") -> sp.Expr:
    """Parse ``text`` into a SymPy expression in ``w`` and symbols named ``param_names``."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(what, "must be a non-empty expression in w")
    if len(text) > MAX_LENGTH:
        raise InputError(what, f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise InputError(what, f"cannot parse {text!r}: {getattr(exc, 'msg', None) or exc}") from None
    _check_size(tree, what)
    symbols = {name: sp.Symbol(name, real=True) for name in param_names}
    allowed = ", ".join(sorted(["w", *symbols, *CONSTANTS]))

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return to_number(node.value)
        if isinstance(node, ast.Name):
            if node.id == "w":
                return W
            if node.id in symbols:
                return symbols[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise InputError(what, f"unknown name {node.id!r}; allowed names: {allowed}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = walk(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = getattr(node.func, "id", type(node.func).__name__)
                raise InputError(what, f"function {name!r} is not allowed; allowed: "
                                       + ", ".join(sorted(FUNCTIONS)))
            if node.keywords or len(node.args) != 1:
                raise InputError(what, f"{node.func.id}() takes exactly one positional argument")
            arg = walk(node.args[0])
            if not arg.free_symbols:
                # a constant argument is evaluated to 30 digits first: SymPy's exact evaluation of e.g.
                # sin(sinh(10**6)) looks for multiples of pi with ~10^5 digits and never returns
                try:
                    value = arg.evalf(30)
                    big = not value.is_finite or abs(complex(value)) > MAX_CONSTANT
                except (TypeError, ValueError, OverflowError):
                    raise InputError(what, f"cannot evaluate the argument of {node.func.id}() in {text!r}") from None
                if big:
                    raise InputError(what, f"the argument of {node.func.id}() in {text!r} is not a number within "
                                           f"[-{MAX_CONSTANT:g}, {MAX_CONSTANT:g}]")
                if arg.atoms(sp.Function):      # nested functions of constants: the 30-digit value
                    arg = value
            return FUNCTIONS[node.func.id](arg)
        raise InputError(what, f"{type(node).__name__} is not allowed in {text!r}: only numbers, "
                               "w, parameters, + - * / ** ^ and elementary functions")

    return check_finite_real(walk(tree), what, text)


def check_finite_real(expr: sp.Expr, what: str, text: str) -> sp.Expr:
    """No division by zero, infinity or complex value in ``expr`` (also after parameters are substituted:
    ``1 - w/tau`` with tau = 0)."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise InputError(what, f"{text!r} contains a division by zero or an infinite value")
    if expr.has(sp.I):
        raise InputError(what, f"{text!r} is complex-valued (e.g. the log or an even root of a negative number)")
    return expr


def _check_size(tree, what: str) -> None:
    """Reject expressions too large or too deep for SymPy to handle in about a second."""
    nodes = 0
    stack = [(tree, 0, 0, 0)]
    while stack:
        node, depth, calls, powers = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InputError(what, f"expression has more than {MAX_NODES} parts; simplify it")
        if depth > MAX_DEPTH:
            raise InputError(what, f"expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Call):
            calls += 1
            if calls > MAX_CALL_DEPTH:
                raise InputError(what, f"more than {MAX_CALL_DEPTH} nested function calls")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.BitXor)):
            powers += 1
            if powers > MAX_POWER_DEPTH:
                raise InputError(what, f"more than {MAX_POWER_DEPTH} nested powers")
            e = _literal(node.right)
            if e is not None and abs(e) > MAX_EXPONENT:
                raise InputError(what, f"exponent {e:g} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            v = node.value
            if not (abs(v) <= MAX_CONSTANT):          # also NaN and inf
                raise InputError(what, f"number {v!r} is outside [-{MAX_CONSTANT:g}, {MAX_CONSTANT:g}]")
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, calls, powers))


def _literal(node):
    """The value of a numeric literal (with unary signs), else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value) if abs(node.value) < 1e308 else sign * float("inf")
    return None
