"""The package layers, drawn from the source's own import statements (docs/architecture.md).

`ceremony` -> {`signatures`, `signaling`} -> `web` -> `bench`: a package imports only
packages below it, the two middle ones not each other, and no two files import
each other even through a chain, `TYPE_CHECKING` imports included. The pure core
(`ceremony/` outside `runtime/`) imports no I/O at all. Tests import no other test module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ceremony", "signatures", "signaling", "web", "bench")
# What each package may import from this project; anything else is an upward or sideways import.
ALLOWED: dict[str, frozenset[str]] = {
    "ceremony": frozenset(),
    "signatures": frozenset({"ceremony"}),
    "signaling": frozenset({"ceremony"}),
    "web": frozenset({"ceremony", "signatures", "signaling"}),
    "bench": frozenset({"ceremony", "signatures", "signaling", "web"}),
}
# The sans-IO core waits on nothing: these belong in ceremony/runtime/ or above.
IO_MODULES = frozenset({"asyncio", "sqlite3", "threading", "concurrent", "socket", "aiohttp", "subprocess"})


def module_files(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name `module` imports (absolute, relative resolved), wherever the statement sits."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (a name resolves to the longest module it names)."""
    edges: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        for name in imported_names(module, path):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in edges.items():
        package = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{module} imports {target}")
    return wrong


def test_no_package_imports_one_above_it_or_beside_it() -> None:
    assert upward(graph(module_files())) == []


def test_no_file_import_cycle() -> None:
    assert cycles(graph(module_files())) == []


def test_the_core_does_no_io() -> None:
    files = {m: p for m, p in module_files(("ceremony",)).items() if not m.startswith("ceremony.runtime")}
    wrong = [
        f"{module} imports {name}"
        for module, path in files.items()
        for name in imported_names(module, path)
        if name.split(".")[0] in IO_MODULES or name.startswith("ceremony.runtime")
    ]
    assert wrong == []


def test_no_test_module_imports_another() -> None:
    tests = {f"tests.{p.stem}": p for p in sorted((ROOT / "tests").glob("test_*.py"))}
    wrong = [
        f"{module} imports {name}"
        for module, path in tests.items()
        for name in imported_names(module, path)
        if name.startswith("tests.test_")
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_a_cycle(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    # The graph checks above pass on a clean tree; this shows they would not pass on a broken one.
    assert cycles(edges) == expected


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    edges = {"signaling.server": {"web.auth", "ceremony.state"}, "web.app": {"signaling.server"}}
    assert upward(edges) == ["signaling.server imports web.auth"]


def test_relative_and_type_checking_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .other import Thing\nfrom ..up import x\n"
    )
    names = set(imported_names("pkg.mod", source))
    assert {"pkg.other", "pkg.other.Thing", "up", "up.x"} <= names
