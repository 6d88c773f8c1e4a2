import pytest

from interpflow.models.sites import (
    FINAL_NORMALIZED,
    FINAL_OUTPUT,
    Site,
    block_site,
    parse_site,
    residual_stream,
    residual_streams,
    sort_sites,
)


@pytest.mark.parametrize(
    "name",
    [
        "blocks.0.hook_resid_pre",
        "blocks.3.hook_attn_out",
        "blocks.10.mlp.hook_pre",
        "blocks.0.mlp.hook_post",
        "blocks.2.hook_mlp_out",
        "blocks.11.hook_resid_post",
        "blocks.1.attn.hook_q",
        "blocks.1.attn.hook_k",
        "blocks.1.attn.hook_v",
        "blocks.1.attn.hook_pattern",
        "blocks.1.attn.hook_z",
        "blocks.1.hook_resid_mid",
        "ln_final.hook_normalized",
        "ln_final.output",
    ],
)
def test_names_round_trip(name):
    assert parse_site(name).name == name


def test_constructors_match_parser():
    assert block_site(5, "mlp.hook_pre") == "blocks.5.mlp.hook_pre"
    assert parse_site("blocks.5.mlp.hook_pre") == Site("mlp.hook_pre", 5)
    assert parse_site(FINAL_NORMALIZED) == Site(FINAL_NORMALIZED)
    assert parse_site(FINAL_OUTPUT) == Site(FINAL_OUTPUT)


def test_only_the_final_norm_output_is_not_a_transformer_lens_name():
    """Names with ``hook_`` are TransformerLens's; the unembedding's input has a name of its own."""
    assert "hook_" not in FINAL_OUTPUT and FINAL_NORMALIZED == "ln_final.hook_normalized"
    assert not parse_site("blocks.0.attn.hook_z").is_vector and parse_site("blocks.0.hook_resid_mid").is_vector


def test_residual_streams_follow_hugging_face_hidden_states_indexing():
    """Index i < n_layer is block i's input; index n_layer is the final norm's output."""
    assert residual_streams(2) == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", FINAL_OUTPUT]
    assert residual_stream(1, 2) == "blocks.1.hook_resid_pre"
    with pytest.raises(ValueError, match="outside 0..2"):
        residual_stream(3, 2)


@pytest.mark.parametrize(
    "name",
    ["h.3.mlp.c_fc", "hidden_states.2", "blocks.1.hook_mlp", "blocks.x.hook_attn_out", "blocks.1.mlp.hook_pre.x"],
)
def test_unknown_names_are_rejected_with_the_accepted_forms(name):
    with pytest.raises(ValueError, match=r"expected 'blocks.<L>.<hook_resid_pre\|"):
        parse_site(name)


def test_unknown_hook_is_rejected():
    with pytest.raises(ValueError, match="unknown hook"):
        block_site(1, "mlp.hook_mid")


def test_sort_is_unique_and_in_forward_order():
    names = [
        FINAL_OUTPUT,
        "blocks.10.mlp.hook_pre",
        "blocks.2.hook_mlp_out",
        FINAL_NORMALIZED,
        "blocks.2.hook_resid_mid",
        "blocks.2.attn.hook_z",
        "blocks.2.hook_resid_pre",
        "blocks.2.attn.hook_q",
        "blocks.2.hook_mlp_out",
    ]
    assert sort_sites(names) == [
        "blocks.2.hook_resid_pre",
        "blocks.2.attn.hook_q",
        "blocks.2.attn.hook_z",
        "blocks.2.hook_resid_mid",
        "blocks.2.hook_mlp_out",
        "blocks.10.mlp.hook_pre",
        FINAL_NORMALIZED,
        FINAL_OUTPUT,
    ]
