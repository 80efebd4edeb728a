"""The map of the project: no import cycle in the library, and a rule file, its library
module and its test module that share a name for every stage."""

from __future__ import annotations

import shutil

import pytest

from tests.support import REPO
from tests.support.imports import cycles, import_graph

RULES = REPO / "workflow" / "rules"
# common.smk holds the paths and input functions over the run's plan
MODULE_OF_RULES = {"common": "plan"}


def test_the_library_has_no_import_cycle():
    graph = import_graph(REPO / "rassflow")
    assert "rassflow.backends.registry" in graph["rassflow.chain"]  # function-level imports count
    assert cycles(graph) == []


def test_a_planted_cycle_is_found(tmp_path):
    """A function-level import from a product module back to the registry that dispatches
    to it closes a cycle, and the graph finds it."""
    copy = tmp_path / "rassflow"
    shutil.copytree(REPO / "rassflow", copy, ignore=shutil.ignore_patterns("__pycache__"))
    grouping = copy / "products" / "grouping.py"
    grouping.write_text(
        grouping.read_text() + "\n\ndef _dispatch():\n    from rassflow.backends import registry\n"
    )
    found = cycles(import_graph(copy))
    assert found and {"rassflow.backends.registry", "rassflow.products.grouping"} <= set(found[0])


def test_a_relative_import_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("def f():\n    from ..b import g\n")
    (package / "b.py").write_text("from pkg.sub import a\n")
    assert cycles(import_graph(package)) == [["pkg.b", "pkg.sub.a"]]


@pytest.mark.parametrize("rules", sorted(p.stem for p in RULES.glob("*.smk")))
def test_every_rule_file_has_a_library_module_and_a_test_module_of_its_name(rules):
    module = MODULE_OF_RULES.get(rules, rules)
    found = list((REPO / "rassflow").rglob(f"{module}.py"))
    assert found, f"rules/{rules}.smk: no rassflow/.../{module}.py"
    tests = list((REPO / "tests").rglob(f"test_{module}.py"))
    assert tests, f"rules/{rules}.smk: no tests/.../test_{module}.py"


def test_every_script_is_named_for_its_rule():
    """workflow/scripts/X.py is the script of rule X (or of the rules that share it)."""
    text = "\n".join(p.read_text() for p in RULES.glob("*.smk"))
    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        assert f'"../scripts/{script.name}"' in text, script.name


def layout_entries(text: str) -> list[str]:
    """The paths that README's Layout block lists: an entry line starts (indented two
    spaces per directory level) with a name followed by its description from column 26;
    a line that starts at column 26 continues the description above."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths, parents = [], []
    for line in block.splitlines()[1:]:
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent >= 26:
            continue
        level = indent // 2
        name = line.split()[0]
        parents = parents[:level] + [name.rstrip("/")]
        paths.append("/".join(parents) + ("/" if name.endswith("/") else ""))
    return paths


def test_the_readme_layout_lists_what_the_tree_holds():
    """Every path README's Layout names exists, and it names every rule file, every script
    directory and every library module, so that a newcomer's map is the tree."""
    listed = layout_entries((REPO / "README.md").read_text())
    missing = [p for p in listed if not (REPO / p).exists()]
    assert not missing, f"README Layout names what the tree does not hold: {missing}"
    wanted = [f"workflow/rules/{p.name}" for p in RULES.glob("*.smk")]
    wanted += [
        str(p.relative_to(REPO))
        for p in (REPO / "rassflow").rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    ]
    unlisted = sorted(set(wanted) - set(listed))
    assert not unlisted, f"README Layout does not name: {unlisted}"
