"""The two step fast paths change no number.

* Fused steps: ``fuse_iterations=k`` trains ``k * n_critic`` stacked batches per Lightning ``training_step``;
  the loader's stream, the batches' order and every parameter must equal ``k = 1`` bit for bit.
* Lean dispatch: ``loss.backward()`` and ``optimizer.step()`` without Lightning's no-op hook dispatch; the
  parameters must equal Lightning's path, which a callback that overrides a backward hook forces.
"""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from benchmark.train import run as runner
from benchmark.train.options import resolve
from datamodules import TensorBatchLoader
from models import ConfigError
from models.fusion import FUSE_MAX

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------------------------- loader
def _flat(loader, items):
    xs, ys = [], []
    it = iter(loader)
    while len(xs) < items:
        try:
            x, y = next(it)
        except StopIteration:                      # the end of a pass: Lightning calls iter() again
            it = iter(loader)
            continue
        xs.append(x.reshape(-1, *x.shape[-1:]) if loader.stack > 1 else x)
        ys.append(y.reshape(-1) if y.numel() else y)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("stack", [2, 3, 7])
def test_stacked_loader_is_the_same_stream_across_epochs(stack):
    data, labels = torch.arange(50).float().unsqueeze(1), torch.arange(50)
    plain = TensorBatchLoader(data, labels, 8, seed=4)                 # 6 batches per epoch
    stacked = TensorBatchLoader(data, labels, 8, seed=4, stack=stack)
    x1, y1 = _flat(plain, 6 * stack * 3)
    x2, y2 = _flat(stacked, 3 * 6)                                      # 3 passes of stack epochs each
    assert torch.equal(x1[: len(x2)], x2) and torch.equal(y1[: len(y2)], y2)
    assert torch.equal(x2.squeeze(1).long(), y2)                        # labels stay with their samples
    first = next(iter(TensorBatchLoader(data, labels, 8, seed=4, stack=stack)))
    assert first[0].shape == (stack, 8, 1) and first[1].shape == (stack, 8)
    assert len(stacked) == len(plain) == 6


def test_stacked_loader_resumes_at_the_next_batch_whatever_the_stack():
    data = torch.arange(60).float().unsqueeze(1)
    a = TensorBatchLoader(data, None, 5, seed=1, stack=4)
    it = iter(a)
    for _ in range(5):                            # 20 batches: one epoch (12) and 8 more
        next(it)
    state = a.state_dict()
    assert state == {"epoch": 1, "position": 8}
    b = TensorBatchLoader(data, None, 5, seed=1)  # resume without stacking
    b.load_state_dict(state)
    expected = next(it)[0]
    got = torch.stack([batch[0] for batch, _ in zip(iter(b), range(4))])
    assert torch.equal(got, expected)
    unlabelled = next(iter(TensorBatchLoader(data, None, 5, stack=3)))[1]
    assert unlabelled.numel() == 0


def test_stack_must_be_positive():
    with pytest.raises(ValueError, match="stack"):
        TensorBatchLoader(torch.zeros(10, 2), None, 2, stack=0)


# ------------------------------------------------------------------------------------------- training
class Snapshot(pl.Callback):
    def __init__(self) -> None:
        self.params: dict[str, torch.Tensor] = {}
        self.global_step = 0

    def on_train_end(self, trainer, module) -> None:
        self.params = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.global_step = trainer.global_step


class LightningDispatch(Snapshot):
    """Overrides a backward hook, so the step must go through Lightning's manual_backward."""

    calls = 0

    def on_after_backward(self, trainer, module) -> None:
        LightningDispatch.calls += 1


def _run(tmp_path, cb, **opts):
    o = dict(seed=2, iterations=23, batch_size=32, num_samples=400, wandb="disabled", save_samples=8,
             results_dir=str(tmp_path), metrics="modes_covered", log_every=5, **opts)
    rec = runner.execute(o, callbacks=[cb])
    assert rec["status"] == "completed", rec.get("error")
    return rec


@pytest.mark.parametrize("variant,opts", [("nsgan", {}), ("wgan_gp", {}), ("gmmn", {}),
                                          ("cgan", {}), ("nsgan", {"instance_noise": 0.1, "n_discriminators": 2})])
def test_fused_and_lean_steps_change_no_parameter(tmp_path, variant, opts):
    ref = Snapshot()
    base = _run(tmp_path / "a", ref, variant=variant, fuse_iterations=1, **opts)
    assert base["fast_paths"]["fuse_iterations"] == "1"
    for fuse in (4, 0):
        cb = Snapshot()
        rec = _run(tmp_path / f"f{fuse}", cb, variant=variant, fuse_iterations=fuse, **opts)
        assert rec["steps"] == base["steps"] == 23 and rec["history"] == base["history"]
        assert cb.global_step == ref.global_step > 0           # Lightning's optimiser-step count still advances
        for k, v in ref.params.items():
            assert torch.equal(cb.params[k], v), (fuse, k)
    LightningDispatch.calls = 0
    slow = LightningDispatch()
    _run(tmp_path / "lightning", slow, variant=variant, fuse_iterations=4, **opts)
    assert LightningDispatch.calls > 0                          # the hook ran: Lightning's path was taken
    for k, v in ref.params.items():
        assert torch.equal(slow.params[k], v), k


def test_lean_dispatch_only_where_it_is_exact():
    from models.dispatch import Dispatch

    seen = {}

    class Probe(pl.Callback):
        def on_train_start(self, trainer, module):
            seen["lean"] = Dispatch.lean_is_exact(module)

    class Inspecting(Probe):
        def on_before_optimizer_step(self, trainer, module, optimizer):
            pass

    def lean_with(cb):
        import models
        from datamodules import Ring8DataModule

        model = models.get_variant("nsgan")(iterations=1, hidden=8)
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=[cb])
        trainer.fit(model, datamodule=Ring8DataModule(batch_size=16, num_samples=64))
        return seen["lean"]

    assert lean_with(Probe()) is True
    assert lean_with(Inspecting()) is False


def test_lean_dispatch_advances_lightnings_step_count_through_its_one_private_call():
    """models.dispatch.step_with_lightning_progress calls LightningOptimizer's private ``_on_before_step`` and
    ``_on_after_step`` (Lightning has no public call for its optimiser-step progress): if a Lightning release
    renames them, lean dispatch turns itself off and the first assert fails; if it moves the progress elsewhere,
    the step count of the lean fit falls behind Lightning's own dispatch and the second fails."""
    import models
    from datamodules import Ring8DataModule
    from models.dispatch import Dispatch

    def fit(callbacks):
        seen = {}

        class Probe(pl.Callback):
            def on_train_start(self, trainer, module):
                seen["lean"] = Dispatch.lean_is_exact(module)

        model = models.get_variant("nsgan")(iterations=7, hidden=8)
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=[Probe(), *callbacks])
        trainer.fit(model, datamodule=Ring8DataModule(batch_size=16, num_samples=64))
        return seen["lean"], trainer.global_step

    lean, steps = fit([])
    assert lean is True, "lean dispatch is off: has Lightning renamed LightningOptimizer._on_before_step/_after_step?"
    slow, lightning_steps = fit([LightningDispatch()])
    assert slow is False
    assert steps == lightning_steps == 2 * 7, "lean dispatch no longer advances Lightning's optimiser-step progress"


def test_a_fused_module_refuses_unstacked_batches():
    import models
    from models.fusion import StepFusion

    model = models.get_variant("nsgan")(data_shape=(2,), hidden=8)
    model.fusion = StepFusion(4)
    with pytest.raises(RuntimeError, match="batches_per_step"):
        model.training_step((torch.zeros(16, 2), torch.empty(0)), 0)


# ------------------------------------------------------------------------------------------ the choice
def _k(**opts):
    return resolve({"variant": "nsgan", "data": "ring8", "wandb": "offline", **opts}).fused_iterations()


def test_auto_fusing_ends_steps_on_every_callback_period():
    assert _k() == 10                                   # sample_every=500: the largest divisor <= 16
    assert _k(sample_every=0) == FUSE_MAX
    assert _k(wandb="disabled") == FUSE_MAX             # no logger, no sample plots
    assert _k(eval_every=100, checkpoint_every=250) == 10
    assert _k(eval_every=7) == 1
    assert _k(eval_every=12, sample_every=0) == 12
    assert resolve({"variant": "nsgan", "data": "ring8", "sample_every": 0}).fused_iterations([6]) == 6
    assert _k(stop_d_above=0.5) == 1                    # phases of no fixed length
    assert _k(fuse_iterations=1) == 1


def test_auto_fusing_keeps_a_stacked_batch_small():
    # 256 CIFAR-sized float32 batches are 3 MiB each: five per 64 MiB item with n_critic = 5 → k = 4, not 16
    k = resolve({"variant": "wgan_gp", "data": "cifar10", "batch_size": 256, "sample_every": 0}).fused_iterations()
    assert k == 4


def test_an_explicit_fuse_that_cannot_work_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="must divide every callback period"):
        resolve({"variant": "nsgan", "data": "ring8", "fuse_iterations": 7, "eval_every": 100})
    with pytest.raises(ConfigError, match="stop criteria"):
        resolve({"variant": "nsgan", "data": "ring8", "fuse_iterations": 2, "stop_d_above": 0.5})
    with pytest.raises(ConfigError, match="fuse_iterations"):
        resolve({"variant": "nsgan", "data": "ring8", "fuse_iterations": -1})
