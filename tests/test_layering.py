"""Dependencies run one way: every import of every module (top level and inside functions)
against the layer order of docs/ARCHITECTURE.md.

- ``brian_models`` imports nothing else of the project; its description layer (the modules
  in :data:`DESCRIPTION_LAYER`) imports neither brian2 nor torch;
- ``transfer`` and ``hardware`` may import ``brian_models`` and not each other;
- ``experiments`` sits on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("brian_models", "transfer", "hardware", "experiments")
ALLOWED = {
    "brian_models": {"brian_models"},
    "transfer": {"transfer", "brian_models"},
    "hardware": {"hardware", "brian_models"},
    "experiments": set(PACKAGES),
}
#: The numpy-only network description: what every simulator and the mapper read.
DESCRIPTION_LAYER = ("checks", "synapse_types", "parameters", "description", "mismatch",
                     "initial_state", "lstm_description", "lsnn_description", "nir_io")


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``, also those inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: inside the module's own package
                out.append((node.lineno, path.parent.name))
            elif node.module:
                out.append((node.lineno, node.module))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    wrong = []
    for path in _modules(package):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in PACKAGES and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_description_layer_is_numpy_only():
    wrong = []
    for name in DESCRIPTION_LAYER:
        path = ROOT / "brian_models" / f"{name}.py"
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in ("brian2", "torch") or (top == "brian_models" and module.split(".")[-1] not in DESCRIPTION_LAYER):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "the description layer must import only numpy and itself:\n" + "\n".join(wrong)


def test_no_import_circle_between_modules():
    """No two project modules import each other, directly or through others."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in _modules(package):
            name = f"{package}.{path.stem}"
            deps = set()
            for _, module in _imports(path):
                if module.split(".")[0] in PACKAGES and module.count(".") >= 1:
                    deps.add(".".join(module.split(".")[:2]))
            graph[name] = deps - {name}
    assert "brian_models.description" in graph and "experiments.stages" in graph  # the modules were read
    state: dict[str, int] = {}
    circles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep in graph and dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert circles == [], f"import circles: {circles}"
