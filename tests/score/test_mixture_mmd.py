"""The mixture datasets' primary metric ``mmd``, against independent computations."""
import math

import numpy as np
import pytest
import torch

from benchmark import score
from benchmark.score.toy import REFERENCE_SEED, mixture_reference, mmd2_rbf
from datamodules import Grid25DataModule, Ring8DataModule


def naive_mmd2(x, y, h):
    """The unbiased U-statistic written out with explicit pair loops over i != j (numpy, no cdist)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def k(a, b):
        return math.exp(-float(((a - b) ** 2).sum()) / (2 * h * h))

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return kxx + kyy - 2 * kxy


def test_matches_the_pair_loop_with_chunking():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(37, 2, generator=g) * 0.3, torch.randn(23, 2, generator=g) * 0.3 + 0.1
    assert mmd2_rbf(x, y, 0.2, chunk=5) == pytest.approx(naive_mmd2(x, y, 0.2), rel=1e-10, abs=1e-14)


def test_two_point_hand_value():
    # x = {0, 0}, y = {(1, 0), (1, 0)}: k(x, x') = k(y, y') = 1, k(x, y) = exp(-1/2) at h = 1
    x, y = torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert mmd2_rbf(x, y, 1.0) == pytest.approx(2 - 2 * math.exp(-0.5))


def closed_form_mmd2_collapsed(k_modes: int, std: float, h: float) -> float:
    """MMD² between N(μ_0, σ²I) and the equal-weight K-mixture whose modes are far apart (cross terms 0):
    E k(x, x') for x, x' ~ N(μ, σ²I) in 2-D is h² / (h² + 2σ²)."""
    same = h * h / (h * h + 2 * std * std)
    return same + same / k_modes - 2 * same / k_modes


@pytest.mark.parametrize("dm", [Ring8DataModule, Grid25DataModule])
def test_collapsed_and_true_samples_against_the_closed_form(dm):
    ref = mixture_reference(dm)
    x, _ = dm.sample(2500, seed=5)
    assert abs(mmd2_rbf(x, ref, dm.std)) < 5e-4                            # a fresh sample: unbiased, ≈ 0
    g = torch.Generator().manual_seed(6)
    collapsed = dm.modes()[0] + dm.std * torch.randn(2500, 2, generator=g)
    k = len(dm.modes())
    assert mmd2_rbf(collapsed, ref, dm.std) == pytest.approx(closed_form_mmd2_collapsed(k, dm.std, dm.std),
                                                             abs=0.02)


def test_uniform_noise_scores_about_one_third_of_one_over_k():
    # noise leaves almost nothing within a kernel width of a mode, so MMD² ≈ E k(y, y') = 1/(3K) at h = σ
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2500, 2, generator=g) * 8.4 - 4.2
    value = mmd2_rbf(noise, mixture_reference(Grid25DataModule), Grid25DataModule.std)
    assert value == pytest.approx(1 / 75, rel=0.1)


def test_registered_group_uses_a_fresh_reference_not_the_training_set():
    dm = Ring8DataModule(num_samples=2500)
    dm.setup()
    group = score.get_metric_group("mmd")
    values, protocols = group(dm.train_x, dm)
    assert abs(values["mmd"]) < 5e-4 and not score.metric("mmd").higher_is_better
    assert str(REFERENCE_SEED) in protocols["mmd"]["reference"]
    assert not torch.equal(mixture_reference(dm), dm.train_x)
    assert Ring8DataModule.primary_metric() == "mmd" and Grid25DataModule.primary_metric() == "mmd"


def test_cached_reference_term_changes_nothing():
    from benchmark.score.toy import reference_kyy

    ref = mixture_reference(Grid25DataModule)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(700, 2, generator=g) * 8 - 4
    kyy = reference_kyy("grid25", ref, 0.05)
    assert mmd2_rbf(x, ref, 0.05, kyy=kyy) == pytest.approx(mmd2_rbf(x, ref, 0.05), rel=1e-12)
