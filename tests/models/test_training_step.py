"""The shared training step end to end through Lightning: which network each step moves, and which it leaves alone.

Each test watches the real ``GANModule.discriminator_step`` / ``generator_step`` inside ``trainer.fit`` (on the
lean dispatch and on Lightning's own, which a callback with a backward hook forces) and compares the parameters and
``.grad`` of both networks before and after each step.
"""
from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import models.variants  # noqa: F401  fills the registry
from models.registry import VARIANTS, get_variant

warnings.filterwarnings("ignore", ".*does not have many workers.*")


class ForcesLightningDispatch(pl.Callback):
    """A callback overriding a backward hook: the module must go through ``manual_backward``/``toggled_optimizer``."""

    def on_before_backward(self, trainer, module, loss):
        pass


def snapshot(module: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    params = list(module.parameters())
    return [p.detach().clone() for p in params], [None if p.grad is None else p.grad.clone() for p in params]


def same_grads(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
               for x, y in zip(a, b))


def watch_steps(model) -> list[dict]:
    """Wrap the module's two steps; each call appends what changed in G and in D during it."""
    log: list[dict] = []
    disc = model.discriminators
    for name in ("discriminator_step", "generator_step"):
        original = getattr(model, name)

        def wrapped(*args, _original=original, _name=name):
            g0, gg0 = snapshot(model.generator)
            d0, dg0 = snapshot(disc)
            _original(*args)
            g1, gg1 = snapshot(model.generator)
            d1, dg1 = snapshot(disc)
            log.append({"step": _name[0],
                        "g_moved": any(not torch.equal(a, b) for a, b in zip(g0, g1)),
                        "d_moved": any(not torch.equal(a, b) for a, b in zip(d0, d1)),
                        "g_grads_same": same_grads(gg0, gg1), "d_grads_same": same_grads(dg0, dg1),
                        "d_grads_all_set": all(g is not None for g in dg1),
                        "g_grads_all_set": all(g is not None for g in gg1)})
        setattr(model, name, wrapped)
    return log


def fit(model, shape, callbacks=(), batches: int = 12) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batches * 8, *shape, generator=g) * 2 - 1
    loader = DataLoader(TensorDataset(x, torch.zeros(batches * 8, dtype=torch.long)), batch_size=8, drop_last=True)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=list(callbacks))
    trainer.fit(model, train_dataloaders=loader)


DISCRIMINATOR_VARIANTS = sorted(n for n, cls in VARIANTS.items() if cls.has_discriminator)


@pytest.mark.parametrize("dispatch", ["lean", "lightning"])
@pytest.mark.parametrize("name", DISCRIMINATOR_VARIANTS)
def test_each_step_moves_only_its_network_and_d_gets_no_gradient_from_the_g_step(name, dispatch):
    torch.manual_seed(0)
    warmup = {"critic_warmup": 0} if "critic_warmup" in VARIANTS[name].Config.__dataclass_fields__ else {}
    model = get_variant(name)(data_shape=(2,), num_classes=1, hidden=8, iterations=2, log_every=1, **warmup)
    log = watch_steps(model)
    fit(model, (2,), [ForcesLightningDispatch()] if dispatch == "lightning" else [])
    d_steps, g_steps = [r for r in log if r["step"] == "d"], [r for r in log if r["step"] == "g"]
    assert len(g_steps) == 2 and len(d_steps) == 2 * model.cfg.n_critic
    for r in d_steps:
        # the D step trains D from D's loss alone: G(z) arrives detached, so G's gradients are untouched
        assert r["d_moved"] and not r["d_grads_same"] and not r["g_moved"] and r["g_grads_same"], r
    for r in g_steps:
        # the G step back-propagates through D, frozen: no gradient reaches D's parameters and D stays put
        assert r["g_moved"] and r["g_grads_all_set"] and not r["d_moved"] and r["d_grads_same"], r


@pytest.mark.parametrize("name", ["nsgan", "wgan_gp"])
def test_gradients_flow_end_to_end_through_a_dcgan_lightning_step(name):
    # one real Lightning fit of the paper DCGAN: every G parameter gets a gradient from the G step through D,
    # every D parameter from the D step (BN in D for nsgan, layer norm under the gradient penalty)
    torch.manual_seed(0)
    shape = (1, 28, 28)
    warm = {"n_critic": 1}
    model = get_variant(name)(data_shape=shape, data_kind="image", arch="dcgan", width=4, z_dim=8, iterations=2,
                              log_every=1, **warm)
    log = watch_steps(model)
    fit(model, shape, batches=4)
    assert [r["step"] for r in log] == ["d", "g", "d", "g"]
    assert all(r["d_moved"] and r["d_grads_all_set"] and not r["g_moved"] for r in log if r["step"] == "d")
    assert all(r["g_moved"] and r["g_grads_all_set"] and not r["d_moved"] and r["d_grads_same"]
               for r in log if r["step"] == "g")
    assert all(torch.isfinite(p.grad).all() for p in model.generator.parameters())
