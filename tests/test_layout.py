"""The package's dependency rule, read from the source (ast), so a wrong import fails here and not in review:

- the pure core (``refedit.core``) imports nothing of refedit but itself and ``refedit.errors``;
- a stage package (``refedit.pipeline.parse``, ``.segment``, ``.edit``) never imports another stage package
  (a stage that needs another stage gets it through the registry or the Pipeline);
- the shared model wrappers and pipeline modules (``refedit.pipeline.sd``, ``.models``, ``.artifacts``...) import
  no stage package either; only the two modules above the stages may: the registry's built-ins
  (``refedit.pipeline.builtins``) and the chain that composes them (``refedit.pipeline.chain``);
- ``refedit --help`` and ``refedit stages`` import no heavy library: nothing the command line imports at
  module level reaches torch, diffusers, transformers or spaCy.

Imports inside functions count too (they run as soon as the function does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "refedit"
STAGES = ("refedit.pipeline.parse", "refedit.pipeline.segment", "refedit.pipeline.edit")
HEAVY = ("torch", "diffusers", "transformers", "spacy", "accelerate", "scipy")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute module names ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level, in if/try blocks too, but not in functions, classes or `if TYPE_CHECKING:`
        body = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef)) and not _type_checking(s)]
        nodes = [n for stmt in body for n in ast.walk(stmt)]
    out: set[str] = set()
    here = module_name(path).split(".")
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + (1 if path.name == "__init__.py" else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def _type_checking(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def stage_of(name: str) -> str | None:
    return next((s for s in STAGES if name == s or name.startswith(s + ".")), None)


def test_the_walker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    assert "refedit.core.masks" in imports(MODULES["refedit.pipeline.segment.grounded_sam"])
    assert "torch" in imports(MODULES["refedit.pipeline.segment.grounding"])
    assert "torch" not in imports(MODULES["refedit.pipeline.segment.grounded_sam"], top_level_only=True)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("refedit.core")))
def test_core_imports_no_stage_no_wrapper_no_cli(name):
    bad = {m for m in imports(MODULES[name]) if m.startswith("refedit.") and not m.startswith(("refedit.core", "refedit.errors"))}
    assert not bad, f"{name} imports {sorted(bad)}: the core must stay under every stage"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if stage_of(n)))
def test_a_stage_package_imports_no_other_stage_package(name):
    mine = stage_of(name)
    bad = {m for m in imports(MODULES[name]) if stage_of(m) not in (None, mine)}
    assert not bad, f"{name} ({mine}) imports {sorted(bad)}: use refedit.core, a model wrapper, or the registry"


ABOVE_THE_STAGES = ("refedit.pipeline.builtins", "refedit.pipeline.chain")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("refedit.pipeline.") and not stage_of(n)
                                        and n not in ABOVE_THE_STAGES))  # fmt: skip
def test_shared_pipeline_modules_import_no_stage_package(name):
    bad = {m for m in imports(MODULES[name]) if stage_of(m)}
    assert not bad, f"{name} imports {sorted(bad)}: shared modules sit under the stages"


def reachable_at_import(start: str) -> set[str]:
    """Every module importing ``start`` loads, following module-level imports only."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        parents = [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b first
        for mod in [name, *parents]:
            if mod in MODULES and mod not in seen | {name}:
                todo.append(mod)
        if name in MODULES:
            todo += [m for m in imports(MODULES[name], top_level_only=True) if m not in seen]
    return seen


def test_help_and_stages_reach_no_heavy_library():
    """``refedit --help`` imports the command line; ``refedit stages`` also the registry and the built-ins'
    declarations (their option classes): none of it may reach a heavy library at import time."""
    for start in ("refedit.cli", "refedit.pipeline.stages", "refedit.pipeline.builtins"):
        reached = reachable_at_import(start)
        heavy = sorted(m for m in reached if m.split(".")[0] in HEAVY)
        assert not heavy, f"importing {start} loads {heavy}"
    assert "refedit.cli.stages" in reachable_at_import("refedit.cli")  # the walk does follow imports
    assert "refedit.pipeline.edit.options" in reachable_at_import("refedit.pipeline.builtins")
