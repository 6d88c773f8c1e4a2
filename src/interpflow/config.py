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
   combination (:mod:`interpflow.runtime.sweeps`);
4. checks a schema cannot express: text files exist and read, names resolve, layers exist in every
   model an instance runs on, and what each method needs of its text (targets, groups, length);
5. every entry's options (an instance, a model, a text set, a corpus) are put in one canonical
   form, keys sorted at every depth, so the params a rule sees do not depend on the order in which
   the options were written, or on whether a default was restated; the order of the entries
   themselves (which orders instances in comparison figures) is kept.

Every problem raises :class:`ConfigError` with one message that names the key and the fix.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from interpflow.models.layers import resolve_layer
from interpflow.registry import METHODS
from interpflow.runtime.errors import ConfigError
from interpflow.runtime.schema import workflow_schema
from interpflow.runtime.sweeps import collapse_points, point_name, sweep_points

VENDORED_TOKENIZER = "resources/gpt2-tokenizer"

__all__ = ["ConfigError", "validate_config", "instances"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a mapping that gives one key twice is an error (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"{key!r} at line {again} was already given at line {first}")
        self.key, self.first, self.again = key, first, again


def check_unique_keys(paths) -> None:
    """Raise :class:`ConfigError` for a config file with a mapping that gives one key twice (the
    workflow would silently use the last), naming the file, the key and both lines."""
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        try:
            yaml.load(text, Loader=_UniqueKeyLoader)
        except DuplicateKeyError as error:
            relative = os.path.relpath(path)
            shown = str(path) if relative.startswith("..") else relative
            raise ConfigError(
                str(error.key),
                f"given twice in {shown}, at lines {error.first} and {error.again} (YAML would keep the last "
                "silently); keep one",
            ) from None
        except yaml.YAMLError:
            continue  # Snakemake has read the file already and reports its syntax errors itself


def load_schema() -> dict[str, Any]:
    """The configuration schema of the registered methods (:func:`interpflow.runtime.schema.workflow_schema`)."""
    return workflow_schema(METHODS)


def _dotted(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _filling_defaults(validator_class):
    """``validator_class`` that also sets each missing property to a copy of its schema ``default``.

    The recipe from the jsonschema FAQ: defaults are set while ``properties`` is validated, so a
    default mapping (``plot: {}``) is then filled with its own properties' defaults.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


DefaultFillingValidator = _filling_defaults(jsonschema.Draft202012Validator)


def type_command_line_strings(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Replace each string the schema rejects by its YAML reading, where that is not a string.

    ``--config 'm={i: {layer: 2}}'`` arrives as ``{"i": {"layer": "2"}}`` (Snakemake parses nested
    values with YAML's base loader, which keeps every scalar a string), and so do list items
    (``layers: [5, middle]`` as ``["5", "middle"]``). Strings the schema accepts (a target ``" 2"``, a
    name) are never touched.
    """
    validator = jsonschema.Draft202012Validator(schema)
    for _ in range(100):  # each pass types the strings the schema rejects; a typed null may uncover more
        changed = False
        for error in _with_sub_errors(validator.iter_errors(config)):
            if not isinstance(error.instance, str) or not error.absolute_path:
                continue
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            if not isinstance(value, str):
                *parents, last = error.absolute_path
                container = config
                for part in parents:
                    container = container[part]
                container[last], changed = value, True
        if not changed:
            return


def _with_sub_errors(errors):
    """Each error, then the errors under it: a value inside ``oneOf``/``anyOf`` (a layer list
    ``[5, middle]``, a model entry) fails there, and only its branches' errors reach the string."""
    for error in errors:
        yield error
        yield from _with_sub_errors(error.context or ())


def remove_null_instances(config: dict[str, Any]) -> None:
    """Drop the instances an overlay set to ``null``; a method set to ``null`` has no instances."""
    for method in METHODS:
        section = config.get(method)
        if section is None and method in config:
            config[method] = {}
        elif isinstance(section, dict):
            for name in [name for name, instance in section.items() if instance is None]:
                del section[name]


def check_schema(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Fill in defaults; raise :class:`ConfigError` for the most relevant schema violation, if any."""
    validator = DefaultFillingValidator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = sorted(set(error.instance) - set(known))
        if unknown:
            problem = f"unknown key{did_you_mean(unknown[0], known)}; see docs/configuration-reference.md"
            raise ConfigError(_dotted([*error.path, unknown[0]]), problem)
    if error.validator == "additionalProperties":
        raise ConfigError(_dotted(error.path), f"{error.message}; see docs/configuration-reference.md")
    if _within_layer_option(error):
        raise ConfigError(_dotted(error.absolute_path), f"{error.instance!r} is not a layer: {LAYER_HINT}")
    raise ConfigError(_dotted(error.absolute_path), error.message)


def did_you_mean(key: str, known) -> str:
    """`` (did you mean 'epochs'?)`` for the known key closest to a misspelled one (difflib), or one it
    begins (``clip`` -> ``clip_threshold``), else ``""``."""
    names = [str(name) for name in known]
    close = difflib.get_close_matches(key, names, n=1) or sorted(name for name in names if name.startswith(key))
    return f" (did you mean {close[0]!r}?)" if close else ""


LAYER_HINT = (
    "a layer is a block index from 0 (the first block) to n_layer - 1 of each model, or 'middle' (n_layer // 2)"
)


def _within_layer_option(error) -> bool:
    """True when the failing value is a layer (the schema's ``layer`` definition, maybe in a list)."""
    while error is not None:
        if isinstance(error.schema, dict) and str(error.schema.get("description", "")).startswith("a block index"):
            return True
        error = error.parent
    return False


def check_layer(value: int | str, n_layer: int, key: str, model: str) -> None:
    """Raise :class:`ConfigError` unless the layer (an index or ``middle``) exists in the model."""
    layer = resolve_layer(value, n_layer)
    if not 0 <= layer < n_layer:
        raise ConfigError(
            key,
            f"layer {layer} is out of range for model '{model}': its layers are 0..{n_layer - 1}, "
            f"or 'middle' (= {n_layer // 2})",
        )


def instances(config: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """``instance name -> instance`` of ``method`` (after :func:`validate_config`)."""
    return config.get(method) or {}


def check_references(config: dict[str, Any], base_dir: str | Path, checked_files: Path | None = None) -> None:
    """Check what the schema cannot: files read, names resolve, layers exist, texts suit the methods.

    ``checked_files``: a folder where each version of a corpus file read to its end is remembered,
    so that later start-ups skip it (:func:`interpflow.stores.corpus.check_files`)."""
    for name, entry in config["models"].items():
        if entry["source"] == "embedded" and entry["n_embd"] % entry["n_head"]:
            raise ConfigError(f"models.{name}.n_head", f"n_embd {entry['n_embd']} is not divisible by n_head")
        check_model_folder(config, name, Path(base_dir))
    tokenized = TokenizedTexts(config, Path(base_dir))
    for text_name in config["texts"]:
        tokenized.text_set(text_name)  # every file exists, decodes and has the columns, no text is empty
    for method_name, method in METHODS.items():
        for instance_name, instance in instances(config, method_name).items():
            key = f"{method_name}.{instance_name}"
            for i, model in enumerate(instance["models"]):
                if model not in config["models"]:
                    known = ", ".join(sorted(config["models"]))
                    raise ConfigError(f"{key}.models[{i}]", f"unknown model '{model}' (known: {known})")
            for model in instance["models"]:
                n_layer = config["models"][model]["n_layer"]
                for option, layer in method.configured_layers(instance, n_layer):
                    check_layer(layer, n_layer, f"{key}.{option}", model)
                sae_site = method.sae_site(instance, n_layer)
                if sae_site is not None and not instance.get("pretrained"):
                    check_sae_width(config, model, sae_site, instance["sae"], key, base_dir)
            if method.input_kind == "corpus":
                check_corpus_instance(config, method, instance, key, Path(base_dir))
                continue
            if instance["text"] not in config["texts"]:
                known = ", ".join(sorted(config["texts"]))
                raise ConfigError(f"{key}.text", f"unknown text set '{instance['text']}' (known: {known})")
            for model in instance["models"]:
                check_context_window(config, model, instance["text"], f"{key}.text", tokenized)
            method.check_text(instance, key, tokenized)
    for name, entry in config.get("corpora", {}).items():
        check_corpus_entry(name, entry, Path(base_dir), tokenized.tokenizer, checked_files)


def check_corpus_entry(name: str, entry: dict[str, Any], base_dir: Path, tokenizer, checked: Path | None) -> None:
    """The corpus's files exist, read to their ends, and give at least one window per shard."""
    from interpflow.stores.corpus import Corpus, CorpusError, check_corpus

    try:
        check_corpus(Corpus.from_config(name, entry, base_dir), tokenizer, checked)
    except CorpusError as error:
        raise ConfigError(f"corpora.{name}.{error.option}", str(error)) from None


def check_corpus_instance(config: dict[str, Any], method, instance: dict[str, Any], key: str, base_dir: Path) -> None:
    """An instance on a corpus: the corpus exists, its windows fit each model, the method's own checks."""
    corpora = config.get("corpora", {})
    if instance["corpus"] not in corpora:
        known = ", ".join(sorted(corpora)) or "none configured"
        raise ConfigError(
            f"{key}.corpus", f"unknown corpus '{instance['corpus']}' (known: {known}); add it under corpora"
        )
    corpus = corpora[instance["corpus"]]
    for model in instance["models"]:
        limit = context_window(config, model, base_dir)
        if limit is not None and corpus["context_size"] > limit:
            raise ConfigError(
                f"corpora.{instance['corpus']}.context_size",
                f"{corpus['context_size']} tokens per window, more than the {limit} that model '{model}' "
                f"(used by {key}) reads at once; lower context_size",
            )
    method.check_corpus(instance, key, corpus)


def model_config_json(config: dict[str, Any], model: str, base_dir: Path) -> dict[str, Any] | None:
    """The ``config.json`` of the model a run would load, where it is at hand: a local model's folder; for a
    hub model, its provisioned folder if provisioned at the configured revision, else the Hugging Face
    cache's copy at that revision (what provisioning would copy); ``None`` where neither is at hand."""
    from interpflow.runtime.model_records import model_folder

    entry = config["models"][model]
    folder = model_folder(config, model)
    folder = folder if folder.is_absolute() else base_dir / folder
    path: str | Path | None = folder / "config.json"
    if entry["source"] == "hub" and provisioned_revision(folder) != entry.get("revision"):
        from interpflow.models.hub_cache import cached_file

        path = cached_file(entry["hub_id"], "config.json", entry.get("revision"))
    return json.loads(Path(path).read_text(encoding="utf-8")) if path and Path(path).is_file() else None


def provisioned_revision(folder: Path) -> str | None | bool:
    """The revision a hub model folder was provisioned at (``None``: the default branch); ``False`` if it was not."""
    from interpflow.runtime.model_records import MODEL_RECORD

    record = folder / MODEL_RECORD
    return json.loads(record.read_text(encoding="utf-8")).get("revision") if record.is_file() else False


def check_model_folder(config: dict[str, Any], model: str, base_dir: Path) -> None:
    """A local model's folder exists and holds a model; a model folder at hand (local, or a hub model
    already provisioned) is of a family with an adapter (:mod:`interpflow.models.families`) and has the
    configured ``n_layer``."""
    from interpflow.models.families import FAMILY_OF_MODEL_TYPE, supported_model_types
    from interpflow.runtime.model_records import model_folder

    entry = config["models"][model]
    key = f"models.{model}." + ("path" if entry["source"] == "local" else "hub_id")
    if entry["source"] == "local":
        folder = model_folder(config, model)
        folder = folder if folder.is_absolute() else base_dir / folder
        if not folder.is_dir():
            raise ConfigError(key, f"{entry['path']!r} does not exist (or is not a folder); point it at a model folder")
        missing = [
            what
            for what, pattern in (("config.json", "config.json"), ("safetensors weights", "*.safetensors"))
            if not any(folder.glob(pattern))
        ]
        if missing:
            raise ConfigError(
                key,
                f"{entry['path']!r} is not a model folder: it has no {' and no '.join(missing)}; point it at a folder "
                "that save_pretrained(..., safe_serialization=True) wrote (config.json, *.safetensors, tokenizer)",
            )
    values = model_config_json(config, model, base_dir)
    if values is None:
        return
    if values.get("model_type") not in FAMILY_OF_MODEL_TYPE:
        raise ConfigError(
            key,
            f"model_type {values.get('model_type')!r} has no adapter (supported: {supported_model_types()}); "
            "use a decoder-only model of a supported family",
        )
    blocks = values.get("n_layer", values.get("num_hidden_layers"))
    if blocks is not None and blocks != entry["n_layer"]:
        raise ConfigError(
            f"models.{model}.n_layer",
            f"{entry['n_layer']}, but the model's config.json says {blocks} blocks; set n_layer: {blocks}",
        )


def model_widths(config: dict[str, Any], model: str, base_dir: str | Path) -> tuple[int, int] | None:
    """``(d_model, d_mlp)`` of a model: from an embedded model's spec, else from its folder's
    ``config.json`` where there is one; ``None`` where neither is at hand (a hub model not yet provisioned)."""
    entry = config["models"][model]
    if entry["source"] == "embedded":
        gated = entry.get("architecture") in ("llama", "gemma2")  # the families whose d_mlp is configurable
        return entry["n_embd"], (gated and entry.get("d_mlp")) or 4 * entry["n_embd"]
    from interpflow.models.dimensions import model_widths as widths_of

    values = model_config_json(config, model, Path(base_dir))
    return None if values is None else widths_of(values)


def check_sae_width(config: dict[str, Any], model: str, site: str, sae: dict[str, Any], key: str, base_dir) -> None:
    """An SAE's ``k`` is at most its latents (``latent_factor`` times the width of the ``site`` it reads)."""
    from interpflow.models.dimensions import site_width

    widths = model_widths(config, model, base_dir)
    if widths is None or sae.get("k") is None:
        return
    width = site_width(widths, site)
    latents = sae["latent_factor"] * width
    if sae["k"] > latents:
        raise ConfigError(
            f"{key}.sae.k",
            f"{sae['k']} active latents per token, more than the SAE's {latents} latents (latent_factor "
            f"{sae['latent_factor']} x {width}, the width of {site} on model '{model}'); lower k to at most "
            f"{latents} or raise latent_factor",
        )


def context_window(config: dict[str, Any], model: str, base_dir: Path) -> int | None:
    """The model's context window in tokens: ``n_positions`` from the config, else from the model
    folder's ``config.json`` where there is one (a local model, a hub model already provisioned)."""
    if "n_positions" in config["models"][model]:
        return config["models"][model]["n_positions"]
    values = model_config_json(config, model, base_dir)
    if values is None:
        return None
    return values.get("n_positions") or values.get("max_position_embeddings")


def check_context_window(config: dict[str, Any], model: str, text_name: str, key: str, tokenized) -> None:
    """Every text of the text set fits the model's context window (one text is one sequence)."""
    limit = context_window(config, model, tokenized.base_dir)
    if limit is None:
        return
    for row, ids in enumerate(tokenized.ids(text_name)):
        if len(ids) > limit:
            where = "its text" if len(tokenized.ids(text_name)) == 1 else f"row {row}"
            raise ConfigError(
                key,
                f"text set '{text_name}' ({tokenized.path(text_name)}): {where} has {len(ids)} tokens, more than "
                f"the {limit} that model '{model}' reads at once (n_positions); shorten or split the text, "
                "or run the instance on a model with a longer context",
            )


class TokenizedTexts:
    """The configured text sets, read once, and their tokens through the vendored GPT-2 tokenizer."""

    def __init__(self, config: dict[str, Any], base_dir: Path):
        self.config, self.base_dir, self._tokenizer, self._sets, self._ids = config, base_dir, None, {}, {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from interpflow.models.vendored_tokenizer import VendoredTokenizer

            self._tokenizer = VendoredTokenizer(self.base_dir / VENDORED_TOKENIZER)
        return self._tokenizer

    def path(self, text_name: str) -> Path:
        return self.base_dir / self.config["texts"][text_name]["path"]

    def text_set(self, text_name: str):
        """The :class:`interpflow.stores.texts.TextSet` of a configured text set; ConfigError if it does not read."""
        if text_name not in self._sets:
            from interpflow.stores.texts import TextSetError, read_text_set

            entry = self.config["texts"][text_name]
            try:
                self._sets[text_name] = read_text_set(self.path(text_name), entry["text_column"], entry["group_column"])
            except TextSetError as error:
                raise ConfigError(f"texts.{text_name}.{error.option}", str(error)) from None
        return self._sets[text_name]

    def texts(self, text_name: str) -> list[str]:
        return self.text_set(text_name).texts

    def ids(self, text_name: str) -> list[list[int]]:
        """Token ids of every text of a text set."""
        if text_name not in self._ids:
            self._ids[text_name] = self.tokenizer(self.texts(text_name))["input_ids"]
        return self._ids[text_name]


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


def expand_sweeps(config: dict[str, Any]) -> None:
    """Replace each instance whose ``sae`` options give lists by its points (:mod:`interpflow.runtime.sweeps`),
    in place and in order; a point records ``sweep_point``: its ``sweep``'s name and its ``values``."""
    for method in METHODS:
        section = instances(config, method)
        expanded: dict[str, Any] = {}
        for name, instance in section.items():
            points = sweep_points(instance.get("sae") or {})
            if not points:
                expanded[name] = instance
            for point in points:
                expanded[point_name(name, point)] = {
                    **instance,
                    "sae": instance["sae"] | point,
                    "sweep_point": {"sweep": name, "values": point},
                }
        if method in config:
            config[method] = expanded


def config_as_given(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (validated) with each sweep as one instance again, its options as lists (a copy): the
    configuration as written, defaults filled in, that validates to the same ``config``."""
    given = dict(config)
    for method in METHODS:
        if method in given:
            given[method] = collapse_points(given[method])
    return given


# --- pretrained SAEs (section saes): an instance with `pretrained` reads one instead of training -----
PRETRAINED_SAE_OPTIONS = ("heldout_shards", "batch_tokens", "spliced_batch_tokens")  # of `sae`: how it is evaluated


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
    from interpflow.sae.pretrained_entries import entry_spec, trained_on

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


def sorted_mappings(value: Any) -> Any:
    """``value`` with the keys of every mapping in it sorted, at every depth (lists keep their order)."""
    if isinstance(value, dict):
        return {key: sorted_mappings(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_mappings(item) for item in value]
    return value


def canonicalize_entries(config: dict[str, Any]) -> None:
    """Each entry of each top-level mapping (``config[section][name]``) in :func:`sorted_mappings`
    form, in place; the entries keep their order."""
    for section in config.values():
        if isinstance(section, dict):
            for name, entry in section.items():
                section[name] = sorted_mappings(entry)
