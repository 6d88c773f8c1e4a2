#!/usr/bin/env python3
"""Write docs/configuration-reference.md from the configuration schema, the one source of every
option's type, default and meaning (``tests/unit/test_docs.py`` fails when the page is stale).

    python tools/config_reference.py           # rewrite the page
    python tools/config_reference.py --check   # exit 1 if the page differs from what the schema gives
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from interpflow.config import load_schema  # the shared schema and each registered method's
from interpflow.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration-reference.md"
HEADER = """# Configuration reference

<!-- Generated from schemas/config.schema.yaml and schemas/methods/*.yaml by tools/config_reference.py:
     edit the schema, then run `.venv/bin/python tools/config_reference.py`. -->

Every option of `config.yaml` and its overlays, with its type, its default (filled in before any job
runs when an option is left out) and its meaning, as `schemas/config.schema.yaml` and each method's
`schemas/methods/<method>.yaml` define them. A dotted key is an option inside a mapping (`sae.k` is
`sae: {k: ...}`). How configurations combine,
and the checks made before any job, are in [Configuration](configuration.md).
"""


class Schema:
    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.defs = schema["$defs"]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` with a ``$ref`` replaced by its definition (the node's own keys win)."""
        if "allOf" in node:  # a definition with more required keys: one node of all their keys
            merged: dict[str, Any] = {}
            for part in node["allOf"]:
                part = self.resolve(part)
                merged |= {**part, "required": merged.get("required", []) + part.get("required", [])}
            return merged | {key: value for key, value in node.items() if key != "allOf"}
        if "$ref" not in node:
            return node
        target = self.defs[node["$ref"].rsplit("/", 1)[1]]
        return {**self.resolve(target), **{key: value for key, value in node.items() if key != "$ref"}}

    def type_of(self, node: dict[str, Any]) -> str:
        ref = node.get("$ref", "").rsplit("/", 1)[-1]
        if ref == "layer":
            return "layer (block index or `middle`)"
        if ref == "model_list":
            return "list of model names"
        if ref == "text_name":
            return "text set name"
        node = self.resolve(node)
        if "const" in node:
            return f"`{node['const']}`"
        if "enum" in node:
            return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
        for combined in ("oneOf", "anyOf"):
            if combined in node:
                return " or ".join(self.type_of(option) for option in node[combined])
        kind = node.get("type", "")
        if kind == "array":
            return f"list of {self.type_of(node.get('items', {}))}" if node.get("items") else "list"
        if kind == "object":
            return "mapping"
        if kind == "null":
            return "`null`"
        bounds = [
            f"{symbol} {node[key]}"
            for key, symbol in (
                ("minimum", "≥"),
                ("exclusiveMinimum", ">"),
                ("maximum", "≤"),
                ("exclusiveMaximum", "<"),
            )
            if key in node
        ]
        return " ".join([kind, *bounds]) if kind else "any"

    def rows(self, node: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str, str]]:
        """``(key, type, default, description)`` of every option of an object node, nested options after theirs."""
        node = self.resolve(node)
        required = set(node.get("required", []))
        rows = []
        for option, spec in node.get("properties", {}).items():
            resolved = self.resolve(spec)
            if "default" in spec or "default" in resolved:
                default = spec.get("default", resolved.get("default"))
                shown = f"`{flow_yaml(default)}`"
            else:
                shown = "required" if option in required else ""
            description = spec.get("description", resolved.get("description", ""))
            meaning = " ".join(description.split()).replace("<", "&lt;").replace(">", "&gt;")
            rows.append((f"`{prefix}{option}`", self.type_of(spec), shown, meaning))
            if resolved.get("type") == "object" and resolved.get("properties"):
                rows.extend(self.rows(resolved, f"{prefix}{option}."))
        return rows


def flow_yaml(value) -> str:
    """``value`` as YAML in flow style on one line, as a config file would write it."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def section(title: str, text: str, rows) -> str:
    return f"\n## {title}\n\n{text}\n\n{table(rows)}"


def render(schema: dict[str, Any]) -> str:
    s = Schema(schema)
    top = schema["properties"]
    general = {key: top[key] for key in ("model_dir", "device", "extraction", "resources")}
    parts = [HEADER]
    parts.append(
        section(
            "Top level",
            "Where models live, where stages compute and what they request.",
            s.rows({"properties": general, "required": schema["required"]}),
        )
    )
    for kind, title in (("hub_model", "hub"), ("local_model", "local"), ("embedded_model", "embedded")):
        text = f"`models.<name>` with `source: {title}`: {s.defs[kind]['properties']['source']['description']}."
        parts.append(section(f"Models: {title}", text, s.rows(s.defs[kind])))
    text_set = top["texts"]["additionalProperties"]
    parts.append(section("Text sets", f"`texts.<name>`: {top['texts']['description']}.", s.rows(text_set)))
    parts.append(section("Corpora", f"`corpora.<name>`: {top['corpora']['description']}.", s.rows(s.defs["corpus"])))
    for kind, title in (("hub_sae", "hub"), ("local_sae", "local")):
        text = f"`saes.<name>` with `source: {title}`: {s.defs[kind]['properties']['source']['description']}."
        parts.append(section(f"Pretrained SAEs: {title}", text, s.rows(s.defs[kind])))
    for method in METHODS:
        text = f"`{method}.<instance>`: one instance of the method ([Methods](methods.md)); `null` removes it."
        parts.append(section(f"Method: {method}", text, s.rows(s.defs[method])))
    return "".join(parts)


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Options the reference would show without a meaning."""
    s = Schema(schema)
    missing = []
    for title, node in [("top", {"properties": schema["properties"]})] + list(s.defs.items()):
        for key, _, _, description in s.rows(node) if isinstance(node, dict) else []:
            if not description:
                missing.append(f"{title}: {key}")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args()
    text = render(load_schema())
    if args.check:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run python tools/config_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
