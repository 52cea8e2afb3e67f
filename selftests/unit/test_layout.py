"""The architecture holds: imports only point down (tests/ and fixtures/ above the library), the library never
imports pytest, the simulator or the self-tests, and the simulator imitates vLLM without the suite's code."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from phi4mm_acceptance import PROJECT_ROOT


def imported_roots(folder: Path) -> dict[str, set[str]]:
    """Each module of `folder` (relative path) and the top-level packages it imports, at any depth in the file."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        roots: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT_ROOT))] = roots
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("phi4mm_acceptance", {"pytest", "_pytest", "fixtures", "tests", "selftests", "simulator", "conftest"}),
    ("fixtures", {"tests", "selftests", "simulator"}),
    ("tests", {"selftests", "simulator"}),
    ("simulator", {"phi4mm_acceptance", "fixtures", "tests", "selftests", "pytest"}),
], ids=["library", "fixtures", "tests", "simulator"])
def test_imports_only_point_down(folder: str, forbidden: set[str]) -> None:
    wrong = {module: sorted(roots & forbidden) for module, roots in imported_roots(PROJECT_ROOT / folder).items()
             if roots & forbidden}
    assert not wrong, f"{folder}/ imports what lies above it or beside it: {wrong}"


def test_every_library_module_lives_in_the_folder_of_its_concern() -> None:
    """Only the vocabulary every concern shares sits at the top: the kinds of failure and guarded tool runs."""
    top = sorted(path.name for path in (PROJECT_ROOT / "phi4mm_acceptance").glob("*.py"))
    assert top == ["__init__.py", "toolrun.py", "verdicts.py"]
