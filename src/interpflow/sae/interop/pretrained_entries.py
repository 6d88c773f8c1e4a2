"""The config's pretrained SAEs (section ``saes``): where each one's files are, what they say, and which
configured model it reads. Light (no torch): the workflow asks this while it validates the config.

Files: a ``local`` entry's ``path``; a ``hub`` entry's ``folder`` of repository ``hub_id`` at ``revision``,
provisioned into ``<model_dir>/saes/<name>/<folder's last part>/`` (the folder keeps its name: sparsify's
is the hookpoint) with ``interpflow_sae.json`` beside it, which records the commit and every file's sha256.
Before it is provisioned, its ``cfg.json`` is read from the Hugging Face cache, or fetched alone (a few
kB) where the hub can be reached.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from interpflow.runtime.errors import ConfigError
from interpflow.sae.interop.pretrained_formats import CONFIG_FILE, PretrainedSAEError, PretrainedSpec, read_spec

SAE_RECORD = "interpflow_sae.json"
SAE_DIR = "saes"
OVERRIDES = ("model_from_pretrained_kwargs", "norm_scaling_factor")  # entry options over the SAE's files


def provisioned_folder(config: dict[str, Any], name: str) -> Path:
    """``<model_dir>/saes/<name>``: where a hub SAE is provisioned (its files in a folder below)."""
    return Path(config["model_dir"]) / SAE_DIR / name


def files_folder(config: dict[str, Any], name: str) -> Path:
    """The folder holding the SAE's own files once it is at hand (a local path, or the provisioned copy)."""
    entry = config["saes"][name]
    if entry["source"] == "local":
        return Path(entry["path"])
    return provisioned_folder(config, name) / (Path(entry["folder"]).name or "sae")


def repo_file(folder: str, filename: str) -> str:
    """``filename`` in the repository's ``folder`` (``''``: the root), as the hub names it."""
    return posixpath.join(folder.strip("/"), filename)


def run_config_file(folder: str) -> str:
    """A sparsify run's ``config.json`` (which names the model), beside its hookpoint ``folder``."""
    return repo_file(posixpath.dirname(folder.strip("/")), "config.json")


def hub_patterns(entry: dict[str, Any]) -> list[str]:
    """What provisioning copies from the repository: the SAE's folder (and a sparsify run's config)."""
    folder = entry["folder"]
    patterns = [repo_file(folder, CONFIG_FILE), repo_file(folder, "*.safetensors")]
    return patterns + ([run_config_file(folder)] if entry["format"] == "sparsify" else [])


def unavailable_message(name: str, entry: dict[str, Any], reason: str) -> str:
    at = f" --revision {entry['revision']}" if entry.get("revision") else ""
    include = f" --include '{entry['folder'].strip('/')}/*'" if entry["folder"].strip("/") else ""
    return (
        f"pretrained SAE '{name}' ({entry['hub_id']}/{entry['folder']}) is not available: {reason}. Ways out: "
        f"cache it where the hub can be reached (huggingface-cli download {entry['hub_id']}{at}{include}; "
        "HF_HUB_OFFLINE=1 works once it is cached), or download the folder and point the entry at it "
        f"(saes.{name}: {{source: local, path: <folder>}})"
    )


def _hub_folder(config: dict[str, Any], name: str, base_dir: Path) -> tuple[Path, bool]:
    """Where the hub SAE's ``cfg.json`` can be read now, and whether that is the provisioned copy (made at the
    configured revision) rather than the Hugging Face cache (fetching ``cfg.json`` where the hub can be reached)."""
    entry = config["saes"][name]
    record = _absolute(provisioned_folder(config, name), base_dir) / SAE_RECORD
    if record.is_file() and json.loads(record.read_text(encoding="utf-8")).get("revision") == entry.get("revision"):
        return _absolute(files_folder(config, name), base_dir), True
    from interpflow.models.hub_cache import cached_file, offline

    filename = repo_file(entry["folder"], CONFIG_FILE)
    found = cached_file(entry["hub_id"], filename, entry.get("revision"))
    if found is None and offline():
        raise ConfigError(
            f"saes.{name}",
            unavailable_message(name, entry, "HF_HUB_OFFLINE is set and the Hugging Face cache does not hold it"),
        )
    if found is None:
        from huggingface_hub import hf_hub_download

        try:
            found = hf_hub_download(entry["hub_id"], filename, revision=entry.get("revision"))
            if entry["format"] == "sparsify":
                _fetch_run_config(entry)
        except Exception as error:  # the hub client raises many types for "unreachable" and "not there"
            reason = f"{type(error).__name__}: {error}"
            raise ConfigError(f"saes.{name}", unavailable_message(name, entry, reason)) from None
    return Path(found).parent, False


def _fetch_run_config(entry: dict[str, Any]) -> None:
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(entry["hub_id"], run_config_file(entry["folder"]), revision=entry.get("revision"))
    except Exception:  # a sparsify repository need not hold its run's config; the model is then named in the entry
        pass


def _absolute(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def entry_spec(config: dict[str, Any], name: str, base_dir: str | Path) -> PretrainedSpec:
    """The :class:`PretrainedSpec` of ``saes.<name>``; :class:`ConfigError` naming the key when it cannot be read
    as it was meant."""
    entry, base_dir = config["saes"][name], Path(base_dir)
    if entry["source"] == "local":
        folder, at_hand = _absolute(Path(entry["path"]), base_dir), True
        if not folder.is_dir():
            raise ConfigError(f"saes.{name}.path", f"{entry['path']!r} does not exist (or is not a folder)")
    else:
        folder, at_hand = _hub_folder(config, name, base_dir)  # from the cache: maybe cfg.json alone
    try:
        return read_entry(entry, folder, require_weights=at_hand)
    except PretrainedSAEError as error:
        where = {"path": "path" if entry["source"] == "local" else "folder"}.get(error.option, error.option)
        key = f"saes.{name}.{where}" if where in (*OVERRIDES, "path", "folder") else f"saes.{name}"
        raise ConfigError(key, f"{error} (in {folder})") from None


def read_entry(entry: dict[str, Any], folder: str | Path, require_weights: bool = True) -> PretrainedSpec:
    """:func:`~interpflow.sae.interop.pretrained_formats.read_spec` of the SAE in ``folder``, with what its config
    ``entry`` says over what its files say."""
    overrides = {key: entry.get(key) for key in OVERRIDES}
    return read_spec(folder, entry["format"], overrides, require_weights=require_weights)


def trained_on(config: dict[str, Any], name: str, spec: PretrainedSpec) -> str:
    """The configured model the SAE reads: the entry's ``model``, else the one whose name or hub_id (or its
    last part) is the SAE's ``model_name``."""
    entry, models = config["saes"][name], config["models"]
    if entry.get("model") is not None:
        if entry["model"] not in models:
            raise ConfigError(
                f"saes.{name}.model", f"unknown model '{entry['model']}' (known: {', '.join(sorted(models))})"
            )
        return entry["model"]
    matching = [
        model
        for model, values in models.items()
        if spec.model_name in (model, values.get("hub_id"), str(values.get("hub_id", "")).rsplit("/", 1)[-1])
    ]
    if spec.model_name is None or len(matching) != 1:
        said = "do not name its model" if spec.model_name is None else f"say model_name {spec.model_name!r}"
        found = (
            ""
            if spec.model_name is None
            else (
                ", which is no configured model by name or hub_id"
                if not matching
                else f", which is {len(matching)} configured models ({', '.join(matching)})"
            )
        )
        raise ConfigError(
            f"saes.{name}.model",
            f"the SAE's files {said}{found}; name the model it was trained on: saes.{name}.model: <one of "
            f"{', '.join(models)}>",
        )
    return matching[0]


def provision_hub_sae(name: str, entry: dict[str, Any], out_dir: str | Path) -> Path:
    """Copy the hub SAE's folder at its revision into ``out_dir`` (:func:`files_folder`'s layout) from the
    Hugging Face cache, or the hub where it can be reached (``HF_HUB_OFFLINE`` honoured), and write
    ``interpflow_sae.json``: the entry, the commit the revision resolved to and every file's sha256.
    Raises :class:`ConfigError` (the entry's key, the ways out) when it cannot be had."""
    import shutil

    from huggingface_hub import snapshot_download

    from interpflow.runtime.atomic_io import atomic_directory

    try:
        snapshot = Path(
            snapshot_download(entry["hub_id"], revision=entry.get("revision"), allow_patterns=hub_patterns(entry))
        )
    except Exception as error:  # the hub client raises many types for "unreachable" and "not cached"
        raise ConfigError(
            f"saes.{name}", unavailable_message(name, entry, f"{type(error).__name__}: {error}")
        ) from None
    source = snapshot / repo_file(entry["folder"], "")
    if not (source / CONFIG_FILE).is_file():
        raise ConfigError(
            f"saes.{name}.folder", f"{entry['folder']!r} holds no {CONFIG_FILE} in {entry['hub_id']} at {snapshot.name}"
        )
    with atomic_directory(out_dir) as tmp:
        target = Path(tmp) / (Path(entry["folder"]).name or "sae")
        target.mkdir()
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copyfile(path, target / path.name)  # resolves the cache's symlinks
        run_config = snapshot / run_config_file(entry["folder"])
        if entry["format"] == "sparsify" and entry["folder"].strip("/") and run_config.is_file():
            shutil.copyfile(run_config, Path(tmp) / "config.json")  # beside the hookpoint folder, as sparsify keeps it
        record = {"name": name, **entry, "commit": snapshot.name, "files": _hashes(Path(tmp))}
        (Path(tmp) / SAE_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Path(out_dir)


def _hashes(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file below ``folder`` but the record."""
    from interpflow.runtime.model_records import sha256_of_file

    return {
        str(path.relative_to(folder)): sha256_of_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != SAE_RECORD
    }


def source_record(name: str, entry: dict[str, Any], folder: str | Path, spec: PretrainedSpec) -> dict[str, Any]:
    """Where a pretrained SAE came from, for its run's ``sae_config.json``: the entry, the provisioning record
    (commit) of a hub SAE, the sha256 of every file of its folder, and what its files say."""
    folder = Path(folder)
    record = folder.parent / SAE_RECORD
    provisioned = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
    return {
        "name": name,
        **entry,
        "commit": provisioned.get("commit"),
        "files": _hashes(folder),
        "model_name": spec.model_name,
        "model_from_pretrained_kwargs": spec.model_from_pretrained_kwargs,
        "prepend_bos": spec.prepend_bos,
        "context_size": spec.context_size,
        "dataset_path": spec.dataset_path,
        "norm_scaling_factor": spec.norm_scaling_factor,
        "files_config": spec.files_config,
    }
