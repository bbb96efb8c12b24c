"""The packages of rlambda import one way only (README, "Layout"): each from those below it,
never back. Read from the sources' import statements, lazy and type-checking ones included."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rlambda"

# Lowest first. A module may import its own package and anything of a lower rank.
RANKS = [
    {"errors"},
    {"tomlcheck", "inputs", "aws"},
    {"function_env"},
    {"sources"},
    {"pins"},
    {"recipes"},
    {"target"},
    {"build"},
    {"local"},
    {"registry"},
    {"functions"},
    {"ci", "update", "job", "registry_cli"},
    {"cli"},  # build.py and the rlambda command: every command above
]
RANK = {name: i for i, names in enumerate(RANKS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The rlambda modules `path` imports (for `from X import Y`, X.Y where that is a module)."""
    me = module_name(path)
    here = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
    found = {m for m in found if m.split(".")[0] == "rlambda" and _is_module(m)}
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are imported too (but not
    # the importer's own packages, which are already running).
    parents = {".".join(m.split(".")[:n]) for m in found for n in range(2, m.count(".") + 1)}
    return found | {p for p in parents if p != me and not me.startswith(p + ".")}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_package_has_a_rank() -> None:
    assert {top(m) for m in GRAPH if top(m)} == set(RANK)


def test_no_package_imports_one_above_it() -> None:
    wrong = [
        f"{m} imports {i}"
        for m, found in GRAPH.items()
        for i in found
        if top(m) and top(i) and top(i) != top(m) and RANK[top(i)] >= RANK[top(m)]
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_itself_through_others() -> None:
    """No circle of modules, inside a package or across them (package __init__s excepted from
    being the way back: importing a submodule runs its package's __init__ first)."""
    state: dict[str, int] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(GRAPH.get(module, ())):
            if state.get(nxt) == 1 and not module.startswith(nxt + "."):
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)
