"""Sites as Hugging Face module names: what SAELens's ``hf_hook_name`` means (a module whose output it hooks)."""

from __future__ import annotations

from interpflow.models.architectures import adapter_for
from interpflow.models.sites import parse_site


def hf_module_output(model_type: str, site: str) -> str | None:
    """The Hugging Face module whose output is ``site``: a block's output is ``blocks.<L>.hook_resid_post``
    and ``blocks.<L + 1>.hook_resid_pre``. None for every other site (no module outputs exactly what it
    holds)."""
    parsed = parse_site(site)
    blocks = adapter_for(model_type).blocks_path
    if parsed.hook == "hook_resid_post":
        return f"{blocks}.{parsed.layer}"
    if parsed.hook == "hook_resid_pre" and parsed.layer > 0:
        return f"{blocks}.{parsed.layer - 1}"
    return None
