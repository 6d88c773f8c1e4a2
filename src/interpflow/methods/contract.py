"""The method contract: everything the workflow asks of a method, in one class.

A method is a package ``interpflow.methods.<name>`` whose ``method`` module defines ``METHOD``, an
instance of a :class:`Method` subclass, and is named in :mod:`interpflow.registry`. The workflow calls
only what this class declares, while it validates the config and builds the DAG, so a method's
``method`` module imports no torch and no plotting (a stage that imports one method depends on no
other). The rest of the method lives beside it: its rules (``rules/<name>.smk``), its options
(``schemas/methods/<name>.yaml``), its computation and figures (modules of its package), thin scripts
(``scripts/<name>_*.py``) and figure captions (``report/<name>/``). ``docs/adding-a-method.md`` walks
through a minimal one.

Terms: an *instance* is one entry of the method's config section, options filled in from the schema
(a ``dict``); a *run* is an instance on one model, with its files under
``results/<name>/<instance>/<model>/``; ``n_layer`` is that model's number of blocks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal


class Method(ABC):
    """One method of the workflow. Subclasses set the class attributes and override the abstract methods."""

    name: ClassVar[str]
    """The method's config section, package, rules file and results folder."""

    input_kind: ClassVar[Literal["text", "corpus"]] = "text"
    """What an instance reads: a text set (option ``text``) or a corpus (option ``corpus``)."""

    report_tables: ClassVar[tuple[str, ...]] = ()
    """Run tables (``<table>.parquet`` among :meth:`run_files`) shown in the report as HTML views."""

    comparison_inputs: ClassVar[dict[str, str]] = {}
    """``argument -> run file``: what the method's comparison reads from each run. The comparison job
    passes ``comparison_table(runs, **{argument: [one table (or JSON object) per run]})`` of the
    package's ``comparison`` module, which also draws ``comparison_figure(table)``."""

    @abstractmethod
    def configured_layers(self, instance: dict[str, Any], n_layer: int) -> list[tuple[str, int | str]]:
        """``[(option, layer), ...]``: the layer options to check against each model (``middle`` allowed)."""

    @abstractmethod
    def required_sites(self, instance: dict[str, Any], n_layer: int) -> list[str]:
        """The sites (:mod:`interpflow.models.sites` names) the activation store must hold for one run."""

    @abstractmethod
    def run_files(self, instance: dict[str, Any], n_layer: int) -> list[str]:
        """Every file of one run, relative to its folder (figures as ``figures/<name>.png`` and ``.svg``)."""

    def check_text(self, instance: dict[str, Any], key: str, tokenized) -> None:
        """For a text method: raise :class:`interpflow.runtime.errors.ConfigError` when the text set does not suit
        the instance. ``key`` is the instance's config key, ``tokenized`` an
        :class:`interpflow.config.references.TokenizedTexts`. Default: no check."""
        return None

    def check_corpus(self, instance: dict[str, Any], key: str, corpus: dict[str, Any]) -> None:
        """For a corpus method: raise :class:`interpflow.runtime.errors.ConfigError` when the corpus entry (its
        ``corpora`` options) does not suit the instance. Default: no check."""
        return None

    def sae_site(self, instance: dict[str, Any], n_layer: int) -> str | None:
        """The site an SAE of this run reads (its ``sae`` options are checked against the site's width), or
        ``None`` when the method trains no SAE (the default)."""
        return None


def figure_files(*names: str, folder: str = "figures") -> list[str]:
    """``<folder>/<name>.png`` and ``<folder>/<name>.svg`` of each figure, for :meth:`Method.run_files`."""
    return [f"{folder}/{name}.{extension}" for name in names for extension in ("png", "svg")]
