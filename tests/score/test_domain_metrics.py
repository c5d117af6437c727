"""Domain-classifier metrics on scikit-learn digits and on stacked digits (a small Stacked-MNIST stand-in)."""
from __future__ import annotations

import math

import pytest
import torch

from benchmark.score import domain as dom
from benchmark.score import get_metric_group
from datamodules import DigitsDataModule
from datamodules.base import GANDataModule


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("domain-cache")


def test_digits_real_vs_real_small_noise_large_coverage_ten(cache):
    dm = DigitsDataModule()
    group = dom.DomainMetrics(cache_root=cache)
    real, _ = dm.reference(600, seed=1)
    v_real, p = group(real, dm, seed=1)
    noise = torch.rand(600, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    v_noise, _ = group(noise, dm, seed=1)
    assert v_real["class_coverage"] == 10.0
    assert v_real["domain_fd"] < 0.05 * v_noise["domain_fd"]
    assert v_real["domain_is"] > 8.0                    # confident and balanced over 10 classes
    assert p["domain_fd"]["classifier_val_accuracy"] > 0.9
    for name in group.names:
        assert {"metric", "implementation", "feature_extractor", "weights_sha256", "reference_dataset",
                "reference_split", "num_real", "num_generated", "resize", "seed"} <= set(p[name])


def test_single_class_generator_has_coverage_one_and_is_one(cache):
    dm = DigitsDataModule()
    dm.setup()
    threes = dom.to_unit(dm.train_x[dm.train_y == 3][:100])
    v, _ = dom.DomainMetrics(cache_root=cache)(threes, dm, seed=0)
    assert v["class_coverage"] == 1.0
    assert v["domain_is"] < 1.5


def test_classifier_is_cached_and_seeded(cache, monkeypatch):
    dm = DigitsDataModule()
    dm.setup()
    m1, info1 = dom.cached_classifier("digits", dm.train_x, dm.train_y, 10, root=cache)
    monkeypatch.setattr(dom, "train_classifier", None)            # a cache hit must not train
    m2, info2 = dom.cached_classifier("digits", dm.train_x, dm.train_y, 10, root=cache)
    assert info2["cache_hit"] and info2["checksum"] == info1["checksum"]
    x = dom.to_unit(dm.train_x[:5])
    assert torch.equal(m1(x), m2(x))


def test_classifier_inception_score_and_coverage_known_outputs():
    eye = torch.eye(4)
    assert dom.classifier_inception_score(eye.repeat(5, 1)) == pytest.approx(4.0)
    assert dom.classifier_inception_score(torch.full((7, 4), 0.25)) == pytest.approx(1.0)
    p = torch.tensor([[0.5, 0.5], [0.2, 0.8]])                      # KL by hand, natural log
    m = p.mean(0)
    kl = sum(float((p[i] * (p[i] / m).log()).sum()) for i in range(2)) / 2
    assert dom.classifier_inception_score(p) == pytest.approx(math.exp(kl))
    probs = torch.tensor([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.0, 0.05, 0.95]])
    assert dom.class_coverage(probs) == 2


def test_stacked_mode_statistics():
    digits = torch.tensor([[1, 2, 3], [1, 2, 3], [9, 9, 9], [0, 0, 0]])
    modes, kl = dom.stacked_mode_statistics(digits)
    assert modes == 3
    q = torch.tensor([0.5, 0.25, 0.25])
    assert kl == pytest.approx(float((q * (q * 1000).log()).sum()))
    all_modes = torch.stack(torch.meshgrid(*[torch.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert dom.stacked_mode_statistics(all_modes) == (1000, pytest.approx(0.0, abs=1e-12))


class StackedDigits(GANDataModule):
    """Three sklearn digits as R, G, B, labelled with the mode 100·d_R + 10·d_G + d_B (Stacked-MNIST layout)."""

    name, kind, dims, num_classes = "stacked_digits_test", "image", (3, 8, 8), 1000

    def load(self):
        base = DigitsDataModule()
        base.setup()
        g = torch.Generator().manual_seed(0)
        idx = torch.randint(base.train_x.shape[0], (3000, 3), generator=g)
        x = torch.cat([base.train_x[idx[:, c]] for c in range(3)], 1)
        y = base.train_y[idx]
        return x, 100 * y[:, 0] + 10 * y[:, 1] + y[:, 2]


def test_stacked_modes_on_stacked_digits(cache):
    dm = StackedDigits()
    group = dom.StackedMNISTMetrics(cache_root=cache, max_train=3000)
    real, _ = dm.reference(3000, seed=0)
    v, p = group(real, dm, seed=0)
    assert v["stacked_modes"] > 900                  # 3000 draws of ~uniform modes cover ~95 % of 1000
    assert v["stacked_kl"] < 0.6
    collapsed = real[:1].repeat(500, 1, 1, 1)
    v1, _ = group(collapsed, dm, seed=0)
    assert v1 == {"stacked_modes": 1.0, "stacked_kl": pytest.approx(math.log(1000))}
    assert p["stacked_modes"]["classifier_val_accuracy"] > 0.9


def test_registered_and_digits_declares_them():
    for name in DigitsDataModule.metrics:
        assert isinstance(get_metric_group(name), dom.DomainMetrics)
    assert isinstance(get_metric_group("stacked_modes"), dom.StackedMNISTMetrics)


def test_evaluate_cli_scores_a_png_folder_against_digits(cache, tmp_path, capsys):
    import argparse
    import json

    from PIL import Image

    from benchmark.score.folder import add_evaluate_parser, load_image_folder

    dm = DigitsDataModule()
    dm.setup()
    for i, img in enumerate(dm.train_x[:50]):
        Image.fromarray(img[0].numpy()).save(tmp_path / f"{i:03d}.png")
    assert torch.equal(load_image_folder(tmp_path), dm.train_x[:50])          # lossless round trip
    parser = argparse.ArgumentParser()
    add_evaluate_parser(parser.add_subparsers())
    out = tmp_path / "scores.json"
    args = parser.parse_args(["evaluate", "--images", str(tmp_path), "--reference", "digits",
                              "--cache-dir", str(cache), "--json", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    assert set(result["values"]) == set(DigitsDataModule.metrics)
    assert result["values"]["class_coverage"] == 10.0
    assert result["protocols"]["domain_fd"]["num_generated"] == 50
    assert "domain_fd =" in capsys.readouterr().out
