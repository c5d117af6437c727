"""`generate` writes N samples of a trained run from its kept generator; `evaluate` on them follows its protocol."""
import json

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.score import fidelity as fm
from benchmark.score.inception import InceptionWeights
from benchmark.score.registry import METRIC_GROUPS

pytestmark = pytest.mark.usefixtures("one_thread")
# what depends on the samples or the machine, not on the protocol
TIMING = ("seconds_embedding_real", "seconds_embedding_generated", "real_features_cache_hit", "kid_std")


class PixelEmbedder(fm.InceptionEmbedder):
    """A stand-in for Inception (its 10,000-image protocol takes minutes on a CPU): features = the 64 pixels."""

    def __init__(self):
        super().__init__(InceptionWeights("none", "test", "0" * 64, False, "stand-in"), device="cpu")

    def _forward(self, batch):
        return (batch.float()[:, 0].flatten(1) / 255.0,)


@pytest.fixture
def small_inception(monkeypatch, tmp_path):
    """The Inception group (fid, kid, ...) with a 300-image protocol and the stand-in embedder, for run and
    evaluate alike (both read the registered group)."""
    group = fm.InceptionMetrics(num_samples=300, num_real=300, kid_subsets=5, kid_subset_size=100,
                                embedder=PixelEmbedder(), cache_root=tmp_path / "cache")
    for name in group.names:
        monkeypatch.setitem(METRIC_GROUPS, name, group)
    return group


def run_json(results, *args):
    assert main(["run", "--iterations", "3", "--wandb", "disabled", "--threads", "1", "--save-samples", "0",
                 "--results-dir", str(results), *args]) == 0
    (path,) = (results / "runs").glob("*.json")
    return json.loads(path.read_text()), path


def test_generate_from_a_tiny_image_run_then_evaluate_reproduces_its_fid_kid_protocol(tmp_path, small_inception,
                                                                                        capsys):
    record, path = run_json(tmp_path / "res", "--variant", "nsgan", "--data", "digits", "--metrics", "fid,kid")
    kept = tmp_path / "res" / record["generator"]
    blob = torch.load(kept, weights_only=True)                  # plain tensors and values only
    assert blob["data_shape"] == [1, 8, 8] and blob["data_kind"] == "image" and blob["generator"]
    out = tmp_path / "samples"
    assert main(["generate", "--run", str(path), "--out", str(out)]) == 0      # N: the run's protocol, 300
    printed = capsys.readouterr().out
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 300 and f"--reference digits --metrics fid,kid --seed {record['seed']}" in printed
    from PIL import Image

    with Image.open(pngs[0]) as im:
        assert im.size == (8, 8) and im.mode == "L"
    scores = tmp_path / "scores.json"
    assert main(["evaluate", "--images", str(out), "--reference", "digits", "--metrics", "fid,kid",
                 "--seed", str(record["seed"]), "--json", str(scores)]) == 0
    shown = capsys.readouterr()
    result = json.loads(scores.read_text())
    for m in ("fid", "kid"):
        run_p = {k: v for k, v in record["protocol"][m].items() if k not in TIMING}
        eval_p = {k: v for k, v in result["protocols"][m].items() if k not in TIMING}
        assert eval_p == run_p, m
        assert result["values"][m] is not None
    # values first (one line each), then the protocol; FID on 300 images per side is flagged
    lines = shown.out.splitlines()
    assert lines[0].split() == ["fid", "=", f"{result['values']['fid']:.6g}"] and lines[1].split()[0] == "kid"
    assert lines[3] == "protocol:"
    assert "warning: fid on 300 generated and 300 real images (< 2,048 per side) is biased" in shown.err
    assert "kid" in shown.err.split("warning: fid")[1]
    # the same seed draws the same samples; an existing, non-empty folder is refused (never mixed)
    again = tmp_path / "again"
    assert main(["generate", "--run", record["run_id"], "--results-dir", str(tmp_path / "res"), "--num", "5",
                 "--out", str(again)]) == 0
    assert [p.read_bytes() for p in sorted(again.glob("*.png"))] == [p.read_bytes() for p in pngs[:5]]
    assert main(["generate", "--run", str(path), "--num", "5", "--out", str(again)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_generate_points_and_refusals(tmp_path, capsys):
    record, path = run_json(tmp_path / "res", "--variant", "wgan", "--data", "ring8", "--metrics", "modes_covered")
    assert main(["generate", "--run", str(path), "--num", "50", "--out", str(tmp_path / "pts")]) == 0
    pts = np.load(tmp_path / "pts" / "samples.npy")
    assert pts.shape == (50, 2) and pts.dtype == np.float32 and np.isfinite(pts).all()
    capsys.readouterr()
    assert main(["generate", "--run", record["run_id"][:-1], "--results-dir", str(tmp_path / "res"),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --run") and f"did you mean {record['run_id']}" in err
    (tmp_path / "res" / record["generator"]).unlink()            # neither a kept generator nor a checkpoint
    assert main(["generate", "--run", str(path), "--out", str(tmp_path / "y")]) == 2
    assert "kept no generator" in capsys.readouterr().err and not (tmp_path / "y").exists()
