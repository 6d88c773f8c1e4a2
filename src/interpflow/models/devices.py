"""Pick the torch device a stage runs on, from the config's ``device`` setting.

Its own module so that stages which need torch but not transformers (SAE training) do not pay
for importing transformers' model code (about 5 s).
"""

from __future__ import annotations

import torch


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; other values are used as given."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"config key 'device': {setting!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return device


def has_fast_half_precision(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether ``device`` multiplies ``dtype`` (bfloat16, float16) matrices in hardware rather than in a slow
    fallback. CUDA devices do; a CPU does where oneDNN finds bfloat16 (AMX or AVX512-BF16) or float16
    (AMX-FP16, AVX512-FP16) instructions: without them torch's CPU products in half precision run tens to
    hundreds of times slower than in float32 (``benchmarks/low_precision.py`` prints both rates)."""
    if dtype == torch.float32 or torch.device(device).type != "cpu":
        return True
    mkldnn = torch.ops.mkldnn
    probe = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}[dtype]
    return torch.backends.mkldnn.is_available() and bool(getattr(mkldnn, probe)())
