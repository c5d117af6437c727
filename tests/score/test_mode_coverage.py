"""Mode coverage on point sets whose answer is known by construction."""
import math

import pytest
import torch

from benchmark.score.toy import mode_statistics
from datamodules import Grid25DataModule, Ring8DataModule


def test_points_on_every_mode_cover_all_with_zero_kl():
    modes = Ring8DataModule.modes()
    pts = modes.repeat_interleave(10, dim=0)
    s = mode_statistics(pts, modes, std=0.02)
    # 80 points, 10 per mode: the strict rule asks ceil(0.25 * 80/8 * (1 - e^-4.5)) = 3 per mode
    assert s == {"modes_covered": 8.0, "modes_covered_strict": 8.0, "high_quality": 100.0,
                 "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_half_the_modes_and_far_points():
    modes = Ring8DataModule.modes()
    good = modes[:4].repeat_interleave(5, dim=0)                     # 20 points on 4 modes
    far = torch.zeros(20, 2)                                         # the centre is 2 away from every mode
    s = mode_statistics(torch.cat([good, far]), modes, std=0.02)
    assert s["modes_covered"] == 4 and s["high_quality"] == 50.0
    assert s["reverse_kl"] == pytest.approx(math.log(8 / 4))        # uniform over 4 of 8 modes


def test_three_std_boundary():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    pts = torch.tensor([[0.149, 0.0], [0.151, 0.0]])                 # 3 std = 0.15
    s = mode_statistics(pts, modes, std=0.05)
    assert s["high_quality"] == 50.0 and s["modes_covered"] == 1


def test_skewed_histogram_kl():
    modes = Grid25DataModule.modes()
    pts = torch.cat([modes[0].repeat(3, 1), modes[1].repeat(1, 1)])
    q = torch.tensor([0.75, 0.25])
    expected = float((q * torch.log(q * 25)).sum())
    assert mode_statistics(pts, modes, 0.05)["reverse_kl"] == pytest.approx(expected)


def test_no_high_quality_sample_gives_infinite_kl():
    s = mode_statistics(torch.full((5, 2), 100.0), Ring8DataModule.modes(), 0.02)
    assert s["modes_covered"] == 0 and s["high_quality"] == 0 and math.isinf(s["reverse_kl"])


def test_real_ring_data_scores_perfectly():
    dm = Ring8DataModule(num_samples=2500)
    x, _ = dm.reference(2500)
    s = mode_statistics(x, dm.modes(), dm.std)
    # in 2-D, P(‖x - μ‖ ≤ 3σ) = 1 - exp(-9/2) = 98.89%; binomial std over 2,500 points ≈ 0.21 points
    assert s["modes_covered"] == 8 and s["reverse_kl"] < 0.01
    assert s["high_quality"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.8)


def test_strict_coverage_counts_a_mode_only_from_a_quarter_of_its_share():
    modes = Ring8DataModule.modes()
    n = 800                                          # expected high-quality points per mode: 100 (1 - e^-4.5)
    need = math.ceil(0.25 * n / 8 * (1 - math.exp(-4.5)))                           # = 25 by hand
    assert need == 25
    pts = torch.cat([modes[0].repeat(need, 1), modes[1].repeat(need - 1, 1), modes[2].repeat(1, 1)])
    pts = torch.cat([pts, torch.zeros(n - pts.shape[0], 2)])                        # the rest far from every mode
    s = mode_statistics(pts, modes, 0.02)
    assert s["modes_covered"] == 3 and s["modes_covered_strict"] == 1


def test_uniform_noise_covers_modes_but_not_strictly():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(2500, 2, generator=g) * 10 - 5
    s = mode_statistics(pts, Grid25DataModule.modes(), 0.05)
    assert s["modes_covered"] >= 15 and s["modes_covered_strict"] == 0
