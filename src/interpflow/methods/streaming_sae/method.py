"""streaming_sae's contract with the workflow: a corpus method; the SAE's site, corpus checks, files."""

from __future__ import annotations

from interpflow.methods.contract import Method, figure_files
from interpflow.models.layers import resolve_layer
from interpflow.models.sites import block_site
from interpflow.runtime.errors import ConfigError

FIGURES = ["loss_curves", "latent_statistics"]
TABLES = ["evaluation", "latents", "top_contexts", "activation_histograms", "context_activations"]


class StreamingSAE(Method):
    name = "streaming_sae"
    input_kind = "corpus"
    report_tables = ("evaluation",)
    comparison_inputs = {
        "training_logs": "training_log.parquet",
        "evaluations": "evaluation.parquet",
        "sae_configs": "sae_config.json",
    }

    def sae_site(self, instance, n_layer):
        """``blocks.<layer>.<site>``, the site the SAE reads."""
        return block_site(resolve_layer(instance["layer"], n_layer), instance["site"])

    def configured_layers(self, instance, n_layer):
        return [("layer", instance["layer"])]

    def required_sites(self, instance, n_layer):
        return [self.sae_site(instance, n_layer)]

    def check_corpus(self, instance, key, corpus):
        """Held-out shards leave some for training; the token budget and buffer fit the minibatch; the AuxK loss
        is asked of a variant that has one."""
        sae = instance["sae"]
        if sae["auxk_coefficient"] > 0 and sae["variant"] == "tied_ksparse":
            raise ConfigError(
                f"{key}.sae.auxk_coefficient",
                f"{sae['auxk_coefficient']}, but the tied_ksparse SAE has no AuxK loss (its L1 and decorrelation "
                "terms shape its latents); leave it out, or use variant topk or batchtopk",
            )
        if sae["heldout_shards"] >= corpus["n_shards"]:
            raise ConfigError(
                f"{key}.sae.heldout_shards",
                f"{sae['heldout_shards']} held-out shard(s) leave none of corpus "
                f"'{instance['corpus']}''s {corpus['n_shards']} shards for training; lower it or raise n_shards",
            )
        if sae["token_budget"] < sae["batch_tokens"]:
            raise ConfigError(
                f"{key}.sae.token_budget",
                f"{sae['token_budget']} tokens are less than one minibatch of {sae['batch_tokens']}: training "
                "would take no step; raise token_budget or lower batch_tokens",
            )
        if sae["buffer_tokens"] < max(sae["batch_tokens"], corpus["context_size"]):
            raise ConfigError(
                f"{key}.sae.buffer_tokens",
                f"{sae['buffer_tokens']} tokens cannot fill a minibatch of {sae['batch_tokens']} tokens from "
                f"whole windows of {corpus['context_size']}; make it at least batch_tokens + context_size",
            )

    def run_files(self, instance, n_layer):
        evaluated = [
            "sae.safetensors",
            "sae_config.json",
            "training_log.parquet",
            *(f"{table}.parquet" for table in TABLES),
            "core_eval_results.json",
        ]
        if "sweep_point" in instance:  # a sweep's point: trained and evaluated (promote one to an instance to read it)
            return evaluated
        files = [
            "sae.safetensors",
            "sae_config.json",
            "training_log.parquet",
            *(f"{table}.parquet" for table in TABLES),
            "core_eval_results.json",
            "logit_tokens.parquet",
        ]
        return [*files, "saelens", "neuronpedia", "tables/top_contexts.html", *figure_files(*FIGURES)]


METHOD = StreamingSAE()
