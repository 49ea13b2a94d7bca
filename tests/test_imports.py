"""The package's imports point one way, and there are no import cycles.

config, imageio, devices, ink, colorspace <- models, losses, data <- training, inference <- evaluate (<- evaluate_hintauc, evaluate_locality <- evaluate_palettes) <- server, cli

Every ``import`` statement counts, also those inside functions (lazy imports of heavy optional
packages are still dependencies). ``data`` may use ``models.inputs`` alone (the generator-input
contract that datasets, the Colorizer and ONNX share); the web app never imports training. ``ink`` (every ink
threshold) and ``colorspace`` (the one CIELAB) are leaves that import nothing of the package, so every layer
may use them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "autopainter"

LEAVES = {"ink", "colorspace"}  # one owner per concept, below everything (ARCHITECTURE.md habit 12)
BASE = {"config", "imageio", "devices"} | LEAVES
# what each top-level part of the package may import from the others (its own modules always)
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "imageio": set(),
    "devices": set(),
    "ink": set(),
    "colorspace": set(),
    "color_metrics": {"colorspace"},
    "models": BASE,
    "losses": BASE | {"models"},
    "data": BASE | {"models.inputs"},
    "training": BASE | {"models", "losses", "data"},
    "inference": BASE | {"models", "data"},
    "evaluate": BASE | {"models", "data", "inference", "color_metrics"},
    "evaluate_hintauc": BASE | {"models", "data", "inference", "evaluate"},
    "evaluate_locality": BASE | {"models", "data", "inference", "evaluate"},
    "evaluate_palettes": BASE | {"models", "data", "inference", "evaluate", "evaluate_locality"},
    "server": BASE | {"models", "data", "inference"},
    "cli": BASE | {"models", "losses", "data", "training", "inference", "evaluate", "evaluate_hintauc", "evaluate_locality",
            "evaluate_palettes", "server"},
}
ROOT_MODULES = {"__init__", "__main__"}  # the package's front door: lazy re-exports only


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported autopainter module, line, at module level) of every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module_name(path).split(".") if _module_name(path) else []
    package = me if path.name == "__init__.py" else me[:-1]
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                mod = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("autopainter"):
                mod = node.module[len("autopainter"):].lstrip(".")
            else:
                continue
            # "from . import compose" names a module: count the submodule when it is one
            for alias in node.names:
                sub = f"{mod}.{alias.name}" if mod else alias.name
                names.append(sub if (SRC / Path(*sub.split("."))).with_suffix(".py").exists()
                             or (SRC / Path(*sub.split(".")) / "__init__.py").exists() else mod)
        elif isinstance(node, ast.Import):
            names = [a.name[len("autopainter"):].lstrip(".") for a in node.names if a.name.startswith("autopainter")]
        for n in names:
            if n:
                found.append((n, node.lineno, id(node) in top_level))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "static" not in p.parts)


def test_imports_point_one_way():
    bad = []
    for path in _sources():
        me = _module_name(path)
        if me in ROOT_MODULES or not me:
            continue
        part = me.split(".")[0]
        assert part in ALLOWED, f"{path}: new top-level module {part!r}: add it to ALLOWED with its layer"
        for target, line, _ in _imports(path):
            tpart = target.split(".")[0]
            if tpart == part:
                continue
            if not any(target == a or target.startswith(a + ".") or tpart == a for a in ALLOWED[part]):
                bad.append(f"{path.relative_to(SRC)}:{line} ({part}) imports {target}")
    assert not bad, "imports against the direction config <- models/losses/data <- training/inference <- server/cli:\n" + "\n".join(bad)


def test_no_import_cycles_at_module_level():
    graph: dict[str, set[str]] = {}
    for path in _sources():
        me = _module_name(path)
        graph[me] = {t for t, _, top in _imports(path) if top and t != me}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t not in graph:
                t = t.rsplit(".", 1)[0] if t.rsplit(".", 1)[0] in graph else t
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t in graph and t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_checker_catches_a_bad_import(tmp_path, monkeypatch):
    """The test above can fail: a models module that imports training is reported."""
    fake = tmp_path / "autopainter"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "bad.py").write_text("from ..training.loop import train\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    with pytest.raises(AssertionError, match=r"models/bad.py:1 \(models\) imports training.loop"):
        test_imports_point_one_way()
