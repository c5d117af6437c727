"""Every variant trains under Lightning DDP with 2 CPU processes (gloo): both ranks end with identical
parameters, their data shards are disjoint, samples for scoring are gathered without duplicates or gaps, and
only rank 0 writes the run JSON.

One DDP launch trains every registered variant in turn (the subprocess launcher re-runs the script for rank 1;
later Trainers reuse the process group), so the whole test costs one start-up.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import models

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    import pytorch_lightning as pl
    import torch

    import benchmark.train.run as runner

    out = Path(sys.argv[1])
    variants = sys.argv[2].split(",")
    rank = int(os.environ.get("LOCAL_RANK", 0))
    real_write = runner.atomic_write_json

    def counting_write(path, obj):                    # which rank writes which run JSON
        with open(out / "writes.log", "a") as f:
            f.write(f"{rank} {Path(path).name}\\n")
        real_write(path, obj)

    runner.atomic_write_json = counting_write
    real_gather = runner.gather_samples

    def checked_gather(model, n, labels):             # every rank gets the same n samples
        x = real_gather(model, n, labels)
        assert x.shape[0] == n, (x.shape, n)
        torch.save(x, out / f"gathered-{model.name}-{n}-rank{rank}.pt")
        return x

    runner.gather_samples = checked_gather

    class Dump(pl.Callback):
        def on_train_end(self, trainer, module):
            loader = trainer.train_dataloader
            shards = [loader.shard_indices(e) for e in range(loader.epoch)]
            torch.save({"params": {k: v.detach().cpu() for k, v in module.state_dict().items()},
                        "shards": shards, "world": trainer.world_size, "rank": trainer.global_rank,
                        "iteration": module.iteration},
                       out / f"{module.name}-rank{trainer.global_rank}.pt")

    for v in variants:
        data = "digits" if v == "cgan" else "ring8"
        opts = dict(variant=v, data=data, seed=1, iterations=3, batch_size=32, save_samples=16, wandb="disabled",
                    accelerator="cpu", devices="2", strategy="ddp", threads=1, results_dir=str(out / "results"),
                    metrics="class_coverage" if data == "digits" else "modes_covered")
        if data == "ring8":
            opts["num_samples"] = 256
        rec = runner.execute(opts, callbacks=[Dump()])
        with open(out / f"status-{v}-rank{rank}.json", "w") as f:
            json.dump({"status": rec["status"], "error": rec.get("error"), "tb": rec.get("traceback")}, f)
''')


@pytest.mark.ddp
def test_every_variant_trains_under_ddp_on_two_cpu_processes(tmp_path):
    script = tmp_path / "ddp_all.py"
    script.write_text(SCRIPT)
    variants = sorted(models.VARIANTS)
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(script), str(tmp_path), ",".join(variants)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    writes = (tmp_path / "writes.log").read_text().split("\n")[:-1]
    assert len(writes) == len(variants) and all(w.startswith("0 ") for w in writes), writes   # rank 0, once each
    assert len(list((tmp_path / "results" / "runs").glob("*.json"))) == len(variants)
    for v in variants:
        for rank in (0, 1):
            status = json.loads((tmp_path / f"status-{v}-rank{rank}.json").read_text())
            assert status["status"] == "completed", (v, rank, status)
        name = models.get_variant(v).name
        r0, r1 = (torch.load(tmp_path / f"{name}-rank{k}.pt", weights_only=True) for k in (0, 1))
        assert r0["world"] == r1["world"] == 2 and r0["iteration"] == r1["iteration"] == 3
        assert r0["params"].keys() == r1["params"].keys()
        for k in r0["params"]:
            assert torch.equal(r0["params"][k], r1["params"][k]), (v, k)           # replicas agree bit for bit
        assert r0["shards"], v
        for s0, s1 in zip(r0["shards"], r1["shards"]):
            assert len(s0) == len(s1) and not set(s0.tolist()) & set(s1.tolist()), v   # disjoint shards

    # scoring samples: every rank received the same gathered set of exactly n samples
    gathered = sorted(tmp_path.glob("gathered-*-rank0.pt"))
    assert gathered
    for g0 in gathered:
        a, b = torch.load(g0, weights_only=True), torch.load(str(g0).replace("rank0", "rank1"), weights_only=True)
        assert torch.equal(a, b) and torch.isfinite(a).all()
        # no duplicated sample: the two ranks' slices come from different noise
        half = a.shape[0] // 2
        assert not torch.equal(a[:half][:10], a[half:][:10])


class IndexModel:
    """A stand-in generator whose sample ``i`` is its label ``i``: what each rank generated is readable."""

    data_shape, device = (1,), torch.device("cpu")

    def __init__(self):
        self.calls = []

    def sample(self, m, labels):
        self.calls.append(m)
        return labels.float().unsqueeze(1)


def test_gather_samples_covers_every_index_once(monkeypatch):
    """``gather_samples`` itself, with W simulated ranks: every rank returns [0, n) in order, each index generated
    by exactly one rank, for awkward n and W (a rank with an empty slice generates nothing)."""
    import torch.distributed as dist

    from benchmark.train.run import gather_samples

    for n in (1, 7, 2500, 10001):
        for world in (1, 2, 3, 8):
            sent: dict[int, torch.Tensor] = {}
            rank = {"k": 0}

            def all_gather(parts, tensor):
                sent[rank["k"]] = tensor.clone()
                for j, part in enumerate(parts):                   # the other ranks' tensors, once they are known
                    part.copy_(sent.get(j, torch.zeros_like(tensor)))

            monkeypatch.setattr(dist, "get_world_size", lambda: world)
            monkeypatch.setattr(dist, "get_rank", lambda: rank["k"])
            monkeypatch.setattr(dist, "all_gather", all_gather)
            model = IndexModel()
            for k in range(world):                                  # first pass: each rank sends its slice
                rank["k"] = k
                gather_samples(model, n, torch.arange(n))
            assert sum(model.calls) == n                            # no index generated twice
            for k in range(world):                                  # second pass: every rank sees every slice
                rank["k"] = k
                out = gather_samples(IndexModel(), n, torch.arange(n))
                assert out.shape == (n, 1) and torch.equal(out[:, 0], torch.arange(n).float()), (n, world, k)
