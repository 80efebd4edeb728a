"""Write config/README.md, the description of every configuration key, from rassflow/schema.yaml.

    python tools/config_readme.py           # (re)write config/README.md
    python tools/config_readme.py --check   # exit 1 if config/README.md is out of date

The schema is the one place of defaults, types and descriptions; this file only renders it
(tests/test_packaging.py fails when the two disagree). The Snakemake workflow catalog shows
config/README.md as the workflow's configuration instructions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "rassflow" / "schema.yaml"
README = ROOT / "config" / "README.md"

INTRO = """\
# Configuration

<!-- Generated from rassflow/schema.yaml by tools/config_readme.py: edit the schema, then run
     `python tools/config_readme.py`. tests/test_packaging.py fails when this file is stale. -->

`config/config.yaml` is the HEASARC notebook's analysis of the CARMENES sample on the real
services (VizieR, HEASARC's TAP service, archive and CALDB); `config/demo.yaml` is the offline
demo on a simulated survey. Give your own file with `--configfile my.yaml`: its keys are merged
over `config/config.yaml`, key by key, and every key not set anywhere takes the
default below. The configuration is validated against `rassflow/schema.yaml` before any job
runs: an unknown key, a wrong type or a value out of range stops the run with the key's path.

```bash
snakemake --cores 2 --configfile config/demo.yaml          # the offline demo
snakemake --cores 8 --configfile my_analysis.yaml          # your analysis
```

Quote column names that YAML reads as booleans: `id_column: "No"` (an unquoted `No`, `Yes`,
`On` or `Off` arrives as false/true, and the check says how to quote it).
"""


def _flow(value) -> str:
    """A default as it would be written in a YAML config file (flow style, one line)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    return text


def _text(value) -> str:
    return " ".join(str(value).split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _bounds(schema: dict) -> str:
    parts = []
    for keyword, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if keyword in schema:
            parts.append(f"{sign} {schema[keyword]}")
    if "minLength" in schema:
        parts.append(f"at least {schema['minLength']} character(s)")
    if "pattern" in schema:
        parts.append(f"matching `{schema['pattern']}`")
    return ", ".join(parts)


def describe_type(schema: dict) -> str:
    """A short human-readable type: 'string or null', 'one of a | b', 'array of 2 numbers'."""
    if "enum" in schema:
        return "one of " + " | ".join(f"`{_flow(v)}`" for v in schema["enum"])
    types = schema.get("type", "any")
    types = types if isinstance(types, list) else [types]
    names = []
    for name in types:
        if name == "array":
            names.append(_array(schema))
        else:
            names.append(name)
    text = " or ".join(names)
    bounds = _bounds(schema)
    return f"{text} ({bounds})" if bounds else text


def _array(schema: dict) -> str:
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    if lo is not None and lo == hi:
        size = f" ({lo} items)"
    elif lo and hi is None:
        size = f" (≥ {lo} items)"
    elif lo or hi:
        size = f" ({lo or 0}-{hi} items)"
    else:
        size = ""
    items = schema.get("items", {})
    item = f" of [{describe_type(items)}]" if items else ""
    unique = ", unique" if schema.get("uniqueItems") else ""
    return f"array{size}{item}{unique}"


def _rows(properties: dict, prefix: str):
    for key, sub in properties.items():
        path = f"{prefix}{key}"
        default = f"`{_cell(_flow(sub['default']))}`" if "default" in sub else "(required)"
        yield (
            f"| `{path}` | {_cell(describe_type(sub))} | {default} | "
            f"{_cell(_text(sub.get('description', '')))} |"
        )
        if sub.get("type") == "object" and sub.get("properties"):
            yield from _rows(sub["properties"], f"{path}.")


HEADER = "| key | type | default | description |\n|---|---|---|---|"


def render(schema: dict) -> str:
    """The Markdown text of config/README.md for ``schema``."""
    out = [INTRO]
    properties = schema["properties"]
    scalars = {k: v for k, v in properties.items() if v.get("type") != "object"}
    sections = {k: v for k, v in properties.items() if v.get("type") == "object"}
    out.append("## Sections\n")
    out.append(
        "\n".join(
            f"- [`{name}`](#{name}): {_text(sub.get('description', ''))}"
            for name, sub in sections.items()
        )
        + "\n"
    )
    if scalars:
        out.append("## Top-level keys\n")
        out.append(HEADER + "\n" + "\n".join(_rows(scalars, "")) + "\n")
    for name, sub in sections.items():
        out.append(f"## {name}\n")
        if sub.get("description"):
            out.append(_text(sub["description"]) + "\n")
        out.append(HEADER + "\n" + "\n".join(_rows(sub.get("properties", {}), f"{name}.")) + "\n")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--output", type=Path, default=README)
    args = parser.parse_args(argv)
    with open(args.schema) as handle:
        text = render(yaml.safe_load(handle))
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(
                f"{args.output} is out of date: run python tools/config_readme.py", file=sys.stderr
            )
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
