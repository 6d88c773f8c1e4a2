"""Config validation: every failure names the key (schema and cross-reference checks)."""

import copy

import pytest
import yaml

from interpflow.config import ConfigError, validate_config
from interpflow.registry import ANALYSES
from tests.conftest import ROOT

SCHEMA = ROOT / "schemas" / "config.schema.yaml"


def merged(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def check(config):
    validate_config(config, SCHEMA, ROOT)


def test_shipped_config_and_overlay_are_valid(project_config):
    check(project_config)
    overlay = yaml.safe_load((ROOT / "overlays" / "embedded.yaml").read_text())
    embedded = merged(project_config, overlay)
    check(embedded)
    for section in ANALYSES:
        assert embedded[section]["models"] == ["embedded"], f"overlay leaves {section} on a hub model"


@pytest.mark.parametrize(
    ("overlay", "key", "fragment"),
    [
        ({"hooks_vs_hidden": {"layer": "ten"}}, "hooks_vs_hidden.layer", "not of type 'integer'"),
        ({"hooks_vs_hidden": {"clip_threshold": -1}}, "hooks_vs_hidden.clip_threshold", ""),
        ({"extraction": {"batch_size": 0}}, "extraction.batch_size", "minimum"),
        ({"device": "tpu"}, "device", "does not match"),
        ({"hooks_vs_hidden": {"models": []}}, "hooks_vs_hidden.models", "non-empty"),
        ({"subspace_removal": {"intervention_layer": "top"}}, "subspace_removal.intervention_layer", ""),
        ({"subspace_removal": {"engine": "fast"}}, "subspace_removal.engine", "is not one of"),
        ({"subspace_removal": {"n_components": 0}}, "subspace_removal.n_components", "minimum"),
    ],
)
def test_wrong_values_name_the_key(project_config, overlay, key, fragment):
    with pytest.raises(ConfigError) as caught:
        check(merged(project_config, overlay))
    assert caught.value.key == key
    assert f"config key '{key}'" in str(caught.value)
    assert fragment in str(caught.value)


def test_unknown_top_level_key(project_config):
    with pytest.raises(ConfigError, match="config key 'hooks_vs_hiden': unknown key"):
        check({**project_config, "hooks_vs_hiden": {}})


def test_unknown_nested_key(project_config):
    with pytest.raises(ConfigError, match=r"config key 'hooks_vs_hidden'.*'clip' was unexpected"):
        check(merged(project_config, {"hooks_vs_hidden": {"clip": 3}}))


def test_missing_required_key(project_config):
    config = copy.deepcopy(project_config)
    del config["hooks_vs_hidden"]["layer"]
    with pytest.raises(ConfigError, match="'layer' is a required property"):
        check(config)


def test_missing_text_file(project_config):
    with pytest.raises(ConfigError, match=r"config key 'texts.plants.path': file .*nowhere.txt' does not exist"):
        check(merged(project_config, {"texts": {"plants": {"path": "resources/texts/nowhere.txt"}}}))


def test_layer_out_of_range_names_model_and_range(project_config):
    overlay = {"hooks_vs_hidden": {"models": ["gpt2-xl", "embedded"], "layer": 20}}
    with pytest.raises(
        ConfigError, match=r"'hooks_vs_hidden.layer': layer 20 is out of range for model 'embedded' \(layers 0..11\)"
    ):
        check(merged(project_config, overlay))


def test_unknown_model_and_text(project_config):
    with pytest.raises(ConfigError, match=r"'hooks_vs_hidden.models\[0\]': unknown model 'gpt3'"):
        check(merged(project_config, {"hooks_vs_hidden": {"models": ["gpt3"]}}))
    with pytest.raises(ConfigError, match=r"'hooks_vs_hidden.text': unknown text set 'poems'"):
        check(merged(project_config, {"hooks_vs_hidden": {"text": "poems"}}))


def test_embedded_width_must_split_into_heads(project_config):
    with pytest.raises(ConfigError, match="models.embedded.n_head"):
        check(merged(project_config, {"models": {"embedded": {"n_head": 5}}}))


def test_middle_layer_resolves_per_model(project_config):
    """'middle' is n_layer // 2 of each model, so it is valid for every model."""
    check(merged(project_config, {"subspace_removal": {"models": ["gpt2", "gpt2-xl", "embedded"]}}))
    both = {"subspace_removal": {"models": ["gpt2-xl", "gpt2"], "inspection_layer": 30}}
    with pytest.raises(
        ConfigError, match=r"'subspace_removal.inspection_layer': layer 30 is out of range for model 'gpt2'"
    ):
        check(merged(project_config, both))


def test_removed_components_are_checked_against_the_tokenized_text(project_config):
    limit = r"'subspace_removal.n_components': 68 must be below the number of tokens of 'ravel' \(68\)"
    with pytest.raises(ConfigError, match=limit):
        check(merged(project_config, {"subspace_removal": {"n_components": 68}}))
    check(merged(project_config, {"subspace_removal": {"n_components": 67}}))


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            {"him": " palinka", "her": " her"},
            r"target ' palinka' is not a single token: it tokenizes as \[' pal', 'inka'\]",
        ),
        ({"him": " him", "she": " her"}, r"groups \['him', 'she'\] do not match the text's groups \['her', 'him'\]"),
        ({"him": " he", "her": " her"}, r"sentence 'I saw him at the market.' does not contain its target token"),
    ],
)
def test_neuron_cluster_targets_are_checked_against_the_sentences(project_config, targets, message):
    config = merged(project_config, {})
    config["neuron_clusters"]["targets"] = targets
    with pytest.raises(ConfigError, match=r"config key 'neuron_clusters.targets': " + message):
        check(config)


def test_repeated_target_needs_a_policy(project_config, tmp_path):
    table = tmp_path / "sentences.tsv"
    table.write_text("sentence\tgroup\nI saw him and him.\thim\nI saw her.\ther\n")
    config = merged(project_config, {"texts": {"pronoun_sentences": {"path": str(table)}}})
    with pytest.raises(ConfigError, match="contains its target 2 times; set target_policy to first, last or mean"):
        check(config)
    check(merged(config, {"neuron_clusters": {"target_policy": "mean"}}))
