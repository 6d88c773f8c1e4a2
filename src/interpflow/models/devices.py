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
