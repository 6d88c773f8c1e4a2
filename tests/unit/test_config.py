"""Config validation: instances, defaults, removal, and every failure naming the key.

Overlays are merged with Snakemake's own ``update_config``, the merge ``--configfile`` and
``--config`` go through, so these tests see what a run sees.
"""

import copy
import json
import re

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from interpflow.config import ConfigError, config_as_given, load_schema, validate_config
from interpflow.registry import METHODS
from tests.conftest import ROOT

LECTURE_INSTANCES = {
    "subspace_removal": "ravel",
    "neuron_contrast": "him_her",
    "repeated_token_mi": "coffee",
    "sparse_autoencoder": "palinka",
    "residual_decomposition": "plants",
}
CORPUS_METHODS = ["streaming_sae"]  # instances read a corpus: config.yaml ships none (no corpus of the user's)


def merged(base: dict, *overlays: dict) -> dict:
    out = copy.deepcopy(base)
    for overlay in overlays:
        update_config(out, copy.deepcopy(overlay))
    return out


def check(config) -> dict:
    validate_config(config, ROOT)
    return config


def on_lecture(method: str, options: dict) -> dict:
    """An overlay changing the lecture instance of ``method``."""
    return {method: {LECTURE_INSTANCES[method]: options}}


def schema_defaults(method: str) -> dict:
    """The defaults the schema gives an instance of ``method`` (nested mappings filled too)."""
    schema = load_schema()

    def fill(properties):
        out = {}
        for name, sub in properties.items():
            if "default" in sub:
                out[name] = fill(sub["properties"]) if sub.get("type") == "object" else sub["default"]
        return out

    return fill(schema["$defs"][method]["properties"])


@pytest.fixture(scope="module")
def embedded_overlay():
    return yaml.safe_load((ROOT / "overlays" / "embedded.yaml").read_text())


@pytest.fixture
def embedded_config(project_config, embedded_overlay):
    """The configuration of ``make demo``: the project's config with the embedded overlay merged in."""
    return merged(project_config, embedded_overlay)


def test_shipped_config_has_the_five_lecture_instances(project_config):
    config = check(merged(project_config))
    assert set(LECTURE_INSTANCES) | set(CORPUS_METHODS) <= set(METHODS)
    shipped = {method: list(config[method]) for method in METHODS if config[method]}
    assert shipped == {m: [i] for m, i in LECTURE_INSTANCES.items()}, "config.yaml ships the lectures only"
    assert all(config[method] == {} for method in CORPUS_METHODS) and config["corpora"] == {}


def test_embedded_overlay_puts_every_instance_on_the_embedded_model_and_adds_one_per_method(
    project_config, embedded_overlay
):
    config = check(merged(project_config, embedded_overlay))
    for method, lecture in LECTURE_INSTANCES.items():
        assert len(config[method]) >= 2 and lecture in config[method], method
        for name, instance in config[method].items():
            assert instance["models"] == ["embedded"], f"overlay leaves {method}.{name} on a hub model"


@pytest.mark.parametrize("method", list(LECTURE_INSTANCES))
def test_options_an_instance_leaves_out_take_the_schema_defaults(project_config, method):
    """A lecture instance states only what differs from the defaults; the rest comes from the schema."""
    config = check(merged(project_config))
    instance = config[method][LECTURE_INSTANCES[method]]
    stated = project_config[method][LECTURE_INSTANCES[method]]
    for option, default in schema_defaults(method).items():
        if option not in stated:
            assert instance[option] == default, (method, option)


def test_defaults_match_the_lecture_settings(project_config):
    """The lectures' settings are kept: what config.yaml stated before instances, now via defaults."""
    config = check(merged(project_config))
    mi, sae = config["repeated_token_mi"]["coffee"], config["sparse_autoencoder"]["palinka"]
    assert (mi["bins"], mi["outlier_threshold"], mi["knn"], mi["sublayer"], mi["layer"]) == (
        15,
        4,
        {"n_neighbors": 3, "seed": 0},
        "attn",
        3,
    )
    assert sae["sae"] == {
        "latent_factor": 2,
        "k": None,
        "l1_weight": 1.0,
        "decorrelation_weight": 0.0005,
        "learning_rate": 0.0001,
        "epochs": 100,
        "seed": 0,
        "dtype": "float32",
    }
    assert sae["layer"] == "middle" and sae["plot"] == {"activity_rank": 30, "density_rank": 14, "score_rank": 9}
    sr = config["subspace_removal"]["ravel"]
    assert (sr["inspection_layer"], sr["intervention_layer"], sr["sweep"], sr["engine"]) == (
        9,
        "middle",
        True,
        "cached",
    )


def test_each_instance_gets_its_own_copy_of_a_default(project_config):
    second = {"residual_decomposition": {"second": {"models": ["embedded"], "text": "ravel"}}}
    config = check(merged(project_config, second))
    first, other = config["residual_decomposition"]["plants"], config["residual_decomposition"]["second"]
    first["plot"]["alpha"] = 0.1
    assert other["plot"]["alpha"] == 0.6


def test_an_instance_set_to_null_is_removed(project_config, embedded_overlay):
    config = check(merged(project_config, embedded_overlay, {"repeated_token_mi": {"coffee": None}}))
    assert list(config["repeated_token_mi"]) == ["fruit"]
    config = check(merged(project_config, {"repeated_token_mi": None}))
    assert config["repeated_token_mi"] == {}


def test_a_list_option_is_replaced_whole_not_merged(project_config):
    groups = [{"group": "him", "target": " him"}, {"group": "her", "target": " her"}]
    config = check(merged(project_config, on_lecture("neuron_contrast", {"groups": groups[::-1]})))
    assert config["neuron_contrast"]["him_her"]["groups"] == groups[::-1]


@pytest.mark.parametrize(
    ("overlay", "key", "fragment"),
    [
        (
            on_lecture("residual_decomposition", {"layer": "ten"}),
            "residual_decomposition.plants.layer",
            "is not a layer",
        ),
        (
            on_lecture("residual_decomposition", {"clip_threshold": -1}),
            "residual_decomposition.plants.clip_threshold",
            "",
        ),
        ({"extraction": {"batch_size": 0}}, "extraction.batch_size", "minimum"),
        ({"device": "tpu"}, "device", "does not match"),
        (on_lecture("residual_decomposition", {"models": []}), "residual_decomposition.plants.models", "non-empty"),
        (
            on_lecture("subspace_removal", {"intervention_layer": "top"}),
            "subspace_removal.ravel.intervention_layer",
            "",
        ),
        (on_lecture("subspace_removal", {"engine": "fast"}), "subspace_removal.ravel.engine", "is not one of"),
        (on_lecture("subspace_removal", {"n_components": 0}), "subspace_removal.ravel.n_components", "minimum"),
        ({"subspace_removal": {"Bad-Name": {"models": ["gpt2"], "text": "ravel"}}}, "subspace_removal", "Bad-Name"),
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


def test_unknown_option_of_an_instance(project_config):
    with pytest.raises(
        ConfigError, match=r"config key 'residual_decomposition.plants.clip': unknown key \(did you mean"
    ):
        check(merged(project_config, on_lecture("residual_decomposition", {"clip": 3})))


def test_missing_required_option(project_config):
    new = {"repeated_token_mi": {"tea": {"models": ["gpt2"], "text": "coffee"}}}
    with pytest.raises(ConfigError, match=r"'repeated_token_mi.tea'.*'target' is a required property"):
        check(merged(project_config, new))


def test_missing_text_file(project_config):
    with pytest.raises(ConfigError, match=r"config key 'texts.plants.path': file .*nowhere.txt' does not exist"):
        check(merged(project_config, {"texts": {"plants": {"path": "resources/texts/nowhere.txt"}}}))


def test_layer_out_of_range_names_model_range_and_middle(project_config):
    overlay = on_lecture("residual_decomposition", {"models": ["gpt2-xl", "embedded"], "layer": 20})
    with pytest.raises(
        ConfigError,
        match=r"'residual_decomposition.plants.layer': layer 20 is out of range for model 'embedded': "
        r"its layers are 0..11, or 'middle' \(= 6\)",
    ):
        check(merged(project_config, overlay))


def test_unknown_model_and_text(project_config):
    with pytest.raises(ConfigError, match=r"'residual_decomposition.plants.models\[0\]': unknown model 'gpt3'"):
        check(merged(project_config, on_lecture("residual_decomposition", {"models": ["gpt3"]})))
    with pytest.raises(ConfigError, match=r"'residual_decomposition.plants.text': unknown text set 'poems'"):
        check(merged(project_config, on_lecture("residual_decomposition", {"text": "poems"})))


def test_embedded_width_must_split_into_heads(project_config):
    with pytest.raises(ConfigError, match="models.embedded.n_head"):
        check(merged(project_config, {"models": {"embedded": {"n_head": 5}}}))


def test_middle_layer_resolves_per_model(project_config):
    """'middle' is n_layer // 2 of each model, so it is valid for every model."""
    check(merged(project_config, on_lecture("subspace_removal", {"models": ["gpt2", "gpt2-xl", "embedded"]})))
    both = on_lecture("subspace_removal", {"models": ["gpt2-xl", "gpt2"], "inspection_layer": 30})
    with pytest.raises(
        ConfigError, match=r"'subspace_removal.ravel.inspection_layer': layer 30 is out of range for model 'gpt2'"
    ):
        check(merged(project_config, both))


def test_removed_components_are_checked_against_the_tokenized_text(project_config):
    limit = r"'subspace_removal.ravel.n_components': 68 must be below the number of tokens of 'ravel' \(68\)"
    with pytest.raises(ConfigError, match=limit):
        check(merged(project_config, on_lecture("subspace_removal", {"n_components": 68})))
    check(merged(project_config, on_lecture("subspace_removal", {"n_components": 67})))


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (
            [("him", " palinka"), ("her", " her")],
            r"target ' palinka' is not a single token: it tokenizes as \[' pal', 'inka'\]",
        ),
        (
            [("him", " him"), ("she", " her")],
            r"groups \['him', 'she'\] do not match the groups of text set 'pronoun_sentences': \['her', 'him'\]",
        ),
        ([("him", " he"), ("her", " her")], r"row 1 \('I saw him at the market.'\) has no ' he'"),
        ([("him", " him"), ("him", " her")], r"needs two different groups"),
    ],
)
def test_neuron_contrast_groups_are_checked_against_the_texts(project_config, groups, message):
    entries = [{"group": group, "target": target} for group, target in groups]
    with pytest.raises(ConfigError, match=r"config key 'neuron_contrast.him_her.groups': " + message):
        check(merged(project_config, on_lecture("neuron_contrast", {"groups": entries})))


def test_repeated_target_needs_a_policy(project_config, tmp_path):
    table = tmp_path / "sentences.tsv"
    table.write_text("sentence\tgroup\nI saw him and him.\thim\nI saw her.\ther\n")
    config = merged(project_config, {"texts": {"pronoun_sentences": {"path": str(table)}}})
    with pytest.raises(
        ConfigError, match=r"row 1 \('I saw him and him.'\) contains ' him' 2 times; set target_policy to first, last"
    ):
        check(config)


def test_groups_need_a_text_set_with_a_group_column(project_config):
    config = merged(project_config, {"texts": {"pronoun_sentences": {"group_column": None}}})
    with pytest.raises(
        ConfigError, match=r"'texts.pronoun_sentences.group_column': 'neuron_contrast.him_her' compares"
    ):
        check(config)


def write_stimuli(folder, suffix: str, rows: list[dict]) -> str:
    path = folder / f"stimuli{suffix}"
    frame = pd.DataFrame(rows)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        frame.to_parquet(path, index=False)
    return str(path)


SHE_HE = [
    {"sentence": "Yesterday she left early, as planned.", "kind": "she"},
    {"sentence": "Yesterday he left early, as planned.", "kind": "he"},
    {"sentence": "At noon she called.", "kind": "she"},
    {"sentence": "At noon he called.", "kind": "he"},
]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_own_stimuli_in_every_table_format_make_an_instance(project_config, tmp_path, suffix):
    path = write_stimuli(tmp_path, suffix, SHE_HE)
    overlay = {
        "texts": {"mine": {"path": path, "text_column": "sentence", "group_column": "kind"}},
        "neuron_contrast": {
            "she_he": {
                "models": ["embedded"],
                "text": "mine",
                "groups": [{"group": "she", "target": " she"}, {"group": "he", "target": " he"}],
            }
        },
    }
    config = check(merged(project_config, overlay))
    assert config["neuron_contrast"]["she_he"]["target_policy"] == "unique"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_an_empty_row_is_named_with_its_file(project_config, tmp_path, suffix):
    rows = [*SHE_HE[:2], {"sentence": "   ", "kind": "she"}]
    path = write_stimuli(tmp_path, suffix, rows)
    overlay = {"texts": {"mine": {"path": path, "text_column": "sentence", "group_column": "kind"}}}
    with pytest.raises(
        ConfigError, match=rf"config key 'texts.mine.text_column': '.*stimuli\{suffix}': row 3( \(line \d\))? is empty"
    ):
        check(merged(project_config, overlay))


def test_a_missing_column_names_the_columns_there_are(project_config, tmp_path):
    path = write_stimuli(tmp_path, ".jsonl", SHE_HE)
    overlay = {"texts": {"mine": {"path": path}}}
    with pytest.raises(
        ConfigError, match=r"'texts.mine.text_column': .* has no column 'text' \(its columns: sentence, kind\)"
    ):
        check(merged(project_config, overlay))


def command_line(*entries: str) -> dict:
    """What ``--config ENTRY ...`` adds, parsed by Snakemake's own parser."""
    from snakemake.cli import parse_config

    return parse_config(list(entries))


def test_command_line_values_are_typed_where_the_schema_needs_it(project_config):
    added = command_line(
        "residual_decomposition={extra: {models: [embedded], text: coffee, layer: 2, clip_threshold: null}}"
    )
    assert added["residual_decomposition"]["extra"]["layer"] == "2"  # Snakemake hands nested values over as strings
    config = check(merged(project_config, added))
    extra = config["residual_decomposition"]["extra"]
    assert extra["layer"] == 2 and extra["clip_threshold"] is None and extra["all_layers"] is True


def test_command_line_null_removes_an_instance_and_strings_stay_strings(project_config, embedded_overlay):
    config = check(merged(project_config, embedded_overlay, command_line("repeated_token_mi={fruit: null}")))
    assert list(config["repeated_token_mi"]) == ["coffee"]
    config = check(merged(project_config, command_line("repeated_token_mi=")))
    assert config["repeated_token_mi"] == {}
    groups = 'neuron_contrast={him_her: {groups: [{group: her, target: " her"}, {group: him, target: " him"}]}}'
    config = check(merged(project_config, command_line(groups)))
    assert config["neuron_contrast"]["him_her"]["groups"][0] == {"group": "her", "target": " her"}


# --- one early error for every bad input (texts, ranges, targets), for every method -------------
TEXT_PROBLEMS = {
    # case -> (file content, the option named, words the message must hold)
    "empty": (b"", "path", ["only whitespace", "remove it or give it text"]),
    "whitespace only": (b" \n\t \n", "path", ["only whitespace"]),
    "not UTF-8": ("Pálinka és kávé".encode("latin-1"), "path", ["is not UTF-8: line", "byte 2 of the line"]),
    "unreadable": (None, "path", ["is not a readable file"]),
    "too long": (("The cat sat him down. " * 12).encode(), None, ["tokens, more than the 32", "(n_positions)"]),
}


def short_model(project_config, n_positions: int = 32) -> dict:
    """The embedded model's shape with a short context window, as model 'short'."""
    return {"short": {**project_config["models"]["embedded"], "n_positions": n_positions}}


def stimulus(folder, case: str, table: bool) -> dict:
    """A text set with the problem ``case`` (a sentence table for methods that compare groups)."""
    content, _, _ = TEXT_PROBLEMS[case]
    path = folder / ("sentences.tsv" if table else "text.txt")
    if content is None:
        path.mkdir()  # a folder where a file should be: it exists, but cannot be read
        return {"path": str(path)}
    if not table:
        path.write_bytes(content)
        return {"path": str(path)}
    rows = [
        b"I saw him there.\thim",
        b"I saw her there.\ther",
        content.replace(b"\n", b" ").replace(b"\t", b" ") + b"\thim",
    ]
    path.write_bytes(b"sentence\tgroup\n" + b"\n".join(rows) + b"\n")
    return {"path": str(path), "text_column": "sentence", "group_column": "group"}


@pytest.mark.parametrize("case", list(TEXT_PROBLEMS))
@pytest.mark.parametrize("method", list(LECTURE_INSTANCES))
def test_every_text_problem_is_one_early_error_for_every_method(project_config, tmp_path, method, case):
    """Each problem of the text an instance reads stops validation with its key, file and fix."""
    instance = LECTURE_INSTANCES[method]
    text = project_config[method][instance]["text"]
    table = method == "neuron_contrast"
    overlay = {
        "models": short_model(project_config),
        "texts": {text: stimulus(tmp_path, case, table)},
        method: {instance: {"models": ["short"]}},
    }
    _, option, words = TEXT_PROBLEMS[case]
    if table and case in ("empty", "whitespace only"):
        option, words = "text_column", ["row 3 (line 4) is empty", "remove it or give it text"]
    with pytest.raises(ConfigError) as caught:
        check(merged(project_config, overlay))
    assert caught.value.key == (f"{method}.{instance}.text" if option is None else f"texts.{text}.{option}")
    message = str(caught.value)
    assert all(word in message for word in words), message
    assert str(tmp_path) in message, message  # the file is named


def test_a_text_that_fits_the_context_window_passes(project_config):
    on_short = on_lecture("sparse_autoencoder", {"models": ["short"]})  # palinka: 220 tokens
    check(merged(project_config, {"models": short_model(project_config, 220)}, on_short))
    too_long = r"'sparse_autoencoder.palinka.text': .* its text has 220 tokens, more than the 219"
    with pytest.raises(ConfigError, match=too_long):
        check(merged(project_config, {"models": short_model(project_config, 219)}, on_short))


def local_model_folder(folder, config_json: str):
    """A folder that looks like a saved model: ``config.json`` and a (here empty) safetensors file."""
    (folder / "config.json").write_text(config_json)
    (folder / "model.safetensors").touch()


def test_a_local_model_context_window_is_read_from_its_config_json(project_config, tmp_path):
    local_model_folder(tmp_path, '{"model_type": "gpt2", "n_positions": 50}')
    local = {"models": {"mine": {"source": "local", "path": str(tmp_path), "n_layer": 12}}}
    overlay = on_lecture("residual_decomposition", {"models": ["mine"]})
    check(merged(project_config, local, overlay))  # plants: one short line
    with pytest.raises(ConfigError, match=r"more than the 50 that model 'mine' reads at once"):
        check(merged(project_config, local, on_lecture("subspace_removal", {"models": ["mine"]})))  # ravel: 68


def test_a_local_model_of_an_unsupported_family_stops_at_start_up(project_config, tmp_path):
    local_model_folder(tmp_path, '{"model_type": "t5", "n_positions": 512}')
    local = {"models": {"mine": {"source": "local", "path": str(tmp_path), "n_layer": 12}}}
    with pytest.raises(ConfigError, match=r"model_type 't5' has no adapter \(supported: gemma2, gpt2, gpt_neox, llama"):
        check(merged(project_config, local))


LOCAL_MODEL_PROBLEMS = {
    # case -> (the folder's files, the key named, the message)
    "missing": (None, "models.mine.path", "does not exist (or is not a folder)"),
    "no config.json": ({"model.safetensors": ""}, "models.mine.path", "is not a model folder: it has no config.json"),
    "no weights": (
        {"config.json": '{"model_type": "gpt2"}', "pytorch_model.bin": ""},
        "models.mine.path",
        "it has no safetensors weights",
    ),
    "other n_layer": (
        {"config.json": '{"model_type": "gpt2", "n_layer": 6}', "model.safetensors": ""},
        "models.mine.n_layer",
        "12, but the model's config.json says 6 blocks; set n_layer: 6",
    ),
    "other num_hidden_layers": (
        {"config.json": '{"model_type": "llama", "num_hidden_layers": 2}', "model.safetensors": ""},
        "models.mine.n_layer",
        "says 2 blocks",
    ),
}


@pytest.mark.parametrize("case", list(LOCAL_MODEL_PROBLEMS))
def test_a_local_model_folder_is_checked_at_start_up(project_config, tmp_path, case):
    files, key, message = LOCAL_MODEL_PROBLEMS[case]
    folder = tmp_path / "mine"
    if files is not None:
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_text(content)
    local = {"models": {"mine": {"source": "local", "path": str(folder), "n_layer": 12}}}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        check(merged(project_config, local))
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("method", "sae", "message"),
    [
        # the embedded model: d_model 128, d_mlp 4 x 128; both instances read block 6 (the middle)
        (
            "streaming_sae",
            {"latent_factor": 1, "k": 129},
            "the SAE's 128 latents (latent_factor 1 x 128, the width of blocks.6.hook_resid_pre on model 'embedded')",
        ),
        (
            "sparse_autoencoder",
            {"latent_factor": 1, "k": 513},
            "the SAE's 512 latents (latent_factor 1 x 512, the width of blocks.6.mlp.hook_pre on model 'embedded')",
        ),
    ],
)
def test_k_above_the_latents_stops_at_start_up(embedded_config, method, sae, message):
    instance = next(iter(embedded_config[method]))
    overlay = {method: {instance: {"sae": sae}}}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        check(merged(embedded_config, overlay))
    assert caught.value.key == f"{method}.{instance}.sae.k"
    check(merged(embedded_config, {method: {instance: {"sae": {**sae, "k": sae["k"] - 1}}}}))  # k = latents is allowed


def test_a_category_that_occurs_nowhere_in_the_text_stops_at_start_up(embedded_config):
    instance = next(iter(embedded_config["sparse_autoencoder"]))
    nowhere = {"sparse_autoencoder": {instance: {"category": {"name": "metals", "words": ["tungsten", "cobalt"]}}}}
    with pytest.raises(ConfigError, match=r"none of \['tungsten', 'cobalt'\] occurs in text set") as caught:
        check(merged(embedded_config, nowhere))
    assert caught.value.key == f"sparse_autoencoder.{instance}.category.words"
    somewhere = {"sparse_autoencoder": {instance: {"category": {"name": "metals", "words": ["tungsten", "Hungary"]}}}}
    check(merged(embedded_config, somewhere))  # one word that occurs is enough


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        (on_lecture("residual_decomposition", {"layer": -1}), "residual_decomposition.plants.layer"),
        (on_lecture("subspace_removal", {"inspection_layer": -3}), "subspace_removal.ravel.inspection_layer"),
        (on_lecture("neuron_contrast", {"layers": [5, -2]}), "neuron_contrast.him_her.layers.1"),
        (on_lecture("sparse_autoencoder", {"layer": "centre"}), "sparse_autoencoder.palinka.layer"),
    ],
)
def test_a_bad_layer_says_the_valid_range_and_middle(project_config, overlay, key):
    with pytest.raises(ConfigError) as caught:
        check(merged(project_config, overlay))
    assert caught.value.key == key
    assert "is not a layer: a layer is a block index from 0 (the first block) to n_layer - 1" in str(caught.value)
    assert "'middle' (n_layer // 2)" in str(caught.value)


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        (on_lecture("repeated_token_mi", {"target": "coffee"}), "repeated_token_mi.coffee.target"),
        (
            on_lecture(
                "neuron_contrast", {"groups": [{"group": "him", "target": "him"}, {"group": "her", "target": " her"}]}
            ),
            "neuron_contrast.him_her.groups",
        ),
    ],
)
def test_a_target_without_its_leading_space_gets_the_hint(project_config, overlay, key):
    with pytest.raises(ConfigError) as caught:
        check(merged(project_config, overlay))
    assert caught.value.key == key
    assert "words inside a text carry their leading space: write ' " in str(caught.value)


def corpus_overlay(tmp_path, corpus: dict, instance: dict | None = None) -> dict:
    return {
        "corpora": {"web": corpus},
        "streaming_sae": {"sae": {"models": ["embedded"], "corpus": "web", **(instance or {})}},
    }


def test_a_corpus_instance_takes_the_schema_defaults(project_config):
    overlay = corpus_overlay(None, {"paths": ["resources/texts/*.txt"], "context_size": 16})
    config = check(merged(project_config, overlay))
    corpus, instance = config["corpora"]["web"], config["streaming_sae"]["sae"]
    assert corpus == {
        "paths": ["resources/texts/*.txt"],
        "text_field": "text",
        "context_size": 16,
        "max_tokens": None,
        "n_shards": 4,
        "prepend_bos": True,
        "dtype": "float32",
    }
    assert (instance["layer"], instance["site"]) == ("middle", "hook_resid_pre")
    assert instance["sae"]["variant"] == "topk" and instance["sae"]["k"] == 32
    assert instance["interpretation"]["top_k"] == 10 and "category" not in instance


@pytest.mark.parametrize(
    ("corpus", "instance", "key", "fragment"),
    [
        ({"paths": ["nowhere/*.jsonl"]}, {}, "corpora.web.paths", "matches no file"),
        ({"paths": ["resources/texts/*.txt"], "n_shards": 1}, {}, "corpora.web.n_shards", "minimum of 2"),
        (
            {"paths": ["resources/texts/*.txt"], "context_size": 4096},
            {},
            "corpora.web.context_size",
            "more than the 1024",
        ),
        ({"paths": ["resources/texts/*.txt"], "max_tokens": 100}, {}, "corpora.web.max_tokens", "at least 512"),
        ({"paths": ["resources/texts/*.txt"]}, {"site": "resid"}, "streaming_sae.sae.site", "is not one of"),
        ({"paths": ["resources/texts/*.txt"]}, {"layer": 12}, "streaming_sae.sae.layer", "out of range"),
        (
            {"paths": ["resources/texts/*.txt"]},
            {"sae": {"buffer_tokens": 1000}},
            "streaming_sae.sae.sae.buffer_tokens",
            "at least",
        ),
        (
            {"paths": ["resources/texts/*.txt"]},
            {"sae": {"token_budget": 1000}},
            "streaming_sae.sae.sae.token_budget",
            "less than one minibatch of 4096: training would take no step",
        ),
    ],
)
def test_corpus_problems_are_early_errors_with_the_key(project_config, corpus, instance, key, fragment):
    with pytest.raises(ConfigError, match=fragment) as caught:
        check(merged(project_config, corpus_overlay(None, corpus, instance)))
    assert caught.value.key == key


def test_a_sweep_is_one_instance_per_combination_of_its_lists_in_place_of_the_instance(project_config):
    corpus = {"paths": ["resources/texts/*.txt"], "context_size": 16}
    overlay = corpus_overlay(None, corpus, {"sae": {"k": [8, 16], "latent_factor": [2, 4], "learning_rate": 0.001}})
    overlay["streaming_sae"]["after"] = {"models": ["embedded"], "corpus": "web"}
    section = check(merged(project_config, overlay))["streaming_sae"]
    points = [f"sae-k={k}-latent_factor={factor}" for k in (8, 16) for factor in (2, 4)]
    assert list(section) == [*points, "after"]  # the sweep's place in the order is kept
    for name, (k, factor) in zip(points, [(8, 2), (8, 4), (16, 2), (16, 4)], strict=True):
        instance = section[name]
        assert (instance["sae"]["k"], instance["sae"]["latent_factor"], instance["sae"]["learning_rate"]) == (
            k,
            factor,
            0.001,
        )
        assert instance["sweep_point"] == {"sweep": "sae", "values": {"k": k, "latent_factor": factor}}
        assert instance["layer"] == "middle"  # every other option as the sweep gave it
    assert "sweep_point" not in section["after"]


def test_the_configuration_as_given_keeps_a_sweep_whole_and_validates_to_the_same_points(project_config):
    corpus = {"paths": ["resources/texts/*.txt"], "context_size": 16}
    overlay = corpus_overlay(None, corpus, {"sae": {"k": [16, 8], "seed": [1, 0]}})
    overlay["streaming_sae"]["after"] = {"models": ["embedded"], "corpus": "web"}
    config = check(merged(project_config, overlay))
    given = config_as_given(config)
    assert list(given["streaming_sae"]) == ["sae", "after"]
    assert (given["streaming_sae"]["sae"]["sae"]["k"], given["streaming_sae"]["sae"]["sae"]["seed"]) == (
        [16, 8],
        [1, 0],
    )
    assert "sweep_point" not in given["streaming_sae"]["sae"] and len(config["streaming_sae"]) == 5  # config kept
    assert check(copy.deepcopy(given)) == config


@pytest.mark.parametrize(
    ("sae", "key", "fragment"),
    [
        (
            {"batch_tokens": [128, 256]},
            "streaming_sae.sae.sae.batch_tokens",
            re.escape(
                "[128, 256]: a list is a sweep, and batch_tokens cannot be swept (the options that can: variant, "
                "latent_factor, k, auxk_coefficient, learning_rate, seed); give one value"
            ),
        ),
        ({"k": []}, "streaming_sae.sae.sae.k", "should be non-empty"),
        ({"k": [8, 8]}, "streaming_sae.sae.sae.k", "has non-unique elements"),
        ({"variant": "tied_ksparse", "auxk_coefficient": 0.1}, "streaming_sae.sae.sae.auxk_coefficient", "no AuxK"),
        ({"k": [8, 600]}, "streaming_sae.sae-k=600.sae.k", "more than the SAE's 512 latents"),
    ],
)
def test_sweep_and_auxk_problems_are_early_errors_with_the_key(project_config, sae, key, fragment):
    corpus = {"paths": ["resources/texts/*.txt"], "context_size": 16}
    with pytest.raises(ConfigError, match=fragment) as caught:
        check(merged(project_config, corpus_overlay(None, corpus, {"sae": sae})))
    assert caught.value.key == key


@pytest.mark.parametrize("method", sorted(LECTURE_INSTANCES))
def test_restated_defaults_in_another_order_give_the_same_options_in_the_same_order(project_config, method):
    """The options rules see as params are canonical: restating every option (defaults included), with
    keys in reverse order at every depth, gives the same options in the same key order (what Snakemake
    compares)."""

    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        return value

    plain = check(merged(project_config))[method][LECTURE_INSTANCES[method]]
    restated = check(merged(project_config, on_lecture(method, reversed_keys(plain))))
    options = restated[method][LECTURE_INSTANCES[method]]
    assert json.dumps(options) == json.dumps(plain)
    assert list(options) == sorted(options)


@pytest.mark.parametrize(
    "overlay, key, hint",
    [
        ({"hooks_vs_hiden": {}}, "hooks_vs_hiden", None),
        ({"residual_decompositon": {}}, "residual_decompositon", "residual_decomposition"),
        (on_lecture("sparse_autoencoder", {"sae": {"epoch": 5}}), "sparse_autoencoder.palinka.sae.epoch", "epochs"),
        (on_lecture("neuron_contrast", {"tnse": {"perplexity": 5}}), "neuron_contrast.him_her.tnse", "tsne"),
    ],
)
def test_a_misspelled_key_is_named_with_the_closest_known_key(project_config, overlay, key, hint):
    with pytest.raises(ConfigError) as caught:
        check(merged(project_config, overlay))
    message = str(caught.value)
    assert f"config key '{key}': unknown key" in message
    assert (f"did you mean '{hint}'?" in message) if hint else ("did you mean" not in message)


@pytest.mark.parametrize(
    "entry, path, expected",
    [
        ("neuron_contrast={him_her: {layers: [5]}}", ("neuron_contrast", "him_her", "layers"), [5]),
        ("neuron_contrast={him_her: {layers: [3, middle]}}", ("neuron_contrast", "him_her", "layers"), [3, "middle"]),
        ("models={gpt2: {n_layer: 12}}", ("models", "gpt2", "n_layer"), 12),
    ],
)
def test_command_line_lists_and_entries_under_one_of_are_typed(project_config, entry, path, expected):
    """``--config`` hands list items and values under ``oneOf`` over as strings too (``['5']``)."""
    added = command_line(entry)
    value = added
    for key in path:
        value = value[key]
    assert value != expected, "Snakemake's parser gives strings: the check would be empty"
    config = check(merged(project_config, added))
    for key in path:
        config = config[key]
    assert config == expected


def test_the_demo_corpus_reads_a_folder_of_its_own(embedded_overlay):
    """A file dropped into resources/texts/ (a new text set, say) never joins the demo corpus."""
    from interpflow.stores.corpus import corpus_files

    patterns = embedded_overlay["corpora"]["demo_corpus"]["paths"]
    files = corpus_files(patterns, ROOT)
    assert files and all(path.parent == ROOT / "resources" / "corpora" / "demo" for path in files)
    assert not any("resources/texts" in pattern for pattern in patterns)


def test_a_key_given_twice_in_a_config_file_is_an_error_naming_the_file_and_lines(tmp_path):
    from interpflow.config import check_unique_keys

    path = tmp_path / "study.yaml"
    path.write_text("neuron_contrast:\n  she_he:\n    alpha: 0.01\n  she_he:\n    alpha: 0.05\n")
    with pytest.raises(ConfigError, match=r"config key 'she_he': given twice in .*study.yaml, at lines 2 and 4"):
        check_unique_keys([path])
    path.write_text("neuron_contrast:\n  she_he: {alpha: 0.01}\n  him_her: {alpha: 0.01}\n")
    check_unique_keys([path, ROOT / "config.yaml", *sorted((ROOT / "overlays").glob("*.yaml"))])


def test_a_cluster_jobs_process_fills_the_defaults_without_reading_the_files(project_config):
    """The snakemake a cluster job starts validates without the references check (the run's own process
    did it before submitting): the same options, and a text file it would have read is not opened."""
    checked = check(copy.deepcopy(project_config))
    config = merged(project_config, {"texts": {"ravel": {"path": "resources/texts/absent.txt"}}})
    with pytest.raises(ConfigError, match="absent.txt"):
        check(copy.deepcopy(config))
    validate_config(config, ROOT, references=False)
    assert config["subspace_removal"] == checked["subspace_removal"]


@pytest.mark.parametrize(
    ("overlay", "key", "message"),
    [
        # a value inside a oneOf (a model entry of any source): the branch its source names, and its allowed values
        (
            {"models": {"embedded": {"dtype": "bfloat17"}}},
            "models.embedded.dtype",
            "'bfloat17' is not one of float32, bfloat16, float16",
        ),
        (
            {"saes": {"mine": {"source": "local", "path": "saes/mine", "format": "safetensors_raw"}}},
            "saes.mine.format",
            "'safetensors_raw' is not one of sae_lens, sparsify",
        ),
        # an unknown key of the branch the entry's source names, not the whole mapping
        ({"models": {"embedded": {"source": "hub"}}}, "models.embedded.architecture", "unknown key"),
        # a scalar of a kind no branch takes: the branches in words
        (
            {"streaming_sae": {"demo_topk": {"sae": {"k_aux": "many"}}}},
            "streaming_sae.demo_topk.sae.k_aux",
            "'many' is none of: integer (minimum 1); null",
        ),
    ],
)
def test_a_value_that_fits_no_branch_is_reported_in_the_branch_it_was_meant_for(embedded_config, overlay, key, message):
    with pytest.raises(ConfigError) as caught:
        check(merged(embedded_config, overlay))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"config key '{key}': {message}")  # (an unknown key adds where to look)
    assert "is not valid under any of the given schemas" not in str(caught.value)
