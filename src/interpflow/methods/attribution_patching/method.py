"""attribution_patching's contract with the workflow: sites, pair checks, the patching run compared, files."""

from __future__ import annotations

from interpflow.circuits.pair_checks import check_pair_text
from interpflow.methods.contract import Method, figure_files
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError

# Estimated per head, with no activation patching counterpart: the comparison leaves them out.
QUERY_KEY_SITES = ("attn.hook_q", "attn.hook_k")
# What must match in the activation_patching instance an instance is compared with.
SAME_AS_PATCHING = ("text", "corrupted_column", "answer_column", "wrong_answer_column", "answer_prefix", "positions")


class AttributionPatching(Method):
    name = "attribution_patching"
    report_tables = ("patching",)
    comparison_inputs = {"patching": "patching.parquet"}

    def configured_layers(self, instance, n_layer):
        return []

    def required_sites(self, instance, n_layer):
        """The clean prompts' activations at every estimated site of every block (and the neurons)."""
        hooks = instance["patch_sites"] + (["mlp.hook_post"] if instance["neurons"] else [])
        return [block_site(layer, hook) for hook in hooks for layer in range(n_layer)]

    def check_text(self, instance, key, tokenized):
        """The text set holds prompt pairs of one token length with one-token answers, the positions exist,
        and the activation_patching instance it is compared with (if any) patched the same pairs."""
        check_pair_text(instance, key, tokenized, positions=True)
        if instance["activation_patching"] is not None:
            check_compared_patching(instance, key, tokenized.config)

    def run_files(self, instance, n_layer):
        files = ["patching.parquet", "patching_by_pair.parquet", "pairs.parquet", "neurons.parquet"]
        files += figure_files("patching")
        if instance["activation_patching"] is not None:
            files += ["against_patching.parquet", *figure_files("against_patching")]
        return files


def check_compared_patching(instance: dict, key: str, config: dict) -> None:
    """The named activation_patching instance exists, runs on every model of this one, patched the same
    pairs at the same positions, and patched every site estimated here."""
    name = instance["activation_patching"]
    option = f"{key}.activation_patching"
    patching = (config.get("activation_patching") or {}).get(name)
    if patching is None:
        known = ", ".join(sorted(config.get("activation_patching") or {})) or "none"
        raise ConfigError(option, f"no activation_patching instance {name!r} (instances: {known}); name one, or null")
    for setting in SAME_AS_PATCHING:
        if patching.get(setting) != instance[setting]:
            raise ConfigError(
                option,
                f"activation_patching.{name}.{setting} is {patching.get(setting)!r} but this instance's is "
                f"{instance[setting]!r}: compare runs on the same pairs and positions",
            )
    missing = sorted(set(instance["models"]) - set(patching["models"]))
    if missing:
        raise ConfigError(
            option, f"activation_patching.{name} does not run on {', '.join(missing)}: add them to its models"
        )
    unpatched = sorted(set(instance["patch_sites"]) - set(patching["patch_sites"]) - set(QUERY_KEY_SITES))
    if unpatched:
        raise ConfigError(
            option, f"activation_patching.{name} does not patch {', '.join(unpatched)}: add them to its patch_sites"
        )


METHOD = AttributionPatching()
