"""The configuration block of the report's front page: YAML in the schema's order, wrapped."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from rassflow.config import load_schema, validate
from rassflow.report.configuration import PAGE_WIDTH, config_yaml, schema_ordered

ROOT = Path(__file__).resolve().parents[2]


def demo_config() -> dict:
    return validate(yaml.safe_load((ROOT / "config" / "demo.yaml").read_text()))


def key_paths(value, prefix=""):
    """Every dotted key of nested mappings, in their order."""
    for key, sub in value.items():
        yield prefix + key
        if isinstance(sub, dict):
            yield from key_paths(sub, f"{prefix}{key}.")


def schema_paths(schema, prefix=""):
    for key, sub in schema.get("properties", {}).items():
        yield prefix + key
        if sub.get("type") == "object":
            yield from schema_paths(sub, f"{prefix}{key}.")


def test_demo_configuration_reads_as_the_validated_config_in_schema_order():
    config = demo_config()
    # a user's file in another order: the page still follows the schema
    shuffled = dict(reversed(list(config.items())))
    text = config_yaml(shuffled)
    loaded = yaml.safe_load(text)
    assert loaded == config
    assert list(key_paths(loaded)) == list(schema_paths(load_schema()))
    lines = text.splitlines()
    assert max(map(len, lines)) <= PAGE_WIDTH
    # YAML words, not Python's: what a user writes in a config file
    assert "  file: null" in lines and "  compress: true" in lines
    assert "  bands_keV: [[0.5, 2.0], [1.0, 2.0]]" in lines
    assert not any(word in text for word in ("None", "True", "False", "{'"))


def test_keys_the_schema_does_not_name_follow_in_their_own_order():
    schema = {"properties": {"b": {"type": "object", "properties": {"y": {}, "x": {}}}, "a": {}}}
    ordered = schema_ordered({"z": 1, "a": 2, "b": {"x": 1, "q": 2, "y": 3}}, schema)
    assert list(ordered) == ["b", "a", "z"]
    assert list(ordered["b"]) == ["y", "x", "q"]


@pytest.mark.parametrize("width", [40, 60, PAGE_WIDTH])
def test_long_values_wrap_to_the_width_and_load_back_unchanged(width):
    config = demo_config()
    config["sample"]["file"] = (
        "/data/" + "a_very_long_directory_name/" * 6 + 'sample "x" \\ é\ttab\u2028 end.fits'
    )
    config["crossmatch"]["tap_url"] = "https://heasarc.gsfc.nasa.gov/xamin/vo/tap?" + "q=1&" * 30
    config["images"]["bands_keV"] = [
        [round(0.1 * i, 2), round(0.1 * i + 0.5, 2)] for i in range(14)
    ]
    config["archive"]["extra_files"] = ["anc", "bk1", "bk2", "im2", "ime"] * 6 + ["x" * (width - 5)]
    text = config_yaml(config, width=width)
    assert yaml.safe_load(text) == config
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, too_long
    # the path really was continued over several lines, not left long
    assert sum(line.endswith("\\") for line in text.splitlines()) >= 3


def test_random_strings_and_lists_round_trip_within_the_width():
    """Strings with spaces at line ends, quotes, backslashes, control and non-ASCII
    characters, at every position relative to the line end."""
    rng = random.Random(20260324)
    alphabet = "abc xyz/:._-\"'\\#&*!|>%@`{}[],?\t\né\u00a0\u2028\ufeff0123"
    config, schema = demo_config(), load_schema()
    for trial in range(150):
        width = rng.randint(45, 100)  # the longest key and number: 40
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3 * width)))
        items = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(9)]
        config["sample"]["file"] = value
        config["archive"]["extra_files"] = items
        config["sample"]["vizier"]["catalog"] = value[: width // 2]
        text = config_yaml(config, schema, width=width)
        assert yaml.safe_load(text) == config, (trial, width, text)
        too_long = [line for line in text.splitlines() if len(line) > width]
        assert not too_long, (trial, width, too_long)
