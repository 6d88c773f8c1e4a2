import pytest

from interpflow.sites import Site, hidden_state, module_output, parse_site, sort_sites


@pytest.mark.parametrize(
    "name", ["hidden_states.0", "hidden_states.12", "h.3.attn.c_proj", "h.10.mlp.c_fc", "h.0.mlp.c_proj"]
)
def test_names_round_trip(name):
    assert parse_site(name).name == name


def test_constructors_match_parser():
    assert hidden_state(4) == "hidden_states.4"
    assert module_output(5, "mlp.c_fc") == "h.5.mlp.c_fc"
    assert parse_site("h.5.mlp.c_fc") == Site(5, "mlp.c_fc")


@pytest.mark.parametrize(
    "name", ["h.3.attn", "blocks.5.hook_mlp_out", "hidden_states", "h.x.mlp.c_fc", "h.1.mlp.c_fc.extra"]
)
def test_unknown_names_are_rejected_with_the_accepted_forms(name):
    with pytest.raises(ValueError, match="expected 'hidden_states.<i>'"):
        parse_site(name)


def test_unknown_module_is_rejected():
    with pytest.raises(ValueError, match="unknown module"):
        module_output(1, "mlp.act")


def test_sort_is_unique_and_stable():
    names = ["h.10.mlp.c_fc", "hidden_states.2", "h.2.attn.c_proj", "hidden_states.10", "h.2.attn.c_proj"]
    assert sort_sites(names) == ["hidden_states.2", "hidden_states.10", "h.2.attn.c_proj", "h.10.mlp.c_fc"]
