"""The perf harness runs both loops for every registered variant (tiny sizes; no timing is asserted), and its
plain loop is the same computation as GANBench's, so the ratio compares like with like."""
import pytest
import pytorch_lightning as pl
import torch

import models
from benchmark.perf.harness import ganbench_trainer, compare_loops, ganbench_rate, plain_loop, plain_loop_rate, to_markdown


@pytest.mark.parametrize("variant", sorted(models.VARIANTS))
def test_both_loops_run_every_variant(variant):
    opts = {"hidden": 8, "log_every": 2, "fuse_iterations": 1}
    assert plain_loop_rate(variant, "ring8", 32, 3, 1, opts) > 0
    assert ganbench_rate(variant, "ring8", 32, 3, 1, opts) > 0


def test_report_table_from_a_comparison():
    row = compare_loops("nsgan", "ring8", 32, 12, 2, 2, {"hidden": 8, "log_every": 2, "fuse_iterations": 2}, chunk=4)
    assert row["chunks"] >= 4 and row["fuse_iterations"] == 2
    assert row["ratio"]["min"] <= row["ratio"]["median"] <= row["ratio"]["max"]
    md = to_markdown({"machine": "test", "command": "python -m benchmark perf", "loops": [row]})
    assert "| nsgan (mlp) | ring8 | 32 |" in md and "overhead" in md


@pytest.mark.parametrize("variant, extra", [("nsgan", {}), ("wgan_gp", {}), ("gmmn", {}),
                                            ("wgan", {"critic_warmup": 7})])
def test_plain_loop_computes_what_ganbench_computes(variant, extra, one_thread):
    """Same seed, same batches, same noise: after 6 iterations both loops hold the same parameters, so the
    perf ratio measures only the harness around the maths (wgan: its critic warm-up, ``critic_steps()``, on
    both sides)."""
    opts = {"hidden": 16, "log_every": 3, "fuse_iterations": 2, **extra}
    loop = plain_loop(variant, "ring8", 32, opts)
    plain = [next(loop) for _ in range(6)][-1]
    dm, model, trainer = ganbench_trainer(variant, "ring8", 32, {**opts, "iterations": 6}, [])
    trainer.fit(model, datamodule=dm)
    assert model.iteration == plain.iteration == 6
    ours, theirs = model.state_dict(), plain.state_dict()
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=0, atol=1e-6), k
