"""Validate a workflow configuration before any job is scheduled, and complete it with the defaults.

A configuration names models, text sets and, per method, any number of named *instances*
(``repeated_token_mi: {coffee: {...}, fruit: {...}}``). :func:`validate_config` works in place on
the merged config (``config.yaml`` plus every ``--configfile`` / ``--config``):

1. values given on the command line are typed: ``--config`` hands nested values over as strings
   (``layer: "2"``, ``fruit: "null"``), so a string the schema rejects is read as YAML where that
   gives a number, a boolean or ``null``;
2. instances set to ``null`` are removed (how an overlay removes an instance: Snakemake's merge
   cannot delete a key, but it can replace a value with ``null``);
3. the JSON schema (``schemas/config.schema.yaml`` with each method's ``schemas/methods/<method>.yaml``)
   is checked and every option an instance leaves out is set to the schema's ``default``, the one place
   that defines defaults; an instance whose ``sae`` options give lists (a sweep) becomes one instance per
   combination (:mod:`interpflow.config.sweeps`);
4. checks a schema cannot express: text files exist and read, names resolve, layers exist in every
   model an instance runs on, and what each method needs of its text (targets, groups, length);
5. every entry's options (an instance, a model, a text set, a corpus) are put in one canonical
   form, keys sorted at every depth, so the params a rule sees do not depend on the order in which
   the options were written, or on whether a default was restated; the order of the entries
   themselves (which orders instances in comparison figures) is kept.

Every problem raises :class:`ConfigError` with one message that names the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interpflow.config.loading import (
    canonicalize_entries,
    remove_null_instances,
    type_command_line_strings,
)
from interpflow.config.pretrained_saes import check_pretrained_instance_options, resolve_pretrained_instances
from interpflow.config.references import check_references
from interpflow.config.schema_checks import check_schema, load_schema
from interpflow.config.sweeps import expand_sweeps


def validate_config(
    config: dict[str, Any],
    base_dir: str | Path,
    checked_files: Path | None = None,
    references: bool = True,
) -> None:
    """Validate ``config`` and fill in its defaults, in place; raise :class:`ConfigError` on the first problem
    (``checked_files``: see :func:`check_references`).

    ``references=False`` leaves out :func:`check_references` (files read, texts tokenized, models' folders
    opened: seconds), for the processes that a run starts per job on a cluster: the run's own process
    has checked the same configuration before any job was submitted. Defaults are filled in either way."""
    schema = load_schema()
    type_command_line_strings(config, schema)
    remove_null_instances(config)
    check_pretrained_instance_options(config)
    check_schema(config, schema)
    expand_sweeps(config)
    resolve_pretrained_instances(config, base_dir, schema)
    if references:
        check_references(config, base_dir, checked_files)
    canonicalize_entries(config)
