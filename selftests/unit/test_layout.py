"""The architecture holds: imports only point down (tests/ and fixtures/ above the library), the library never
imports pytest, the simulator or the self-tests, and the simulator imitates vLLM without the suite's code."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from phi4mm_acceptance import PROJECT_ROOT


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Each module of `folder` (relative path) and the modules it imports by name, at any depth in the file."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PROJECT_ROOT))] = names
    return found


def imported_roots(folder: Path) -> dict[str, set[str]]:
    """Each module of `folder` and the top-level packages it imports."""
    return {module: {name.split(".")[0] for name in names} for module, names in imported_modules(folder).items()}


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


def hook_implementations(path: Path) -> list[str]:
    """The pytest hooks a module implements: functions and methods named pytest_*, at any depth."""
    return [node.name for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("pytest_")]


def test_only_the_run_module_implements_pytest_hooks() -> None:
    """One place says in which order a run's verdict is made (fixtures/run.py); fixture modules, conftest.py and
    the tests hold none."""
    wiring = [PROJECT_ROOT / "conftest.py", *sorted((PROJECT_ROOT / "fixtures").glob("*.py")),
              *sorted((PROJECT_ROOT / "tests").rglob("*.py"))]
    elsewhere = {str(path.relative_to(PROJECT_ROOT)): hooks for path in wiring
                 if path.name != "run.py" or path.parent.name != "fixtures"
                 if (hooks := hook_implementations(path))}
    assert not elsewhere, f"pytest hooks outside fixtures/run.py: {elsewhere}"
    assert "pytest_configure" in hook_implementations(PROJECT_ROOT / "fixtures" / "run.py")


def test_tests_import_of_the_wiring_only_its_outcomes() -> None:
    """A test says 'not applicable' through fixtures/outcomes.py; everything else it uses is a fixture or the
    library's."""
    wiring = {module: sorted(root for root in roots if root.startswith("fixtures"))
              for module, roots in imported_modules(PROJECT_ROOT / "tests").items()}
    wrong = {module: found for module, found in wiring.items() if set(found) - {"fixtures.outcomes"}}
    assert not wrong, f"tests import fixture modules: {wrong}"


TEST_NAME = re.compile(r"\btest_[a-z0-9_]+")


def defined_tests(folder: Path) -> set[str]:
    """The test functions of `folder` and its test modules' names."""
    names: set[str] = set()
    for path in folder.rglob("test_*.py"):
        names.add(path.stem)
        names |= {node.name for node in ast.walk(ast.parse(path.read_text(), str(path)))
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


def named_tests(path: Path) -> list[tuple[int, str]]:
    """Each test name written in a string of `path` (a row's catching test, a -k expression, an expected
    outcome), with its line."""
    return [(node.lineno, name) for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            for name in TEST_NAME.findall(node.value)]


def test_every_test_the_self_tests_name_exists() -> None:
    """The self-tests name the acceptance tests they expect to catch a fault, pass or fail, and select by; a
    renamed test must make them fail here at once, listing every line to change, never quietly select nothing
    (so they name tests whole, never by the start of a name)."""
    known = defined_tests(PROJECT_ROOT / "tests") | defined_tests(PROJECT_ROOT / "selftests")
    unknown = [f"{path.relative_to(PROJECT_ROOT)}:{line}: {name}"
               for path in sorted((PROJECT_ROOT / "selftests").rglob("*.py"))
               for line, name in named_tests(path) if name not in known]
    assert not unknown, "names of tests that do not exist:\n" + "\n".join(unknown)
