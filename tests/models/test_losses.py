"""The class-probability losses against closed forms at known logits."""
import math

import pytest
import torch

from models import losses


def sig(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("pi", [0.5, 0.2, 0.9])
def test_minimax_d_loss_closed_form(pi):
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected = pi * -(math.log(sig(2.0)) + math.log(sig(-1.0))) / 2 \
        + (1 - pi) * -(math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    assert losses.minimax_d_loss(real, fake, pi).item() == pytest.approx(expected, rel=1e-6)


def test_saturating_and_nonsaturating_generator_losses():
    fake = torch.tensor([0.5, -3.0, 4.0])
    sat = sum(math.log(1 - sig(v)) for v in (0.5, -3.0, 4.0)) / 3
    ns = -sum(math.log(sig(v)) for v in (0.5, -3.0, 4.0)) / 3
    assert losses.minimax_g_loss(fake).item() == pytest.approx(sat, rel=1e-6)
    assert losses.nonsaturating_g_loss(fake).item() == pytest.approx(ns, rel=1e-6)


def test_losses_are_stable_at_extreme_logits():
    big = torch.tensor([80.0, -80.0])
    for v in (losses.minimax_d_loss(big, -big), losses.minimax_g_loss(big), losses.nonsaturating_g_loss(big)):
        assert torch.isfinite(v)
    # log(1 - σ(80)) ≈ -80, which the naive formula would turn into log(0) = -inf
    assert losses.minimax_g_loss(torch.tensor([80.0])).item() == pytest.approx(-80.0, rel=1e-6)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    # seed 002: when D confidently rejects G(z) (logit << 0) the saturating loss has ~0 gradient
    logit = torch.tensor([-10.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(losses.minimax_g_loss(logit), logit)
    (g_ns,) = torch.autograd.grad(losses.nonsaturating_g_loss(logit), logit)
    assert abs(g_sat.item()) < 1e-4 and abs(g_ns.item()) > 0.99


@pytest.mark.parametrize("pi", [0.5, 0.3])
def test_optimal_discriminator_with_prior(pi):
    # for two point masses with densities p*, pθ at one x, the loss-minimising logit is log(π p* / ((1-π) pθ))
    p_star, p_theta = 0.7, 0.2
    logit = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([logit], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = p_star * losses.minimax_d_loss(logit.view(1), torch.tensor([-1e9]), pi) + \
            p_theta * losses.minimax_d_loss(torch.tensor([1e9]), logit.view(1), pi)
        loss.backward()
        return loss

    opt.step(closure)
    assert logit.item() == pytest.approx(math.log(pi * p_star / ((1 - pi) * p_theta)), abs=1e-4)
