import pytest

from interpflow.sites import FINAL_NORM, Site, block_site, parse_site, residual_stream, residual_streams, sort_sites


@pytest.mark.parametrize(
    "name",
    [
        "blocks.0.hook_resid_pre",
        "blocks.3.hook_attn_out",
        "blocks.10.mlp.hook_pre",
        "blocks.0.mlp.hook_post",
        "blocks.2.hook_mlp_out",
        "blocks.11.hook_resid_post",
        "ln_final.hook_normalized",
    ],
)
def test_names_round_trip(name):
    assert parse_site(name).name == name


def test_constructors_match_parser():
    assert block_site(5, "mlp.hook_pre") == "blocks.5.mlp.hook_pre"
    assert parse_site("blocks.5.mlp.hook_pre") == Site("mlp.hook_pre", 5)
    assert parse_site(FINAL_NORM) == Site(FINAL_NORM)


def test_residual_streams_follow_hugging_face_hidden_states_indexing():
    """Index i < n_layer is block i's input; index n_layer is the final norm's output."""
    assert residual_streams(2) == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", FINAL_NORM]
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
        FINAL_NORM,
        "blocks.10.mlp.hook_pre",
        "blocks.2.hook_mlp_out",
        "blocks.2.hook_resid_pre",
        "blocks.2.hook_mlp_out",
    ]
    assert sort_sites(names) == [
        "blocks.2.hook_resid_pre",
        "blocks.2.hook_mlp_out",
        "blocks.10.mlp.hook_pre",
        FINAL_NORM,
    ]
