"""Instances that read a pretrained SAE (the config's ``saes`` section) instead of training one: what they may
set, and the layer and site they take from the SAE's files once it is checked against the model and corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interpflow.config.loading import instances
from interpflow.config.model_folders import model_widths
from interpflow.registry import METHODS
from interpflow.runtime.errors import ConfigError

# of `sae`: how it is evaluated
PRETRAINED_SAE_OPTIONS = (
    "heldout_shards",
    "batch_tokens",
    "spliced_batch_tokens",
    "exclude_special_tokens_from_reconstruction",
)


def check_pretrained_instance_options(config: dict[str, Any]) -> None:
    """Before defaults are filled in: an instance that reads a pretrained SAE names no layer or site (the SAE's
    files say them) and, of ``sae``, only how it is evaluated."""
    for method in METHODS:
        for name, instance in instances(config, method).items():
            if not isinstance(instance, dict) or instance.get("pretrained") is None:
                continue
            key, sae = f"{method}.{name}", instance.get("sae") or {}
            given = [option for option in ("layer", "site") if option in instance]
            given += [f"sae.{option}" for option in sae if option not in PRETRAINED_SAE_OPTIONS]
            if given:
                raise ConfigError(
                    f"{key}.{given[0]}",
                    f"the instance reads the pretrained SAE '{instance['pretrained']}', whose files say its layer and "
                    f"site and hold its weights; leave out {', '.join(given)} (of sae, only "
                    f"{', '.join(PRETRAINED_SAE_OPTIONS)} apply: how it is evaluated)",
                )


def resolve_pretrained_instances(config: dict[str, Any], base_dir: str | Path, schema: dict[str, Any]) -> None:
    """Each instance with ``pretrained`` takes its layer and site from the SAE's files, after checking that the
    SAE exists, reads a site the method reads, on the instance's model, as wide as that site, from windows
    that begin as the corpus's do. Runs in every process of a run (the layer and site shape the DAG);
    reads each SAE's ``cfg.json`` once."""
    from interpflow.models.dimensions import site_width
    from interpflow.models.sites import parse_site
    from interpflow.sae.interop.pretrained_entries import entry_spec, trained_on

    specs: dict[str, Any] = {}
    for method in METHODS:
        for name, instance in instances(config, method).items():
            sae_name = instance.get("pretrained")
            if sae_name is None:
                continue
            key = f"{method}.{name}"
            if sae_name not in config["saes"]:
                known = ", ".join(sorted(config["saes"])) or "none configured"
                raise ConfigError(f"{key}.pretrained", f"unknown SAE '{sae_name}' (known: {known}); add it under saes")
            if sae_name not in specs:
                specs[sae_name] = entry_spec(config, sae_name, base_dir)
            spec = specs[sae_name]
            readable = schema["$defs"][method]["properties"]["site"]["enum"]
            try:
                site = parse_site(spec.sae.site)
            except ValueError:
                site = None
            if site is None or site.layer is None or site.hook not in readable:
                raise ConfigError(
                    f"saes.{sae_name}",
                    f"the SAE reads {spec.sae.site!r}; {method} reads one of {', '.join(readable)} of a block "
                    "(blocks.<layer>.<site>)",
                )
            instance["layer"], instance["site"] = site.layer, site.hook
            model = trained_on(config, sae_name, spec)
            if instance["models"] != [model]:
                raise ConfigError(
                    f"{key}.models",
                    f"{instance['models']}, but the SAE '{sae_name}' was trained on model '{model}'; "
                    f"set models: [{model}] (or saes.{sae_name}.model, if it names the wrong one)",
                )
            widths = model_widths(config, model, base_dir)
            width = None if widths is None else site_width(widths, spec.sae.site)
            if width is not None and width != spec.sae.input_dim:
                raise ConfigError(
                    f"saes.{sae_name}",
                    f"the SAE reads {spec.sae.input_dim} values per token, but {spec.sae.site} of model '{model}' is "
                    f"{width} wide: it is not an SAE of this model",
                )
            corpus = config.get("corpora", {}).get(instance["corpus"])
            if corpus is not None and spec.prepend_bos is not None and spec.prepend_bos != corpus["prepend_bos"]:
                raise ConfigError(
                    f"corpora.{instance['corpus']}.prepend_bos",
                    f"{str(corpus['prepend_bos']).lower()}, but the SAE '{sae_name}' (read by {key}) was trained on "
                    f"windows {'with' if spec.prepend_bos else 'without'} a BOS token first; set prepend_bos: "
                    f"{str(spec.prepend_bos).lower()} (a corpus of its own if other instances need the other)",
                )
