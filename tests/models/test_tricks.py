"""The training tricks of seed 002 as options of the base module: minibatch discrimination,
instance noise, the discriminator ensemble, the stop criteria and feature matching, each against a hand
computation or a counted schedule."""
from __future__ import annotations

import contextlib
from types import SimpleNamespace
import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from models import Critique, get_variant, losses
from models.networks import MinibatchDiscrimination

warnings.filterwarnings("ignore", ".*does not have many workers.*")


# ------------------------------------------------------------------------------ minibatch discrimination
def test_minibatch_discrimination_of_identical_samples_is_batch_size_minus_one():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_features=5, num_kernels=4, kernel_dim=3)
    f = torch.randn(1, 5).repeat(7, 1)
    out = layer(f)
    assert out.shape == (7, 5 + 4)
    torch.testing.assert_close(out[:, :5], f)                         # the input is passed through
    torch.testing.assert_close(out[:, 5:], torch.full((7, 4), 6.0))  # Σ_{j≠i} exp(0) = B - 1


def test_minibatch_discrimination_matches_a_hand_loop_and_vanishes_for_distant_samples():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_features=3, num_kernels=2, kernel_dim=2)
    f = torch.randn(4, 3)
    m = (f @ layer.T).detach().view(4, 2, 2)
    expected = torch.zeros(4, 2)
    for i in range(4):
        for b in range(2):
            expected[i, b] = sum(math.exp(-float((m[i, b] - m[j, b]).abs().sum())) for j in range(4) if j != i)
    torch.testing.assert_close(layer(f)[:, 3:], expected, rtol=1e-5, atol=1e-6)
    far = torch.eye(3) * 1e4                                           # pairwise L1 distances are huge
    assert layer(far)[:, 3:].abs().max().item() < 1e-6


def test_minibatch_discrimination_is_in_the_discriminator_head():
    model = get_variant("nsgan")(data_shape=(2,), hidden=16, minibatch_kernels=5)
    head = model.discriminators[0].head
    assert head.mbd is not None and head.linear.in_features == 16 + 5
    score, feats = model.discriminators[0](torch.randn(6, 2))
    assert score.shape == (6,) and feats.shape == (6, 16)


# ----------------------------------------------------------------------------------------- instance noise
def test_instance_noise_std_anneals_linearly_to_zero():
    model = get_variant("nsgan")(data_shape=(2,), instance_noise=0.4, iterations=100)
    stds = []
    for it in (0, 25, 50, 100, 150):
        model.iteration = it
        stds.append(model.instance_noise_std())
    assert stds == pytest.approx([0.4, 0.3, 0.2, 0.0, 0.0])
    # the critique really adds noise of that std to D's input, and none once annealed
    model.iteration = 50
    x = torch.zeros(20000, 2)
    noisy = model.critique(model.discriminators[0], x, None).x
    assert noisy.std().item() == pytest.approx(0.2, rel=0.03)
    model.iteration = 100
    assert torch.equal(model.critique(model.discriminators[0], x, None).x, x)
    assert get_variant("nsgan")(data_shape=(2,)).instance_noise_std() == 0.0


# ------------------------------------------------------------------------------------------- ensemble
def g_loss_of_one_step(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Run ``generator_step`` without a Trainer and return the loss it back-propagated."""
    seen: list[torch.Tensor] = []
    opt_g = torch.optim.SGD(model.generator.parameters(), lr=0.0)
    model._dispatch = no_trainer_dispatch(None, opt_g, backward=lambda loss: seen.append(loss.detach()))
    model.generator_step(x, model.generator(z), None)
    return seen[0]


def no_trainer_dispatch(opt_d, opt_g, backward=lambda loss: loss.backward()):
    """What the step needs of the Trainer (see models.dispatch.Dispatch), for a module used without one."""
    return SimpleNamespace(opt_d=opt_d, opt_g=opt_g, backward=backward, step=lambda opt: opt.step(),
                           schedulers=[], toggle_g=contextlib.nullcontext)


def test_ensemble_members_grow_in_capacity_and_the_generator_loss_sums_over_them():
    torch.manual_seed(0)
    model = get_variant("nsgan")(data_shape=(2,), hidden=64, n_discriminators=3, iterations=10)
    sizes = [sum(p.numel() for p in d.parameters()) for d in model.discriminators]
    widths = [d.head.linear.in_features for d in model.discriminators]
    assert widths == [16, 32, 64] and sizes[0] < sizes[1] < sizes[2]
    x, z = torch.randn(32, 2), torch.randn(32, model.cfg.z_dim)
    with torch.no_grad():
        fake = model.generator(z)
        expected = sum(losses.nonsaturating_g_loss(d(fake)[0]) for d in model.discriminators)
    assert g_loss_of_one_step(model, x, z).item() == pytest.approx(expected.item(), rel=1e-6)
    # the ensemble's summed D loss is what gets logged (seed 002: progress = Σ_i L^i)
    with torch.no_grad():
        d_sum = sum(losses.minimax_d_loss(d(x)[0], d(fake)[0]) for d in model.discriminators)
    model.scalars.drain()
    opt_d = torch.optim.SGD(model.discriminators.parameters(), lr=0.0)
    model._dispatch = no_trainer_dispatch(opt_d, None)
    model.discriminator_step(x, fake, None)
    assert model.scalars.mean("d_loss") == pytest.approx(d_sum.item(), rel=1e-6)


def test_ebgan_ensemble_of_autoencoders_grows_too():
    model = get_variant("ebgan")(data_shape=(2,), hidden=32, n_discriminators=2)
    sizes = [sum(p.numel() for p in d.parameters()) for d in model.discriminators]
    assert sizes[0] < sizes[1]


# ------------------------------------------------------------------------------------ feature matching
def test_feature_matching_loss_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])                 # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, -2.0]])   # mean (1, 0)
    assert losses.feature_matching_loss(real, fake).item() == pytest.approx(1.0 + 9.0)


def test_feature_matching_is_added_to_the_generator_loss():
    torch.manual_seed(0)
    model = get_variant("nsgan")(data_shape=(2,), hidden=16, feature_matching=0.5)
    x, z = torch.randn(16, 2), torch.randn(16, model.cfg.z_dim)
    with torch.no_grad():
        fake = model.generator(z)
        d = model.discriminators[0]
        (s_fake, h_fake), (_, h_real) = d(fake), d(x)
        expected = losses.nonsaturating_g_loss(s_fake) + 0.5 * losses.feature_matching_loss(h_real, h_fake)
    assert g_loss_of_one_step(model, x, z).item() == pytest.approx(expected.item(), rel=1e-6)
    assert model.scalars.mean("feature_matching") == pytest.approx(
        losses.feature_matching_loss(h_real, h_fake).item(), rel=1e-6)


# ---------------------------------------------------------------------------------------- stop criteria
def test_stop_phase_switches_on_the_criterion_and_is_bounded():
    model = get_variant("nsgan")(data_shape=(2,), stop_d_above=0.5, stop_g_below=0.6, stop_max_steps=3)
    assert model.schedule() == (True, False)                       # starts training D
    model.critic_schedule.advance_stop_phase("d", 0.9, lambda v: v <= 0.5)        # D loss still above C1: keep training D
    assert model.schedule() == (True, False)
    model.critic_schedule.advance_stop_phase("d", 0.4, lambda v: v <= 0.5)        # below C1: switch to G
    assert model.schedule() == (False, True)
    for _ in range(3):                                             # never reaches C2: bounded by 3 steps
        assert model.schedule() == (False, True)
        model.critic_schedule.advance_stop_phase("g", 0.1, lambda v: v >= 0.6)
    assert model.schedule() == (True, False)


def tiny_loader(n: int = 2048, batch_size: int = 16) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    angles = torch.randint(8, (n,), generator=g) * (2 * math.pi / 8)
    x = 2 * torch.stack([angles.cos(), angles.sin()], 1) + 0.02 * torch.randn(n, 2, generator=g)
    return DataLoader(TensorDataset(x, torch.zeros(n, dtype=torch.long)), batch_size=batch_size, drop_last=True)


def fit_counting_steps(**options) -> tuple[object, dict[str, int], list[str]]:
    torch.manual_seed(0)
    model = get_variant("nsgan")(data_shape=(2,), hidden=16, z_dim=4, log_every=1, **options)
    counts = {"d": 0, "g": 0}
    order: list[str] = []
    d_step, g_step = model.discriminator_step, model.generator_step

    def counted(kind, fn):
        def wrapper(*args):
            counts[kind] += 1
            order.append(kind)
            return fn(*args)
        return wrapper

    model.discriminator_step, model.generator_step = counted("d", d_step), counted("g", g_step)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=tiny_loader())
    return model, counts, order


def test_stop_criteria_never_met_alternate_bounded_blocks():
    # C1 unreachable (D loss is never <= -1) and C2 unreachable (D loss never >= 1e9): blocks of stop_max_steps
    model, counts, order = fit_counting_steps(iterations=4, stop_d_above=-1.0, stop_g_below=1e9, stop_max_steps=3)
    assert model.iteration == 4 and "".join(order) == "dddgggdddg" and counts == {"d": 6, "g": 4}


def test_stop_criteria_with_only_c2_terminates():
    # one D step per phase, then G until D's loss reaches C2 (here: immediately, C2 = -inf)
    model, counts, order = fit_counting_steps(iterations=5, stop_g_below=-1e9, stop_max_steps=4)
    assert model.iteration == 5 and counts == {"d": 5, "g": 5}
    assert "".join(order) == "dg" * 5


def test_stop_criteria_with_only_c1_alternates():
    model, counts, order = fit_counting_steps(iterations=3, stop_d_above=1e9)
    assert model.iteration == 3 and "".join(order) == "dg" * 3


def test_both_stop_criteria_compare_the_ensemble_mean_game_value_without_penalties():
    # C1 and C2 see one quantity: mean over the members of the critic loss E f(G(z)) - E f(x), no GP
    torch.manual_seed(0)
    model = get_variant("wgan_gp")(data_shape=(2,), hidden=16, n_discriminators=2, gp_weight=10.0,
                                   stop_d_above=-1e9, stop_g_below=1e9, iterations=10)
    seen = []
    model.critic_schedule.advance_stop_phase = lambda phase, value, done: seen.append((phase, value))
    opt_d = torch.optim.SGD(model.discriminators.parameters(), lr=0.0)
    opt_g = torch.optim.SGD(model.generator.parameters(), lr=0.0)
    model._dispatch = no_trainer_dispatch(opt_d, opt_g)
    x = torch.randn(16, 2)
    fake = model.generator(torch.randn(16, model.cfg.z_dim))
    model.discriminator_step(x, fake.detach(), None)
    model.generator_step(x, fake, None)
    with torch.no_grad():
        by_hand = sum((d(fake)[0].mean() - d(x)[0].mean()).item() for d in model.discriminators) / 2
    assert [p for p, _ in seen] == ["d", "g"]
    assert seen[0][1] == pytest.approx(by_hand, rel=1e-5)
    assert seen[1][1] == pytest.approx(by_hand, rel=1e-5)
    assert model.scalars.mean("d_penalty") > 1e-3               # the penalty exists but is not in the value


# ---------------------------------------------------------------------------------------- checkpoint state
def test_the_checkpoint_keeps_the_owned_helpers_state_dicts_in_the_earlier_flat_format():
    model = get_variant("nsgan")(data_shape=(2,), hidden=8, n_critic=3)
    assert model.schedule() == (True, False)                 # one D step of three into the iteration
    model.iteration = 5
    model.track("d_loss", torch.tensor(0.5))
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    # the keys every earlier checkpoint has, so those resume and these resume on the earlier code
    assert set(checkpoint["ganbench"]) == {"iteration", "history", "diverged_at", "batch_in_iteration", "stop_phase",
                                           "stop_count", "pending", "pending_at"}
    resumed = get_variant("nsgan")(data_shape=(2,), hidden=8, n_critic=3)
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.iteration == 5
    assert resumed.critic_schedule.state_dict() == {"batch_in_iteration": 1, "stop_phase": "d", "stop_count": 0}
    assert resumed.scalars.pending_at == {"d_loss": [5]} and resumed.scalars.mean("d_loss") == 0.5
    assert [resumed.schedule() for _ in range(2)] == [(True, False), (True, True)]    # the same iteration goes on
