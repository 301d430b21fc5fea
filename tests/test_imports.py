"""The package's import graph: no circles, and nothing below the command line imports it.

Every module of aimc_theory is parsed with ``ast`` (nothing is imported); an edge A -> B is any import of
B in A, at module level or inside a function (a lazy import that dodges a cycle is still a cycle), or an
``importlib.import_module`` of a literal name.
"""
import ast
import functools
import importlib.util
from pathlib import Path

import pytest

PACKAGE = "aimc_theory"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Import cycles that exist today and are on their way out; every other cycle fails the test. An entry names
# modules or packages (a package covers its submodules); a cycle passes when one entry covers all of its
# modules. Keep this minimal: an entry no cycle touches any more fails test_known_cycles_are_still_cycles.
KNOWN_CYCLES: set = set()      # none: the last (cli <-> run <-> sweep) went with the commands refactor

# Modules that import aimc_theory.cli, directly or through other modules, besides the command line itself
# (and a __main__), on their way out.
KNOWN_CLI_IMPORTERS: set = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, modules) -> set[str]:
    """The aimc_theory modules ``name`` imports anywhere in its source (a name imported from a package
    counts as an import of that submodule when there is one, else of the package)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]

    def resolve(base: str, alias: str | None) -> str | None:
        if alias is not None and f"{base}.{alias}" in modules:
            return f"{base}.{alias}"
        # a name inside a module (or a package's own name): the closest enclosing module
        while base and base not in modules:
            base = base.rpartition(".")[0]
        return base or None

    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    out.add(resolve(a.name, None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                base = node.module
            else:
                continue
            for a in node.names:
                out.add(resolve(base, a.name))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            # importlib.import_module(".x", __name__) / import_module("aimc_theory.x")
            target = node.args[0].value
            if isinstance(target, str):
                if target.startswith("."):
                    target = importlib.util.resolve_name(target, package)
                if target.startswith(PACKAGE):
                    out.add(resolve(target, None))
    out.discard(None)
    out.discard(name)
    return out


@functools.lru_cache(maxsize=None)
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph) -> list[frozenset]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _covered(module: str, entry) -> bool:
    return any(module == e or module.startswith(e + ".") for e in entry)


def _reaches(graph, start: str, target: str) -> bool:
    """``start`` imports ``target`` directly or through other modules (not through ``target`` itself)."""
    seen, todo = {start}, [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w == target:
                return True
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return False


def test_the_graph_sees_top_level_and_function_level_imports():
    graph = _graph()
    # top level, relative: device.py imports the update models it applies
    assert "aimc_theory.update_models" in graph["aimc_theory.device"]
    # inside a function: the pulse trains' optional compiled backend
    assert "aimc_theory.kernels" in graph["aimc_theory.pulse_trains"]
    # the lazily loaded symbolic package (importlib.import_module in __init__)
    assert "aimc_theory.symbolic" in graph["aimc_theory"]
    # the cycle finder itself
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert _reaches({"a": {"b"}, "b": {"c"}}, "a", "c") and not _reaches({"a": {"b"}, "c": {"a"}}, "a", "c")


def test_no_import_cycles():
    cycles = [c for c in _cycles(_graph())
              if not any(all(_covered(m, known) for m in c) for known in KNOWN_CYCLES)]
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def test_known_cycles_are_still_cycles():
    cycles = _cycles(_graph())
    stale = [sorted(k) for k in KNOWN_CYCLES if not any(_covered(m, k) for c in cycles for m in c)]
    assert not stale, f"no longer a cycle, delete it from KNOWN_CYCLES: {stale}"


def test_device_and_pulse_trains_import_one_way():
    graph = _graph()
    assert "aimc_theory.pulse_trains" in graph["aimc_theory.device"]
    for below in ("aimc_theory.update_models", "aimc_theory.pulse_trains"):
        assert "aimc_theory.device" not in graph[below], below
    assert "aimc_theory.pulse_trains" not in graph["aimc_theory.update_models"]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_only_the_command_line_imports_cli(name):
    if name in ("aimc_theory.cli", "aimc_theory.__main__") or name in KNOWN_CLI_IMPORTERS:
        return
    assert not _reaches(_graph(), name, "aimc_theory.cli"), f"{name} imports aimc_theory.cli"
