"""Configuration: defaults and validation against the schema, before any job runs.

The schema (``rassflow/schema.yaml``) ships inside the package, so an installed rassflow
validates without a checkout; config/README.md is rendered from it.

Errors name the offending key by its path (e.g. ``images.bands_keV[1]``) so that a user
can find it in their YAML file.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path

import yaml

SCHEMA_RESOURCE = "schema.yaml"  # package data of rassflow


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


# PyYAML's libyaml parser when it was built with it: the same safe constructor, a fifth of
# the time (the schema is read at the start of every fit job, for the fit defaults)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | Path | None = None) -> dict:
    """The configuration schema: the package's own, or the YAML file at ``path``."""
    if path is None:
        text = resources.files("rassflow").joinpath(SCHEMA_RESOURCE).read_text()
        return yaml.load(text, Loader=_SAFE_LOADER)
    with open(path) as handle:
        return yaml.load(handle, Loader=_SAFE_LOADER)


def section_defaults(section: str) -> dict:
    """The schema's default of every key of one config section: the one place defaults live."""
    properties = load_schema()["properties"][section]["properties"]
    return {
        key: copy.deepcopy(sub["default"]) for key, sub in properties.items() if "default" in sub
    }


def _key_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _fill_defaults(schema: dict, data):
    """Insert schema defaults for missing keys, recursively through objects."""
    if schema.get("type") != "object" or not isinstance(data, dict):
        return data
    for key, sub in schema.get("properties", {}).items():
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if key in data:
            data[key] = _fill_defaults(sub, data[key])
    return data


def validate(config: dict, schema: dict | None = None) -> dict:
    """Return a validated copy of ``config`` with every default filled in.

    Raises ConfigError naming the key path of the first problem found.
    """
    import jsonschema

    schema = schema or load_schema()
    config = _fill_defaults(schema, copy.deepcopy(dict(config or {})))
    _check_yaml_booleans(config)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        error = errors[0]
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            raise ConfigError(
                f"config key {_key_path(list(error.absolute_path) + unknown[:1])!r} is unknown; "
                f"allowed keys here: {', '.join(allowed)}"
            )
        raise ConfigError(f"config key {_key_path(error.absolute_path)!r}: {error.message}")
    _check_semantics(config)
    return config


YAML_BOOLEAN_WORDS = {True: "Yes, On or True", False: "No, Off or False"}


def _check_yaml_booleans(config: dict) -> None:
    """A column name that YAML read as a boolean (an unquoted No, Yes, On, Off) gets an error
    that says how to quote it: the CARMENES id column really is called 'No'."""
    for section in ("sample", "crossmatch"):
        settings = config.get(section)
        if not isinstance(settings, dict):
            continue
        items = list(settings.items())
        if isinstance(settings.get("columns"), dict):
            items += [(f"columns.{k}", v) for k, v in settings["columns"].items()]
        for key, value in items:
            if (key.endswith("_column") or key.startswith("columns.")) and isinstance(value, bool):
                raise ConfigError(
                    f"config key '{section}.{key}' is the YAML boolean {value}: YAML reads an "
                    f"unquoted {YAML_BOOLEAN_WORDS[value]} as a boolean. Quote the column "
                    f"name as it is spelled in the catalog, e.g. {key.split('.')[-1]}: "
                    f'"{"Yes" if value else "No"}"'
                )


def _check_absorbed_models(config: dict) -> None:
    """Absorbed models need XSPEC's model library (xspectrampoline): refused here, before
    any job runs, when it is not installed; a free nH's bounds need lo < hi."""
    from rassflow.fitting.absorption import INSTALL_HINT, installed

    used = [(f"fit.models[{index}]", name) for index, name in enumerate(config["fit"]["models"])]
    ecf_model = config.get("photometry", {}).get("ecf_model", {}).get("model", "")
    used.append(("photometry.ecf_model.model", ecf_model))
    for key, name in used:
        if "*" in str(name) and not installed():
            raise ConfigError(f"config key '{key}': {name!r} cannot be used here: {INSTALL_HINT}")
    lo, hi = config["fit"]["nh_bounds"]
    if not lo < hi:
        raise ConfigError(f"config key 'fit.nh_bounds': [{lo}, {hi}] needs lo < hi")


def _check_semantics(config: dict) -> None:
    """Checks that a JSON schema cannot express."""

    def check_bands(key, bands):
        for i, (lo, hi) in enumerate(bands):
            if not lo < hi:
                raise ConfigError(f"config key '{key}[{i}]': band [{lo}, {hi}] keV needs lo < hi")

    check_bands("images.bands_keV", config["images"]["bands_keV"])
    check_bands("fit.flux_bands_keV", config["fit"]["flux_bands_keV"])
    lo, hi = config["fit"]["energy_range_keV"]
    if not lo < hi:
        raise ConfigError(f"config key 'fit.energy_range_keV': [{lo}, {hi}] keV needs lo < hi")
    _check_absorbed_models(config)
    # A binning need not divide the 46080-pixel axis: extractor drops the remainder (the
    # notebook's 270 gives 170 pixels); the schema caps it at one pixel per field.
    regions = config["regions"]
    if not regions["background_inner_factor"] < regions["background_outer_factor"]:
        raise ConfigError(
            "config keys 'regions.background_inner_factor' < 'regions.background_outer_factor' required"
        )
    for section in ("simulation",):
        for key in ("exposure_range_s", "flux_range", "kT_range", "gamma_range"):
            lo, hi = config[section][key]
            if lo > hi:
                raise ConfigError(f"config key '{section}.{key}': [{lo}, {hi}] needs lo <= hi")
    if config["sample"]["source"] == "file" and not config["sample"]["file"]:
        raise ConfigError("config key 'sample.file' must be set when sample.source is file")
    if config["crossmatch"]["source"] == "file" and not config["crossmatch"]["file"]:
        raise ConfigError("config key 'crossmatch.file' must be set when crossmatch.source is file")
    if config["archive"]["source"] == "local" and not config["archive"]["root"]:
        raise ConfigError("config key 'archive.root' must be set when archive.source is local")


def section_hash(config: dict, *sections: str) -> str:
    """A short, stable hash of some config sections (or dotted keys, ``fit.flux_bands_keV``),
    stamped into products."""

    def value(key):
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    payload = json.dumps({s: value(s) for s in sections}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def provenance(config: dict, tool: str, *sections: str) -> dict:
    """Provenance stamped into products: backend, tool, and a hash of the config they use."""
    return {
        "backend": config["tools"]["products"],
        "tool": tool,
        "config_hash": section_hash(config, *sections),
    }


def export_library_path(basedir) -> None:
    """Put the workflow's checkout first on PYTHONPATH for every job it starts."""
    import os

    parts = [str(basedir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


RUNTIME_ENV = "RASSFLOW_RUNTIME"
RUNTIME_KEYS = {
    "sample": ("vizier.server",),
    "crossmatch": ("tap_url", "chunk_size"),
    "archive": ("host", "base_url", "attempts", "timeout_s"),
    "caldb": ("url",),
    "tools": ("chatter",),
}
"""Settings that change how a job runs but not what it makes: where the network services
are, how hard to try, how verbose HEASoft is. They are not inputs of any product (switching
a mirror re-runs nothing) and reach the jobs through the environment, set once when the
workflow starts."""


def export_runtime(config: dict) -> None:
    import os

    settings = {}
    for section, keys in RUNTIME_KEYS.items():
        for key in keys:
            value = config[section]
            for part in key.split("."):
                value = value[part]
            settings[f"{section}.{key}"] = value
    os.environ[RUNTIME_ENV] = json.dumps(settings, sort_keys=True)


def runtime(key: str, default=None):
    """A setting exported by :func:`export_runtime` (e.g. 'archive.attempts'), else ``default``."""
    import os

    return json.loads(os.environ.get(RUNTIME_ENV, "{}")).get(key, default)
