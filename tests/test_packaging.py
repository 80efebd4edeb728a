"""Packaging: the schema inside the built package, the workflow catalog file, config/README.md,
pinned environments."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "rassflow" / "schema.yaml"
CONFIG_README = ROOT / "config" / "README.md"
CATALOG = ROOT / ".snakemake-workflow-catalog.yml"
WORKFLOW = ROOT / "workflow"  # the catalog's standardized layout
ENVS = WORKFLOW / "envs"


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def schema_keys(schema: dict, prefix: str = ""):
    """(dotted key, its schema) of every configuration key, depth first."""
    for key, sub in schema.get("properties", {}).items():
        yield f"{prefix}{key}", sub
        if sub.get("type") == "object":
            yield from schema_keys(sub, f"{prefix}{key}.")


# --- the package outside the checkout -------------------------------------------------------


def test_built_package_carries_the_schema_and_validates_outside_the_checkout(tmp_path):
    """setuptools' build_py (the files a wheel and an install get) from a copy of the project,
    then rassflow imported from that build, in a directory outside any checkout, validates a
    configuration exactly as the checkout does."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "rassflow", source / "rassflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    build = tmp_path / "lib"
    command = [sys.executable, "-c", "from setuptools import setup; setup()", "build_py"]
    proc = subprocess.run(
        [*command, "--build-lib", str(build)], cwd=source, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (build / "rassflow" / "schema.yaml").read_bytes() == SCHEMA.read_bytes()
    shutil.rmtree(source)

    from rassflow.config import validate

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import json, rassflow, rassflow.config as c; "
        "print(json.dumps([rassflow.__file__, c.validate({})]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(build)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, defaults = json.loads(proc.stdout)
    assert Path(where).is_relative_to(build), where  # the built copy, not the checkout
    assert defaults == json.loads(json.dumps(validate({})))


# --- config/README.md -----------------------------------------------------------------------


def test_config_readme_is_up_to_date_with_the_schema():
    config_readme = load_tool("config_readme")
    expected = config_readme.render(yaml.safe_load(SCHEMA.read_text()))
    assert CONFIG_README.exists(), "config/README.md is missing: run python tools/config_readme.py"
    assert CONFIG_README.read_text() == expected, (
        "config/README.md is out of date with rassflow/schema.yaml: run python tools/config_readme.py"
    )


def test_config_readme_documents_every_key_with_its_default():
    text = CONFIG_README.read_text()
    for key, sub in schema_keys(yaml.safe_load(SCHEMA.read_text())):
        if "." not in key and sub.get("type") == "object":  # a section: a heading of its own
            assert f"\n## {key}\n" in text, f"section {key} is not in config/README.md"
            continue
        row = next((line for line in text.splitlines() if line.startswith(f"| `{key}` |")), None)
        assert row is not None, f"{key} is not in config/README.md"
        assert sub.get("description"), f"{key} has no description in rassflow/schema.yaml"
        assert "default" in sub, f"{key} has no default in rassflow/schema.yaml"


def test_the_readme_check_mode_notices_a_stale_file(tmp_path):
    config_readme = load_tool("config_readme")
    stale = tmp_path / "README.md"
    stale.write_text("# Configuration\n")
    assert config_readme.main(["--check", "--output", str(stale)]) == 1
    assert config_readme.main(["--output", str(stale)]) == 0
    assert config_readme.main(["--check", "--output", str(stale)]) == 0


# JSON-schema (draft 7) keywords the schema may use in a key's definition; anything else is
# a typo or a YAML accident (an unquoted ", " inside a flow mapping starts a new key).
SCHEMA_KEYWORDS = {
    "type",
    "default",
    "description",
    "enum",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "pattern",
}


def test_schema_uses_only_json_schema_keywords():
    problems = [
        f"{key}: {sorted(set(sub) - SCHEMA_KEYWORDS)}"
        for key, sub in schema_keys(yaml.safe_load(SCHEMA.read_text()))
        if set(sub) - SCHEMA_KEYWORDS
    ]
    assert not problems, problems


# --- .snakemake-workflow-catalog.yml --------------------------------------------------------


def rule_blocks() -> dict[str, str]:
    """rule/checkpoint name -> its text, from Snakefile and rules/*.smk."""
    blocks = {}
    for path in [WORKFLOW / "Snakefile", *sorted((WORKFLOW / "rules").glob("*.smk"))]:
        text = path.read_text()
        starts = list(re.finditer(r"^[ \t]*(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M))
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else None
            blocks[match.group(1)] = text[match.start() : end]
    return blocks


def test_layout_is_the_catalogs_standardized_one():
    """Standardized usage needs the workflow in workflow/Snakefile (with rules/, scripts/,
    envs/ and report/ beside it) and its configuration instructions in config/README.md."""
    assert (WORKFLOW / "Snakefile").is_file()
    for folder in ("rules", "scripts", "envs", "report"):
        assert any((WORKFLOW / folder).iterdir()), folder
    assert CONFIG_README.is_file() and CATALOG.is_file()
    assert not (ROOT / "Snakefile").exists(), "a second entry point would shadow workflow/Snakefile"


def test_catalog_file_has_the_documented_usage_section():
    """The catalog's documented format: usage: mandatory-flags {desc, flags},
    software-stack-deployment {conda, apptainer, apptainer+conda}, report (read by the
    catalog generator as usage.report)."""
    settings = yaml.safe_load(CATALOG.read_text())
    usage = settings["usage"]
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"}
    assert isinstance(flags["desc"], str) and flags["desc"].strip()
    assert isinstance(flags["flags"], str | list)
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda"}
    assert all(isinstance(value, bool) for value in deployment.values())
    assert any(deployment.values()), "at least one software deployment method"
    assert usage["report"] is True


def test_catalog_claims_hold_for_the_rules():
    """conda: every rule that runs code names an environment file that exists; apptainer: no
    rule has a container; report: some outputs are report() items."""
    usage = yaml.safe_load(CATALOG.read_text())["usage"]
    blocks = rule_blocks()
    assert len(blocks) > 10
    runs_code = {
        name: text for name, text in blocks.items() if re.search(r"^\s*(script|shell):", text, re.M)
    }
    if usage["software-stack-deployment"].get("conda"):
        for name, text in runs_code.items():
            match = re.search(r"^\s*conda:\s*\n\s*(\S.*)$", text, re.M)
            assert match, f"rule {name} runs code but has no conda: environment"
            env = match.group(1).strip()
            if env.startswith('"'):  # a literal path, relative to the rule file
                assert (WORKFLOW / "rules" / env.strip('"')).resolve().is_file(), f"{name}: {env}"
    for env in re.findall(
        r"\"\.\./(envs/[\w.-]+\.yaml)\"", (WORKFLOW / "rules" / "common.smk").read_text()
    ):
        assert (WORKFLOW / env).is_file(), env
    if not usage["software-stack-deployment"].get("apptainer"):
        assert not any(re.search(r"^\s*container:", t, re.M) for t in blocks.values())
    assert any("report(" in text for text in blocks.values())


def test_catalog_flags_are_real_snakemake_arguments():
    flags = yaml.safe_load(CATALOG.read_text())["usage"]["mandatory-flags"]["flags"]
    flags = flags.split() if isinstance(flags, str) else flags
    for flag in flags:
        if flag.startswith("-"):
            assert flag in {"--configfile", "--cores", "--sdm", "--workflow-profile"}, flag
        else:
            assert (ROOT / flag).is_file(), f"{flag} does not exist"


# --- pinned environments --------------------------------------------------------------------

# names in conda environments that are not Python distributions installed here
NOT_INSTALLED_HERE = {"heasoft", "xspec-data"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_dependencies(path: Path) -> list[tuple[str, str | None, str]]:
    """(name, exact version or None, spec) of every conda and pip dependency of an env file."""
    found = []
    for item in yaml.safe_load(path.read_text())["dependencies"]:
        specs = item["pip"] if isinstance(item, dict) else [item]
        for spec in specs:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:==\s*([\w.]+))?(.*)", spec.strip())
            assert match, f"{path.name}: cannot parse {spec!r}"
            name, version, rest = match.groups()
            found.append((name, None if rest.strip() else version, spec))
    return found


def constraints() -> dict[str, str]:
    """name -> version of tools/constraints.txt, the pins every install here uses."""
    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[\w.]+", version.strip()), (
                f"tools/constraints.txt: {line!r} is not an exact pin (name==version)"
            )
            pins[normalise(name)] = version.strip()
    return pins


def supported_pythons() -> SpecifierSet:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    return SpecifierSet(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    )


# The pins are a promise about the jobs' conda environments and about what `make setup`
# installs, not a requirement on the interpreter that runs the tests: a user's newer pip or
# another supported Python must not fail the suite.


def test_python_env_pins_are_exact_and_agree_with_the_constraints():
    """envs/python.yaml pins every dependency exactly, to the version tools/constraints.txt
    installs; python and pip (which the constraints do not hold) to a supported Python and a
    release."""
    pins = constraints()
    deps = env_dependencies(ENVS / "python.yaml")
    assert deps
    for name, version, spec in deps:
        assert version, f"envs/python.yaml: {spec!r} is not an exact pin (name==version)"
        if name == "python":
            assert version in supported_pythons(), (
                f"envs/python.yaml pins python {version}, pyproject.toml requires-python "
                f"{supported_pythons()}"
            )
        elif name != "pip":
            assert pins.get(normalise(name)) == version, (
                f"envs/python.yaml pins {name} {version}, tools/constraints.txt "
                f"{pins.get(normalise(name), 'nothing')}"
            )


def test_constraints_pin_every_dependency_the_install_needs():
    """Every dependency of pyproject.toml (with the test extra) has an exact pin in
    tools/constraints.txt, within the range pyproject.toml allows: the Makefile's set-up
    skips pip when every pin is installed, so an unpinned dependency would be missed."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = constraints()
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(text)
        name = normalise(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in tools/constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"tools/constraints.txt pins {name} {pins[name]}, pyproject asks {requirement}"
        )


def test_installs_use_the_constraints_and_ci_installs_through_make():
    """The pip install of `make setup` is constrained to tools/constraints.txt; test, lint
    and demo set themselves up with it, and CI installs nothing itself but runs the make
    targets a newcomer runs."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install -e \S+ -c tools/constraints\.txt", makefile)
    for target in ("test", "lint", "demo"):
        assert re.search(rf"^{target}:.*\bsetup\b", makefile, re.M), f"make {target}"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    ci = [line for line in ci if line and not line.startswith("#")]
    others = [line for line in ci if not line.startswith(("make ", "set ", "cd "))]
    assert not others, f".ci/run runs more than make: {others}"
    commands = [line for line in ci if line.startswith("make ")]
    assert commands == ["make lint", "make test"], commands


def test_heasoft_env_pins_match_the_python_env():
    """The Python libraries of envs/heasoft.yaml are pinned like those of envs/python.yaml
    (heasoft and xspec-data are not: no tested version exists)."""
    python_pins = {normalise(n): v for n, v, _ in env_dependencies(ENVS / "python.yaml")}
    for name, version, spec in env_dependencies(ENVS / "heasoft.yaml"):
        if name in NOT_INSTALLED_HERE or name == "python":
            continue
        assert version, f"envs/heasoft.yaml: {spec!r} is not an exact pin"
        assert version == python_pins.get(normalise(name)), f"{name}: the two envs differ"


def test_python_env_covers_pyproject_dependencies():
    """Every library dependency of the package is in the jobs' environment, at a version that
    satisfies pyproject.toml (snakemake itself runs outside the job environments)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    requirements = [
        Requirement(text)
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    pins = {normalise(n): v for n, v, _ in env_dependencies(ENVS / "python.yaml")}
    for requirement in requirements:
        name = normalise(requirement.name)
        if name == "snakemake":
            continue
        assert name in pins, f"pyproject dependency {requirement.name} is not in envs/python.yaml"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"envs/python.yaml pins {name} {pins[name]}, pyproject asks {requirement}"
        )
    extra = set(pins) - {normalise(r.name) for r in requirements} - {"python", "pip"}
    assert not extra, f"envs/python.yaml has dependencies pyproject.toml lacks: {sorted(extra)}"
