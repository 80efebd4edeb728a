"""Every example configuration in README.md is a valid configuration of the workflow.

Each ```yaml block is read as Snakemake reads a --configfile, merged over config/config.yaml
(the Snakefile's `configfile:`) as Snakemake merges them, and validated with
rassflow.config.validate. Blocks that keep the offline demo runnable (merged over
config/demo.yaml, every source is still the simulated survey) are also planned with a real
`snakemake -n`, which parses the Snakefile, validates and resolves the tools.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from rassflow.config import ConfigError, validate

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def readme_yaml_blocks() -> list[tuple[int, str]]:
    """(line number, text) of every ```yaml block of README.md."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def commented_alternatives(text: str) -> list[str]:
    """Configurations written as comments inside a block ('# sample: {...}' and its
    continuation lines), offered in place of what the block sets."""
    sections = set(yaml.safe_load((ROOT / "rassflow" / "schema.yaml").read_text())["properties"])
    found, current = [], None
    for line in text.splitlines():
        match = re.match(r"^# ?(.*)$", line)
        body = match.group(1) if match else None
        if body is not None and re.match(rf"^({'|'.join(sections)}):", body):
            current = [body]
            found.append(current)
        elif body is not None and current is not None and body.startswith(" "):
            current.append(body)
        else:
            current = None
    return ["\n".join(lines) + "\n" for lines in found]


BLOCKS = [(f"README.md:{line}", text) for line, text in readme_yaml_blocks()]
BLOCKS += [
    (f"{name}-alternative{i}", alternative)
    for name, text in list(BLOCKS)
    for i, alternative in enumerate(commented_alternatives(text), 1)
]
IDS = [name for name, _ in BLOCKS]


class UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one
    silently, so half of such an example would be ignored)."""


def _construct_unique_mapping(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found the key {key!r} twice",
                key_node.start_mark,
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_as_snakemake(text: str, tmp_path: Path) -> dict:
    """The block as Snakemake's --configfile reads it."""
    from snakemake.common.configfile import load_configfile

    path = tmp_path / "example.yaml"
    path.write_text(text)
    return load_configfile(path)


def merged(base: Path, overrides: dict) -> dict:
    """``overrides`` merged over the config file ``base``, key by key, as Snakemake does."""
    from snakemake.utils import update_config

    config = yaml.safe_load(base.read_text())
    update_config(config, copy.deepcopy(overrides))
    return config


def is_offline_demo(config: dict) -> bool:
    return all(config[section]["source"] == "simulated" for section in ("sample", "crossmatch"))


def test_the_readme_has_yaml_examples():
    assert len(BLOCKS) >= 3, "README.md lost its configuration examples?"


@pytest.mark.parametrize("block", [text for _, text in BLOCKS], ids=IDS)
def test_readme_example_is_valid_yaml_without_repeated_keys(block):
    yaml.load(block, Loader=UniqueKeyLoader)


@pytest.mark.parametrize("block", [text for _, text in BLOCKS], ids=IDS)
def test_readme_example_validates(block, tmp_path):
    example = load_as_snakemake(block, tmp_path)
    assert isinstance(example, dict) and example
    config = validate(merged(ROOT / "config" / "config.yaml", example))
    # what the example sets survives the merge and the defaults
    for section, value in example.items():
        if isinstance(value, dict):
            for key, setting in value.items():
                if not isinstance(setting, dict):
                    assert config[section][key] == setting, f"{section}.{key}"


def keeps_the_demo_offline(text: str) -> bool:
    try:
        return is_offline_demo(
            validate(merged(ROOT / "config" / "demo.yaml", yaml.safe_load(text)))
        )
    except (ConfigError, yaml.YAMLError, TypeError, AttributeError):
        return False  # test_readme_example_validates reports it


OFFLINE = [(name, text) for name, text in BLOCKS if keeps_the_demo_offline(text)]


def test_some_readme_example_runs_in_the_offline_demo():
    assert OFFLINE, "no README example keeps the offline demo runnable"


@pytest.mark.parametrize("block", [text for _, text in OFFLINE], ids=[name for name, _ in OFFLINE])
def test_offline_readme_example_plans_with_snakemake(block, tmp_path):
    """The demo config plus the example (a second --configfile, as a user adds one) plans."""
    from rassflow.runner import run_command, snakemake_command

    example = tmp_path / "example.yaml"
    example.write_text(block)
    command = snakemake_command(tmp_path, [ROOT / "config" / "demo.yaml", example], "-n", cores=1)
    proc = run_command(command, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "simulate_survey" in proc.stdout, proc.stdout[-4000:]


def test_readme_demo_command_plans(tmp_path):
    """The README's demo command, `snakemake --cores 2 --configfile config/demo.yaml`."""
    from rassflow.runner import run_command, snakemake_command

    assert "--configfile config/demo.yaml" in README.read_text()
    command = snakemake_command(tmp_path, [ROOT / "config" / "demo.yaml"], "-n", cores=2)
    proc = run_command(command, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "simulate_survey" in proc.stdout and "match_sample" in proc.stdout


def test_unquoted_no_in_the_readme_example_names_the_fix(tmp_path):
    """The README's own-data example with its "No" unquoted: the check says how to quote it."""
    block = next(text for _, text in BLOCKS if 'id_column: "No"' in text)
    unquoted = block.replace('id_column: "No"', "id_column: No")
    example = load_as_snakemake(unquoted, tmp_path)
    assert example["sample"]["id_column"] is False  # what YAML makes of it
    with pytest.raises(ConfigError) as error:
        validate(merged(ROOT / "config" / "config.yaml", example))
    message = str(error.value)
    assert "sample.id_column" in message
    assert "YAML boolean False" in message
    assert 'id_column: "No"' in message


def test_unquoted_yes_in_a_2rxs_column_names_the_fix():
    example = yaml.safe_load("crossmatch: {source: file, file: x.fits, columns: {name: Yes}}")
    with pytest.raises(
        ConfigError, match=r"crossmatch\.columns\.name.*YAML boolean True.*name: \"Yes\""
    ):
        validate(merged(ROOT / "config" / "config.yaml", example))
