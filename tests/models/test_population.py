"""The population engine: member k of a population is the single run of seed k (every registered variant)."""
from __future__ import annotations

import dataclasses
import warnings

import pytest
import pytorch_lightning as pl
import torch

from datamodules import get_datamodule
from datamodules.base import PopulationBatchLoader, TensorBatchLoader
from models import VARIANTS, ConfigError, get_variant
from models.population import GANPopulation, StackedOptimizer

SEEDS = [0, 3]
TINY = dict(iterations=20, hidden=8, log_every=5)


def _trainer() -> pl.Trainer:
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    return pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, max_steps=-1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0)


def _options(variant: str, **extra) -> dict:
    fields = {f.name for f in dataclasses.fields(get_variant(variant).Config)}
    opts = {**TINY, **extra}
    if "critic_warmup" in fields:           # wgan: keep the warm-up path, short
        opts.setdefault("critic_warmup", 3)
    if "code_dim" in fields:
        opts.setdefault("code_dim", 4)
    return opts


def _data(seed: int):
    dm = get_datamodule("ring8")(seed=seed, batch_size=32, num_samples=512)
    dm.setup()
    return dm


def _single(variant: str, seed: int, opts: dict):
    pl.seed_everything(seed, workers=True, verbose=False)           # as benchmark.train.run.prepare
    dm = _data(seed)
    model = get_variant(variant)(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind, **opts)
    _trainer().fit(model, datamodule=dm)
    return model


def _population(variant: str, seeds: list[int], opts: dict, member_options=None, poison: int | None = None):
    dm = _data(0)
    pop = GANPopulation(get_variant(variant), seeds, data_shape=dm.dims, num_classes=dm.num_classes,
                        data_kind=dm.kind, member_options=member_options, **opts)
    if poison is not None:                   # member `poison` starts with a NaN weight: it diverges at once
        with torch.no_grad():
            pop.stacked[0][poison].fill_(float("nan"))
    _trainer().fit(pop, train_dataloaders=dm.population_dataloader(seeds))
    return pop


def _invisible(model) -> set[str]:
    """State a batch-normalised D makes invisible to every loss: the bias of a layer feeding a BatchNorm (and
    that BatchNorm's running mean), and G's output bias (D's first BatchNorm removes a shift of the whole fake
    batch). Their true gradient is 0, so Adam turns rounding noise (which differs between any two
    implementations) into ±lr steps; they cannot change a loss, a score or another parameter."""
    out = set()
    for name, module in model.named_modules():
        children = list(module.children()) if isinstance(module, torch.nn.Sequential) else []
        for i, (a, b) in enumerate(zip(children, children[1:])):
            if isinstance(b, torch.nn.BatchNorm1d) and name.startswith("discriminators"):
                out |= {f"{name}.{i}.bias", f"{name}.{i + 1}.running_mean"}
                if name.endswith("body") and i <= 2:      # D's first normalised layer: G's output shift
                    out |= {n for n, _ in model.generator.named_parameters(prefix="generator")
                            if n.endswith("bias")} & {f"generator.body.{len(model.generator.body) - 2}.bias"}
    return out


def _assert_same(single, member, rtol=1e-4, atol=1e-6) -> None:
    a, b = single.state_dict(), member.state_dict()
    assert a.keys() == b.keys()
    skip = _invisible(single)
    for name in a:
        if name in skip:
            continue
        torch.testing.assert_close(b[name], a[name], rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    assert len(single.history) == len(member.history)
    for ra, rb in zip(single.history, member.history):
        assert ra.keys() == rb.keys()
        for k in ra:
            torch.testing.assert_close(torch.tensor(rb[k]), torch.tensor(ra[k]), rtol=rtol, atol=atol,
                                       msg=lambda m: f"history {k}: {m}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_member_is_its_single_run(variant):
    """20 GAN iterations: every member's weights, buffers and logged history equal its own single run (a variant
    that declares why it cannot be vectorised is refused with that reason instead)."""
    opts = _options(variant)
    reason = VARIANTS[variant].population_unsupported
    if reason:
        from models.config import ConfigError

        with pytest.raises(ConfigError, match="not supported by the population engine"):
            _population(variant, SEEDS, opts)
        return
    pop = _population(variant, SEEDS, opts)
    assert pop.iteration == 20
    for k, seed in enumerate(SEEDS):
        _assert_same(_single(variant, seed, opts), pop.member(k))


@pytest.mark.parametrize("extra", [
    dict(d_norm="batch", hidden=16),                           # per-member BatchNorm statistics
    dict(minibatch_kernels=3, hidden=16),                      # minibatch discrimination (cdist under vmap)
    dict(instance_noise=0.3, feature_matching=0.5, n_discriminators=2),   # noise draws, ensemble, G extra term
    dict(lr_schedule="linear", optimizer="rmsprop", d_norm="spectral"),  # schedule, RMSprop, spectral norm
    dict(r1_gamma=1.0, r2_gamma=0.5, g_ema=0.9),              # R1/R2 by torch.func.vjp, the stacked EMA of G
    dict(r1_gamma=2.0, instance_noise=0.3, n_discriminators=2, variant="rpgan"),  # R1 through noised inputs
    dict(r2_gamma=1.0, g_ema=0.5, variant="dragan"),          # R2 beside DRAGAN's own penalty (torch.func.grad)
], ids=["batchnorm", "minibatch", "noise-fm-ensemble", "linear-rmsprop-spectral", "r1-r2-g_ema",
        "rpgan-r1-noise-ensemble", "dragan-r2-g_ema"])
def test_member_is_single_run_with_options(extra):
    extra = dict(extra)
    variant = extra.pop("variant", "nsgan")
    opts = _options(variant, **extra)
    pop = _population(variant, SEEDS, opts)
    assert pop.iteration == 20
    for k, seed in enumerate(SEEDS):
        _assert_same(_single(variant, seed, opts), pop.member(k))


def test_search_trials_differ_in_optimiser_numbers():
    """Members with their own lr/betas (search trials) are each the single run with those numbers."""
    member = [dict(lr_d=1e-3, beta1=0.0), dict(lr_g=5e-4, beta2=0.9)]
    opts = _options("wgan_gp", iterations=10)
    pop = _population("wgan_gp", SEEDS, opts, member_options=member)
    for k, seed in enumerate(SEEDS):
        _assert_same(_single("wgan_gp", seed, {**opts, **member[k]}), pop.member(k))


def test_a_diverged_member_is_frozen_and_the_others_go_on():
    opts = _options("nsgan", iterations=12)
    pop = _population("nsgan", SEEDS, opts, poison=1)
    assert pop.diverged_at == [None, 0]
    assert pop.member_steps[1] == 5                        # seen at the first flush (log_every=5)
    assert len(pop.histories[1]) == 1 and len(pop.histories[0]) == 3
    frozen = pop.member(1).state_dict()
    assert all(torch.equal(frozen[n][~frozen[n].isnan()], v[~v.isnan()]) for n, v in
               pop.member(1).state_dict().items())
    _assert_same(_single("nsgan", SEEDS[0], opts), pop.member(0))


def test_the_stop_criteria_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="stop criteria.*population"):
        GANPopulation(get_variant("nsgan"), [0, 1], stop_d_above=0.5)
    with pytest.raises(ConfigError, match="differ only in seed"):
        GANPopulation(get_variant("nsgan"), [0, 1], member_options=[{"hidden": 8}, {}])


def test_an_unreproducible_random_op_is_refused():
    class Dropout(get_variant("nsgan")):
        def d_loss(self, real, fake):
            return super().d_loss(real, fake) + torch.nn.functional.dropout(real.score).mean() * 0

    Dropout.name = "nsgan"
    with pytest.raises(Exception, match="dropout.*population member"):
        dm = _data(0)
        pop = GANPopulation(Dropout, [0, 1], data_shape=dm.dims, **_options("nsgan", iterations=1))
        _trainer().fit(pop, train_dataloaders=dm.population_dataloader([0, 1]))


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_stacked_optimizer_is_torchs_per_member(kind):
    torch.manual_seed(0)
    S = 3
    lr, b1, b2 = [1e-3, 3e-4, 2e-2], [0.5, 0.0, 0.9], [0.999, 0.9, 0.99]
    stacked = [torch.randn(S, 4, 5, requires_grad=True), torch.randn(S, 7, requires_grad=True)]
    singles = [[p[k].detach().clone().requires_grad_(True) for p in stacked] for k in range(S)]
    opts = [torch.optim.Adam(ps, lr=lr[k], betas=(b1[k], b2[k])) if kind == "adam" else
            torch.optim.RMSprop(ps, lr=lr[k]) for k, ps in enumerate(singles)]
    for uniform in (False, True):
        lrs = [lr[0]] * S if uniform else lr
        b1s, b2s = ([b1[0]] * S, [b2[0]] * S) if uniform else (b1, b2)
        if uniform:                                      # torch's own operations when members share numbers
            for o in opts:
                for g in o.param_groups:
                    g["lr"], g["betas"] = lr[0], (b1[0], b2[0])
        so = StackedOptimizer(stacked, kind, lrs, b1s, b2s)
        for _ in range(5):
            grads = [torch.randn_like(p) for p in stacked]
            for p, g in zip(stacked, grads):
                p.grad = g
            so.step()
            for k in range(S):
                for p, g in zip(singles[k], grads):
                    p.grad = g[k].clone()
                opts[k].step()
            for k in range(S):
                for p, q in zip(stacked, singles[k]):
                    torch.testing.assert_close(p[k], q, rtol=1e-6, atol=1e-7)
        for k in range(S):                                # restart torch's states for the uniform pass
            opts[k] = (torch.optim.Adam(singles[k], lr=lr[0], betas=(b1[0], b2[0])) if kind == "adam" else
                       torch.optim.RMSprop(singles[k], lr=lr[0]))


def test_a_frozen_member_is_not_stepped():
    p = torch.ones(2, 3, requires_grad=True)
    p.grad = torch.ones(2, 3)
    StackedOptimizer([p], "adam", [0.1, 0.1], [0.5, 0.5], [0.9, 0.9]).step(alive=torch.tensor([True, False]))
    assert torch.all(p[0] < 1) and torch.equal(p[1], torch.ones(3))


@pytest.mark.parametrize("hflip", [False, True])
def test_population_loader_is_each_seeds_loader(hflip):
    data = torch.randint(0, 255, (50, 1, 2, 3), dtype=torch.uint8)
    labels = torch.arange(50)
    seeds = [0, 5, 9]
    pop = PopulationBatchLoader(data, labels, 8, seeds, hflip=hflip)
    singles = [TensorBatchLoader(data, labels, 8, seed=s, hflip=hflip) for s in seeds]
    for _ in range(2):                                     # two passes: two epochs' permutations
        for (x, y), *items in zip(pop, *singles):
            for k, (xs, ys) in enumerate(items):
                assert torch.equal(x[k], xs) and torch.equal(y[k], ys)


def test_a_population_resumed_from_a_checkpoint_continues_every_member_exactly(tmp_path):
    """Checkpoint at iteration 3 (scalars tracked but not flushed, member 1 already non-finite but not yet recorded
    diverged: only its device-side flag and first bad iteration say so), resume in a fresh population: every
    member's weights, history and divergence equal the uninterrupted population's; the frozen member stays frozen."""
    from benchmark.train.checkpoint import AtomicCheckpointIO, RunCheckpoint, list_checkpoints

    opts = _options("wgan_gp", iterations=8)              # 5 D steps per G step: the schedule position matters
    dm = _data(0)

    def fit(pop, directory, every, ckpt_path=None):
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, max_steps=-1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, plugins=[AtomicCheckpointIO()],
                             callbacks=[RunCheckpoint(directory, {}, every, keep=10)])
        trainer.fit(pop, train_dataloaders=dm.population_dataloader(SEEDS), ckpt_path=ckpt_path, weights_only=True)
        return pop

    def population():
        pop = GANPopulation(get_variant("wgan_gp"), SEEDS, data_shape=dm.dims, **opts)
        with torch.no_grad():
            pop.stacked[0][1].fill_(float("nan"))          # member 1 diverges at once
        return pop

    whole = fit(population(), tmp_path / "a", 3)
    at3 = [p for p in list_checkpoints(tmp_path / "a") if p.name == "iter-00000003.ckpt"]
    assert at3, list_checkpoints(tmp_path / "a")
    resumed = fit(population(), tmp_path / "b", 0, ckpt_path=str(at3[0]))
    assert resumed.iteration == whole.iteration == 8
    assert resumed.diverged_at == whole.diverged_at == [None, 0] and resumed.member_steps == whole.member_steps
    assert repr(resumed.histories) == repr(whole.histories)     # repr: member 1's rows hold NaN (nan != nan)
    for k in range(2):
        a, b = whole.member(k).state_dict(), resumed.member(k).state_dict()
        assert all(torch.equal(a[n].nan_to_num(7.0), b[n].nan_to_num(7.0)) for n in a), k
