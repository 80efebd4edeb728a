"""The configuration of a run as the report's front page shows it: YAML a user can copy into
a config file, every key (defaults filled in by validation) in the order of
rassflow/schema.yaml, no line wider than the page's code block."""

from __future__ import annotations

import yaml

# characters of monospace text in the front page's code block: the page's text column is
# 512 px wide (less 2 x 12 px padding) in any window over 1100 px, 7.2 px a character
# (12 px monospace), 67 characters; tests/workflow/test_report_browser.py measures them
PAGE_WIDTH = 64


def schema_ordered(value, schema: dict | None):
    """``value`` with the keys of every mapping in the order of the schema's properties; keys
    the schema does not name follow, in their own order."""
    schema = schema or {}
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        keys = [key for key in properties if key in value]
        keys += [key for key in value if key not in properties]
        extra = schema.get("additionalProperties")
        return {
            key: schema_ordered(
                value[key], properties.get(key, extra if isinstance(extra, dict) else None)
            )
            for key in keys
        }
    if isinstance(value, list | tuple):
        items = schema.get("items")
        return [schema_ordered(item, items if isinstance(items, dict) else None) for item in value]
    return value


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper for a page of fixed width. Lists of values are written in flow
    style, ``[0.5, 2.0]``, as config files write them, and wrapped before the item that
    would pass the width (PyYAML wraps only once a line has passed it); a list of lists is
    a flow list only if short, else one flow list per line. A string too long for the rest
    of its line is double-quoted and continued on the next lines: inside double quotes an
    escaped line break (a ``\\`` at the end of the line) joins the next line's text, after
    its indentation, with nothing in between (YAML 1.2.2, section 7.3.1), so a path or a URL
    breaks anywhere and loads back unchanged."""

    def represent_list(self, data):
        flat = not any(isinstance(item, dict | list) for item in data)
        # a list of lists in flow style only when short enough to follow any key on its line
        short = not any(isinstance(item, dict) for item in data) and (
            len(yaml.safe_dump(data, default_flow_style=True, width=float("inf")))
            <= self.best_width // 2
        )
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat or short)

    def expect_first_flow_sequence_item(self):
        self._break_before_long_item()
        super().expect_first_flow_sequence_item()

    def expect_flow_sequence_item(self):
        if isinstance(self.event, yaml.SequenceEndEvent):
            super().expect_flow_sequence_item()
            return
        self.write_indicator(",", False)
        self._break_before_long_item()
        self.states.append(self.expect_flow_sequence_item)
        self.expect_node(sequence=True)

    def _break_before_long_item(self):
        if isinstance(self.event, yaml.ScalarEvent) and self.column > (self.indent or 0) + 1:
            length = self._length(self.choose_scalar_style(), self.event.value)
            if self.column + 1 + length + self._closing() > self.best_width:
                self.write_indent()

    def _closing(self) -> int:
        """Room kept after a value inside flow lists: a comma or the closing brackets."""
        return self.flow_level + 1 if self.flow_level else 0

    def _length(self, style: str, value: str) -> int:
        """Characters ``value`` takes on one line in ``style``."""
        if style == "":
            return len(value)
        if style == "'":
            return len(value) + value.count("'") + 2
        return 2 + sum(len(self._escape(char) or char) for char in value)

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        value = self.event.value
        if (
            style in ("", "'")
            and not self.simple_key_context  # keys stay as they are
            and self.event.tag == "tag:yaml.org,2002:str"
            and (
                "\n" in value  # single quotes would keep its line breaks as lines
                # the scalar's writer puts a space before it
                or self.column + 1 + self._length(style, value) + self._closing() > self.best_width
            )
        ):
            return '"'
        return style

    def write_double_quoted(self, text, split=True):
        self.write_indicator('"', True)
        width = self.best_width - self._closing()
        start = 0  # text[start:end] is written when a line break or an escape needs it
        for end, char in enumerate(text):
            escape = self._escape(char)
            size = len(escape) if escape else 1
            # break before this character if it and a closing backslash would pass the width,
            # unless the line holds nothing yet but its indentation
            line = self.column + (end - start)
            if split and line + size + 1 > width and line > (self.indent or 0) + 1:
                self._write(text[start:end] + "\\")
                start = end
                self.write_indent()
                self.whitespace = self.indention = False
                if char == " ":  # a line's leading spaces are dropped: escape this one
                    self._write("\\")
            if escape is not None:
                self._write(text[start:end] + escape)
                start = end + 1
        self._write(text[start:])
        self.write_indicator('"', False)

    def _escape(self, char: str) -> str | None:
        """The escape sequence double quotes need for ``char``, or None (written as it is)."""
        printable = "\x20" <= char <= "\x7e" or (
            self.allow_unicode and ("\xa0" <= char <= "\ud7ff" or "\ue000" <= char <= "\ufffd")
        )
        if printable and char not in '"\\\x85\u2028\u2029\ufeff':
            return None
        if char in self.ESCAPE_REPLACEMENTS:
            return "\\" + self.ESCAPE_REPLACEMENTS[char]
        if char <= "\xff":
            return f"\\x{ord(char):02X}"
        return f"\\u{ord(char):04X}" if char <= "\uffff" else f"\\U{ord(char):08X}"

    def _write(self, data: str) -> None:
        self.column += len(data)
        self.stream.write(data.encode(self.encoding) if self.encoding else data)


_Dumper.add_representer(list, _Dumper.represent_list)


def config_yaml(config: dict, schema: dict | None = None, width: int = PAGE_WIDTH) -> str:
    """The validated configuration as YAML: keys in the schema's order (rassflow.config's
    schema by default), ``null`` and ``true`` where a user writes them, no line longer than
    ``width`` characters but for a key longer than that. Loading the text gives back
    ``config``."""
    if schema is None:
        from rassflow.config import load_schema

        schema = load_schema()
    return yaml.dump(
        schema_ordered(config, schema),
        Dumper=_Dumper,
        sort_keys=False,
        width=width,
        allow_unicode=True,
        indent=2,
    )
