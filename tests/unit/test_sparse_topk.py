"""The sparse TopK step (over the active latents only) against the dense one: the same loss, gradients
and, after 50 steps of training, the same weights and log."""

from __future__ import annotations

import functools

import pytest
import torch

from interpflow.sae.core import topk
from interpflow.sae.core.config import SAEConfig
from interpflow.sae.core.training import log_table, new_state, train_steps
from interpflow.sae.core.variants import VARIANTS, Variant, build_model
from tests.unit.test_dead_latents import sparse_features


def step_variant(sparse: bool) -> Variant:
    base = VARIANTS["topk"]
    return Variant(base.build, functools.partial(topk.loss_terms, sparse=sparse), *_constraints(base))


def _constraints(variant: Variant):
    return variant.constrain_gradient, variant.constrain_weights


def config(**options) -> SAEConfig:
    values = dict(variant="topk", site="x", input_dim=32, latent_dim=512, k=4, l1_weight=0.0)
    values |= dict(decorrelation_weight=0.0, learning_rate=3e-3, seed=0) | options
    return SAEConfig(**values)


@pytest.mark.parametrize("auxk_coefficient", [0.0, 0.25])
def test_one_step_has_the_dense_loss_and_gradients(auxk_coefficient):
    model = build_model(config(auxk_coefficient=auxk_coefficient, k_aux=16))
    with torch.no_grad():
        model.b_pre.copy_(torch.linspace(-0.2, 0.3, 32))
        model.b_enc.copy_(torch.linspace(-0.1, 0.1, 512))
    x = next(sparse_features(0, 64))
    dead = torch.arange(512) % 3 == 0
    results = {}
    for sparse in (False, True):
        model.zero_grad()
        terms, fired = topk.loss_terms(model, x, dead, sparse=sparse)
        terms["loss"].backward()
        grads = {name: parameter.grad.clone() for name, parameter in model.named_parameters()}
        results[sparse] = (terms, fired, grads)
    (dense, dense_fired, dense_grads), (sparse_terms, sparse_fired, sparse_grads) = results[False], results[True]
    for name in ("loss", "mse", "auxk", "l0", "x_hat"):
        torch.testing.assert_close(sparse_terms[name], dense[name], rtol=1e-5, atol=1e-7)
    assert torch.equal(sparse_fired, dense_fired)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-5, atol=1e-8, msg=name)


def test_fifty_steps_of_training_give_the_dense_weights_and_log():
    runs = {}
    for sparse in (False, True):
        state = new_state(config(auxk_coefficient=0.25, k_aux=16), "cpu")
        train_steps(
            state,
            sparse_features(1, 128),
            50,
            dead_after_tokens=640,
            log_every=5,
            variant_override=step_variant(sparse),
        )
        runs[sparse] = state
    dense, sparse = runs[False], runs[True]
    for name, value in dense.model.state_dict().items():
        relative = (sparse.model.state_dict()[name] - value).norm() / value.norm()
        assert relative <= 1e-5, (name, float(relative))
    dense_log, sparse_log = log_table(dense), log_table(sparse)
    assert (dense_log["dead_fraction"] > 0).any()  # AuxK had dead latents to work on
    torch.testing.assert_close(
        torch.tensor(sparse_log.to_numpy()), torch.tensor(dense_log.to_numpy()), rtol=1e-5, atol=1e-8
    )


def test_the_step_is_sparse_where_the_latents_far_outnumber_the_active_ones():
    assert topk.uses_sparse_step(config(latent_dim=24576, k=32))  # GPT-2's residual stream at research shape
    assert not topk.uses_sparse_step(config(input_dim=3072, latent_dim=6144, k=1024))  # the lecture's shape
