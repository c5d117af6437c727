"""The benchmark's import graph points one way: no cycle, nobody imports the CLI, no private name crosses modules.

The graph is read from the source (every ``import`` statement, including those inside functions), so an import
hidden in a function to dodge a circle still counts. A module's own parent packages are not edges: Python
imports them implicitly, and a package's ``__init__`` that gathers its submodules is not a circle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "models", "datamodules")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """``(imported module, names taken from it, line)`` for every project import in ``path``."""
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                 for stmt in block.body for n in ast.walk(stmt)}     # `if TYPE_CHECKING:` runs no import
    out = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            plain = []
            for a in node.names:                       # `from pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                if sub in modules:
                    out.append((sub, [], node.lineno))
                else:
                    plain.append(a.name)
            if plain or not node.names:
                out.append((target, plain, node.lineno))
    return out


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str, int]]]:
    """Edges between project modules (parents excluded) and every ``(importer, module, name, line)``."""
    modules = project_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    names = []
    for mod, path in modules.items():
        for target, taken, line in imports_of(mod, path, modules):
            if target not in modules or mod.startswith(target + ".") or target == mod:
                continue
            graph[mod].add(target)
            names += [(mod, target, n, line) for n in taken]
    return graph, names


def find_cycle(graph: dict[str, set[str]], within: str) -> list[str] | None:
    """One import cycle among the modules of package ``within``, or None (iterative DFS, colours)."""
    nodes = [m for m in graph if m == within or m.startswith(within + ".")]
    colour = {m: 0 for m in nodes}
    for start in nodes:
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next((c for c in children if c in colour), None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                return path[path.index(child):] + [child]
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    src = ("def f():\n    from ..io import atomic_write\n    from . import sibling\n"
           "if TYPE_CHECKING:\n    from .run import execute\n")
    fake = tmp_path / "benchmark" / "train"
    fake.mkdir(parents=True)
    (fake / "mod.py").write_text(src)
    modules = {"benchmark.io": Path(), "benchmark.train.sibling": Path()}
    got = imports_of("benchmark.train.mod", fake / "mod.py", modules)
    assert ("benchmark.io", ["atomic_write"], 2) in got and ("benchmark.train.sibling", [], 3) in got
    assert not any(target.startswith("benchmark.train.run") for target, _, _ in got)    # type-only


def test_find_cycle_finds_a_planted_cycle_and_nothing_in_a_dag():
    dag = {"benchmark.a": {"benchmark.b"}, "benchmark.b": {"benchmark.c"}, "benchmark.c": set()}
    assert find_cycle(dag, "benchmark") is None
    cyclic = dict(dag, **{"benchmark.c": {"benchmark.a"}})
    assert find_cycle(cyclic, "benchmark") == ["benchmark.a", "benchmark.b", "benchmark.c", "benchmark.a"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    graph, _ = import_graph()
    assert find_cycle(graph, package) is None, f"import cycle: {' -> '.join(find_cycle(graph, package))}"


def test_nobody_imports_the_cli():
    graph, _ = import_graph()
    importers = sorted(m for m, targets in graph.items() if "benchmark.cli" in targets and m != "benchmark.__main__")
    assert importers == [], f"the CLI is the top of the graph; imported by {importers}"


def private_attribute_uses(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """``alias._private`` where ``alias`` is a project module bound by an import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
        elif isinstance(node, ast.ImportFrom):
            for target, _, _ in imports_of(name, path, modules):
                aliases.update({a.asname or a.name: target for a in node.names
                                if target.endswith("." + a.name) and target in modules})
    return [f"{name}:{n.lineno} uses {aliases[n.value.id]}.{n.attr}" for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases
            and n.attr.startswith("_") and not n.attr.startswith("__")]


def test_no_private_name_crosses_modules():
    _, names = import_graph()
    private = [f"{mod}:{line} imports {target}.{n}" for mod, target, n, line in names
               if n.startswith("_") and not n.startswith("__")]
    modules = project_modules()
    private += [use for mod, path in modules.items() for use in private_attribute_uses(mod, path, modules)]
    assert private == [], "private names imported across modules:\n" + "\n".join(private)


def test_leaf_modules_import_nothing_of_the_project():
    graph, _ = import_graph()
    for leaf, allowed in {"benchmark.errors": set(), "benchmark.records": set(), "benchmark.registry": set(),
                          "benchmark.io": {"benchmark.errors", "benchmark.records"},
                          "benchmark.samples": {"datamodules"}}.items():
        assert graph[leaf] <= allowed, f"{leaf} imports {sorted(graph[leaf] - allowed)}"


def test_private_attribute_reader_sees_module_alias_access(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("from benchmark.train import run as runner\nrunner._hidden()\nrunner.public()\n")
    modules = {"benchmark.train.run": Path()}
    assert private_attribute_uses("benchmark.perf.mod", path, modules) == \
        ["benchmark.perf.mod:2 uses benchmark.train.run._hidden"]
