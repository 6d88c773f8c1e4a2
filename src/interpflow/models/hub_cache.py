"""Whether a hub model can be had before any job tries: offline, it must be in the Hugging Face cache.

Light (no torch): the Snakefile asks this before a run starts, for the models the run would
provision (:func:`refuse_unavailable_hub_models`); :func:`interpflow.models.loading.provision_hub_model`
gives the same message from inside the job where the hub was reachable but the download failed.
"""

from __future__ import annotations

import os


class ModelUnavailableError(RuntimeError):
    """A hub model can be neither downloaded nor found in the local cache."""


def unavailable_message(name: str, hub_id: str, reason: str) -> str:
    return (
        f"model '{name}' ({hub_id}) is not available: {reason}\n"
        "Three ways out:\n"
        f"  1. cache it where the hub can be reached: huggingface-cli download {hub_id} "
        "(honours HF_HOME), then rerun (HF_HUB_OFFLINE=1 works once it is cached);\n"
        f"  2. point the config at a local copy: models.{name}: {{source: local, path: <folder>, n_layer: ...}};\n"
        "  3. run on the embedded model: snakemake --configfile overlays/embedded.yaml"
    )


def offline() -> bool:
    """``HF_HUB_OFFLINE`` is set to a true value (as the hub client reads it)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "on", "yes", "true"}


def cached_file(hub_id: str, filename: str, revision: str | None) -> str | None:
    """The path of a hub model's file at ``revision`` (``None``: the default branch) in the HF cache, if there."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, filename, revision=revision)
    return found if isinstance(found, str) else None


def in_cache(hub_id: str, revision: str | None) -> bool:
    """The model's ``config.json`` at ``revision`` is in the HF cache."""
    return cached_file(hub_id, "config.json", revision) is not None


def refuse_unavailable_hub_models(jobs, models: dict) -> None:
    """Raise :class:`ModelUnavailableError` if, offline, one of Snakemake's ``jobs`` would provision a hub
    model that is not in the cache (online the job downloads it; nothing can be known before)."""
    if not offline():
        return
    for job in jobs:
        if job.rule.name == "provision_hub_model":
            name = job.wildcards.model
            entry = models[name]
            if not in_cache(entry["hub_id"], entry.get("revision")):
                at = f" at revision {entry['revision']!r}" if entry.get("revision") else ""
                reason = f"HF_HUB_OFFLINE is set and the Hugging Face cache ({_cache_folder()}) does not hold it{at}"
                raise ModelUnavailableError(unavailable_message(name, entry["hub_id"], reason))


def _cache_folder() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
