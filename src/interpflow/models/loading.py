"""Provide models: provision hub models, build the embedded models, load any of them.

Every model lives in its own folder (``config.json``, ``*.safetensors``, tokenizer files), so
loading is the same for all: :func:`load_model` reads safetensors only and never runs remote code.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GPT2Tokenizer, PreTrainedTokenizerBase

from interpflow.models.architectures import FAMILIES, adapter_for
from interpflow.models.devices import has_fast_half_precision
from interpflow.models.hub_cache import ModelUnavailableError, unavailable_message  # noqa: F401 (re-exported)
from interpflow.runtime.atomic_io import atomic_directory
from interpflow.runtime.model_records import MODEL_RECORD, read_model_record, write_model_record  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

HUB_FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
]
MODEL_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
FLOATING_SAFETENSORS_DTYPES = {"F64", "F32", "F16", "BF16"}  # what store_model_in_dtype casts
WEIGHTS_INDEX = "model.safetensors.index.json"


def is_commit_hash(revision: str | None) -> bool:
    """A full 40-hex-digit commit hash: the only revision that names the same files forever."""
    return revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def provision_hub_model(name: str, hub_id: str, out_dir: str | Path, revision: str | None = None) -> Path:
    """Copy a hub model's safetensors and tokenizer files at ``revision`` into ``out_dir``.

    ``revision`` is a commit hash, tag or branch; anything but a 40-hex commit (a branch, a tag, ``None``
    for the default branch) is resolved, recorded as the commit it pointed to, and logged as unpinned.
    Uses the Hugging Face cache (``HF_HOME``) and honours ``HF_HUB_OFFLINE``; downloads only when
    the files are not cached and the hub can be reached. The folder's ``interpflow_model.json``
    records the requested revision, the commit it resolved to and the sha256 of every file copied.
    """
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(hub_id, revision=revision, allow_patterns=HUB_FILES))
    except Exception as error:  # the hub client raises many types for "unreachable" and "not cached"
        at = f" at revision {revision!r}" if revision else ""
        reason = f"{type(error).__name__}{at}: {error}"
        raise ModelUnavailableError(unavailable_message(name, hub_id, reason)) from error
    if not any(snapshot.glob("*.safetensors")):
        raise ModelUnavailableError(unavailable_message(name, hub_id, f"no safetensors weights in {snapshot}"))
    commit = snapshot.name  # the cache keeps each snapshot in a folder named by its commit hash
    if not is_commit_hash(revision):
        held = "its default branch" if revision is None else f"the branch or tag {revision!r}"
        log.warning(
            "model '%s' is not pinned: provisioned %s at commit %s, whatever %s held today; "
            "set models.%s.revision: %s to pin it",
            name,
            hub_id,
            commit,
            held,
            name,
            commit,
        )
    with atomic_directory(out_dir) as tmp:
        for path in sorted(snapshot.iterdir()):
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in HUB_FILES):
                shutil.copyfile(path, tmp / path.name)  # resolves the cache's symlinks
        record = {"source": "hub", "name": name, "hub_id": hub_id, "revision": revision, "commit": commit}
        write_model_record(tmp, record)
    return Path(out_dir)


def vendored_tokenizer(tokenizer_dir: str | Path) -> PreTrainedTokenizerBase:
    """The GPT-2 tokenizer from the vendored ``vocab.json`` and ``merges.txt``."""
    return GPT2Tokenizer.from_pretrained(str(tokenizer_dir))


def embedded_config(spec: dict[str, Any], vocab_size: int, eos_token_id: int):
    """The Hugging Face config of an embedded model: ``spec["architecture"]`` (default ``gpt2``)."""
    return FAMILIES[spec.get("architecture", "gpt2")].embedded_config(spec, vocab_size, eos_token_id)


def build_embedded_model(spec: dict[str, Any], tokenizer_dir: str | Path, out_dir: str | Path) -> Path:
    """Build a tiny model of ``spec["architecture"]`` with seeded random weights into ``out_dir``.

    The same ``spec`` (``architecture``, ``n_layer``, ``n_embd``, ``n_head``, ``n_positions``,
    ``seed``) gives byte-identical ``model.safetensors`` on every build with the same torch version.
    """
    tokenizer = vendored_tokenizer(tokenizer_dir)
    config = embedded_config(spec, len(tokenizer), tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        model = AutoModelForCausalLM.from_config(config)
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_model_record(tmp, {"source": "embedded", "name": Path(out_dir).name, "spec": dict(spec)})
    return Path(out_dir)


def store_model_in_dtype(source_dir: str | Path, out_dir: str | Path, dtype: str) -> Path:
    """Write the model folder ``source_dir`` again into ``out_dir`` with every floating-point weight in ``dtype``.

    Each safetensors file is read tensor by tensor (memory: one file's weights in ``dtype``), cast with
    round-to-nearest-even (what :func:`load_model` does when it casts at load time, so the model computes
    the same bits) and written under the same name; integer tensors, the tokenizer and the other files are
    copied as they are, ``config.json`` states the new dtype, and ``interpflow_model.json`` keeps the
    source's identity with the new files' hashes, ``dtype`` and the source's ``weights_sha256``. A stage
    then maps half the bytes of a float32 checkpoint and casts nothing.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    source_dir, target = Path(source_dir), MODEL_DTYPES[dtype]
    source = read_model_record(source_dir)
    with atomic_directory(out_dir) as tmp:
        for path in sorted(source_dir.iterdir()):
            if not path.is_file() or path.name == MODEL_RECORD:
                continue
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as weights:
                    metadata = weights.metadata()
                    tensors = {
                        name: weights.get_tensor(name).to(target)
                        if weights.get_slice(name).get_dtype() in FLOATING_SAFETENSORS_DTYPES
                        else weights.get_tensor(name)
                        for name in weights.keys()  # noqa: SIM118 (safe_open is not a mapping)
                    }
                save_file(tensors, str(tmp / path.name), metadata=metadata)
                del tensors
            elif path.name == "config.json":
                values = json.loads(path.read_text(encoding="utf-8"))
                values.update({key: dtype for key in ("dtype", "torch_dtype") if key in values} or {"dtype": dtype})
                (tmp / path.name).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            elif path.name == WEIGHTS_INDEX:
                index = json.loads(path.read_text(encoding="utf-8"))
                index.get("metadata", {}).pop("total_size", None)  # a size of the source's bytes
                (tmp / path.name).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            else:
                shutil.copyfile(path, tmp / path.name)
        identity = {key: value for key, value in source.items() if key not in ("files", "weights_sha256", "path")}
        stored = {"folder": str(source_dir), "weights_sha256": source["weights_sha256"]}
        write_model_record(tmp, {**identity, "dtype": dtype, "stored_from": stored})
    return Path(out_dir)


def load_tokenizer(model_dir: str | Path) -> PreTrainedTokenizerBase:
    """The model folder's tokenizer, with the end-of-text token doubling as padding."""
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_model(
    model_dir: str | Path, device: torch.device | str = "cpu", n_layer: int | None = None, dtype: str = "float32"
):
    """Load a model folder of any supported family in eval mode (dropout off) in ``dtype`` (``float32``,
    ``bfloat16`` or ``float16``: config ``models.<name>.dtype``), with its tokenizer.

    The family's adapter (:mod:`interpflow.models.architectures`) is checked first, so an unsupported
    ``model_type`` stops before any weight is read. ``n_layer``, when given, is checked against the
    loaded model (the config declares it so the workflow can validate layers before any model is loaded).
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model folder (no config.json)")
    adapter = adapter_for(AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False).model_type)
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), use_safetensors=True, trust_remote_code=False, dtype=MODEL_DTYPES[dtype]
    )
    found = adapter.n_layer(model.config)
    if n_layer is not None and found != n_layer:
        raise ValueError(
            f"{model_dir}: the config declares n_layer {n_layer} but the model has {found}; fix models.<name>.n_layer"
        )
    model.eval()
    model.to(device)
    log.info("loaded %s (%s, %d layers, %s) on %s", model_dir, adapter.family, found, dtype, device)
    if not has_fast_half_precision(device, MODEL_DTYPES[dtype]):
        log.warning(
            "this CPU has no %s matrix instructions (oneDNN finds no AMX or AVX512-BF16/FP16): its products run "
            "far slower than in float32; set models.<name>.dtype: float32 here, %s where a GPU or such a CPU runs it",
            dtype,
            dtype,
        )
    return model, load_tokenizer(model_dir)
