"""Every reference in the docstrings and README.md resolves: dotted module paths (``benchmark.train.run``),
Sphinx roles (:mod:`...`, :func:`...`, :class:`...`, :meth:`...`, :data:`...`) and repo-relative file paths
(``benchmark/train/run.py``). A renamed module or file fails here, naming the stale mention."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "models", "datamodules")
ROLE = re.compile(r":(mod|func|class|meth|data|attr|exc):`~?([^`<>]+)`")
DOTTED = re.compile(r"(?<![\w./-])((?:benchmark|models|datamodules)(?:\.[A-Za-z_]\w*)+)")
FILE = re.compile(r"(?<![\w./<-])((?:benchmark|models|datamodules|tests|results)/[\w./-]*[\w/])")
GENERATED = ("results/",)          # what a run writes (results/runs/, results/summary.md, ...): not in a clone


def sources() -> list[Path]:
    out = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return out + sorted((ROOT / "tests").rglob("*.py"))


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def docstrings(path: Path) -> list[tuple[str, str | None]]:
    """``(docstring, enclosing class name or None)`` of the module, its classes and functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, str | None]] = []

    def walk(node, cls):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = child.name if isinstance(child, ast.ClassDef) else cls
                doc = ast.get_docstring(child, clean=False)
                if doc:
                    out.append((doc, inner))
                walk(child, inner)

    doc = ast.get_docstring(tree, clean=False)
    if doc:
        out.append((doc, None))
    walk(tree, None)
    return out


def resolve_dotted(name: str) -> bool:
    """Import the longest module prefix of ``name``, then look the rest up as attributes."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def resolve_role(target: str, module: str, cls: str | None) -> bool:
    target = target.strip().rstrip("()")
    if not target.strip("."):
        return True                                 # an elision ("..."), not a reference
    if target.startswith("."):                      # relative to the module's package
        package = module if (ROOT / module.replace(".", "/") / "__init__.py").exists() else module.rpartition(".")[0]
        level = len(target) - len(target.lstrip("."))
        base = package.split(".")[:len(package.split(".")) - (level - 1)]
        target = ".".join(base) + "." + target.lstrip(".")
    if resolve_dotted(target):
        return True
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    head, _, rest = target.partition(".")
    scopes = [mod] + ([getattr(mod, cls)] if cls and hasattr(mod, cls) else [])
    scopes += [getattr(mod, n) for n in dir(mod) if inspect.isclass(getattr(mod, n))]   # a method of the module
    for scope in scopes:
        if hasattr(scope, head):
            obj = getattr(scope, head)
            try:
                for attr in rest.split(".") if rest else []:
                    obj = getattr(obj, attr)
            except AttributeError:
                continue
            return True
    return False


def stale_in(text: str, module: str | None, cls: str | None) -> list[str]:
    bad = []
    for kind, target in ROLE.findall(text):
        if not (resolve_role(target, module, cls) if module else resolve_dotted(target)):
            bad.append(f":{kind}:`{target}`")
    for name in DOTTED.findall(text):
        if not resolve_dotted(name.rstrip(".")):
            bad.append(name)
    for rel in FILE.findall(text):
        if rel.startswith(GENERATED) and not (ROOT / rel).exists() or "*" in rel:
            continue
        if not (ROOT / rel.rstrip("/")).exists():
            bad.append(rel)
    return bad


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docstring_references_resolve(path):
    module = module_name(path)
    bad = [f"{ref}" for doc, cls in docstrings(path) for ref in stale_in(doc, module, cls)]
    assert not bad, f"{path.relative_to(ROOT)}: stale references {sorted(set(bad))}"


def test_readme_references_resolve():
    bad = stale_in((ROOT / "README.md").read_text(encoding="utf-8"), None, None)
    assert not bad, f"README.md: stale references {sorted(set(bad))}"


def test_the_checker_catches_a_stale_reference():
    assert set(stale_in(":mod:`benchmark.no_such_module` and benchmark/no_such.py and models.nowhere", None,
                        None)) == {":mod:`benchmark.no_such_module`", "benchmark.no_such_module", "models.nowhere",
                                   "benchmark/no_such.py"}
    assert stale_in(":func:`benchmark.train.run.gather_samples`, benchmark/train/run.py", None, None) == []
