"""The theory lab, reduced: the benchmark's own losses and variants, trained on known densities,
agree with the course's closed forms. Each experiment runs at a smaller size than `python -m benchmark theory`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.theory import EXPERIMENTS, markdown_table, parse_only
from benchmark.theory import densities as dens
from benchmark.theory import experiments as E
from models import losses

LOG4 = math.log(4.0)


# ------------------------------------------------------------------------- the exact values themselves
def test_quadrature_matches_closed_forms():
    p, q = dens.gaussian(1.0, 0.8), dens.gaussian(0.0, 1.0)
    # KL(N(μ1, s1²) ‖ N(μ2, s2²)) = log(s2/s1) + (s1² + (μ1 − μ2)²)/(2 s2²) − ½
    kl = math.log(1.0 / 0.8) + (0.64 + 1.0) / 2 - 0.5
    assert dens.kl(p, q) == pytest.approx(kl, abs=1e-8)
    assert dens.f_divergence(losses.F_DIVERGENCES["kl"].f, p, q) == pytest.approx(kl, abs=1e-8)
    # χ²(N(μ, 1) ‖ N(0, 1)) = exp(μ²) − 1
    assert dens.f_divergence(losses.F_DIVERGENCES["pearson"].f, dens.gaussian(1, 1), dens.gaussian(0, 1)) \
        == pytest.approx(math.e - 1, abs=1e-7)
    j = dens.jsd(p, q)
    assert 0 < j < math.log(2) and dens.jsd(q, p) == pytest.approx(j, abs=1e-10)
    assert dens.jsd(p, p) == pytest.approx(0.0, abs=1e-12)
    assert dens.jsd(dens.gaussian(0, 1), dens.gaussian(40, 1)) == pytest.approx(math.log(2), abs=1e-8)
    # the f rows of the table: JS = 2·JSD, GAN = 2·JSD − log 4
    assert dens.f_divergence(losses.F_DIVERGENCES["js"].f, p, q) == pytest.approx(2 * j, abs=1e-8)
    assert dens.f_divergence(losses.F_DIVERGENCES["gan"].f, p, q) == pytest.approx(2 * j - LOG4, abs=1e-8)


def test_quantile_samples_have_the_distribution_moments():
    m = dens.mixture((-2.0, 2.0), 0.6)
    x = m.quantiles(4096)
    assert np.all(np.diff(x) > 0)
    assert x.mean() == pytest.approx(0.0, abs=1e-3) and x.var() == pytest.approx(4 + 0.36, rel=2e-3)


# ----------------------------------------------------------------------------- 1. optimal discriminator
def test_trained_minimax_discriminator_is_the_optimal_one_with_and_without_a_class_prior():
    mix, gauss = dens.mixture((-2.0, 2.0), 0.6), dens.gaussian(0.0, 1.5)
    result = E.optimal_discriminator(steps=200, cases=[("mixture", mix, gauss, 0.5), ("π=0.2", mix, gauss, 0.2)])
    max_rows = [r for r in result["rows"] if r.quantity.startswith("max")]
    assert [r.measured < 0.05 for r in max_rows] == [True, True], max_rows
    # the prior matters: the π = 0.2 discriminator is far from the π = ½ optimum
    c = result["curves"][1]
    d_half = dens.optimal_discriminator(mix, gauss, c["x"], 0.5)
    assert np.abs(c["d_hat"] - d_half)[c["mask"]].max() > 0.2


# -------------------------------------------------------------------------------- 2. value at the optimum
def test_discriminator_loss_gives_jsd_and_the_game_value():
    result = E.value_at_optimum(shifts=(0.0, 1.0, 4.0), steps=200, with_mixture=False)
    by = {(r.case, r.quantity): r for r in result["rows"]}
    for shift in ("1", "4"):                                      # overlapping, and well separated
        r = by[(f"p* = N(0, 1), pθ = N({shift}, 1)", "JSD from d_loss = log 2 − JSD [nats]")]
        assert abs(r.measured - r.theory) < 0.02, r
    assert by[("p* = N(0, 1), pθ = N(4, 1)", "JSD from d_loss = log 2 − JSD [nats]")].theory > 0.6
    same = by[("p* = N(0, 1), pθ = N(0, 1)", "V(G, D) = −2·d_loss vs 2·JSD − log 4")]
    assert same.measured == pytest.approx(-LOG4, abs=0.01)
    assert by[("p* = pθ = N(0, 1)", "max |σ(D) − ½| on the grid")].measured < 0.02


# -------------------------------------------------------------------------------- 3. vanishing gradients
def test_saturating_generator_gradient_vanishes_and_the_non_saturating_one_does_not():
    result = E.vanishing_gradients(d_steps=400)
    t = result["trace"]
    assert t["d_fake"][0] > 0.1 and t["d_fake"][-1] < 5e-3         # D has become confident
    assert t["sat_params"][0] / t["nonsat_params"][0] > 0.2        # comparable before D trains ...
    assert t["sat_params"][-1] / t["nonsat_params"][-1] < 1e-2     # ... orders of magnitude apart after
    assert t["sat_params"][-1] < 0.2 * t["sat_params"][0]          # the saturating gradient shrinks
    assert t["nonsat_params"][-1] > t["nonsat_params"][0]          # the non-saturating one does not
    # |∂L_sat/∂x| / |∂L_nonsat/∂x| (autograd of the two losses) vanishes like D(G(z)) (within 0.01 in log10)
    row = result["rows"][-1]
    assert row.passed, row
    assert row.theory < math.log10(5e-3)                         # a small D: the claim is tested where it bites


# ---------------------------------------------------------------------- 4. GAN discriminator vs critic
def test_gan_discriminator_saturates_where_the_wgan_gp_critic_is_linear():
    result = E.discriminator_vs_critic(steps=400, n=256, variants=("minimax", "wgan_gp"))
    by = {r.quantity: r for r in result["rows"]}
    assert by["GAN: σ(D) on pθ's mean (x = 2)"].measured < 1e-2
    assert by["GAN: mean |dσ(D)/dx| on the samples"].measured < 0.05
    assert by["WGAN-GP: R² of a line fit on [−2, 2]"].measured > 0.98
    assert -1.5 < by["WGAN-GP: slope on [−2, 2] vs −(1 + W₁/2λ)"].measured < -0.9


# ------------------------------------------------------------------------------- 5. f-divergence bounds
@pytest.mark.parametrize("name", sorted(losses.F_DIVERGENCES))
def test_fgan_critic_reaches_the_exact_f_divergence_from_below(name):
    # the trained critic's bound F(T), integrated on the densities, is a true lower bound: F ≤ D_f with no
    # tolerance (row.upper: D_f on the same grid), and within E.F_BOUND_ABS_TOL + E.F_BOUND_REL_TOL·D_f of it
    bound_row, sample_row = E.f_divergence_bounds(names=(name,), steps=200)["rows"]
    assert bound_row.upper is not None and bound_row.measured <= bound_row.upper, bound_row
    assert abs(bound_row.upper - bound_row.theory) < 1e-6          # the grid's D_f is the quadrature's
    assert bound_row.passed, bound_row
    assert sample_row.passed is None and math.isfinite(sample_row.measured)


def test_a_bound_above_its_upper_limit_fails_whatever_the_tolerance():
    assert E.Row("5", "c", "q", measured=0.3056, theory=0.3039, tolerance=0.05, upper=0.3039).passed is False
    assert E.Row("5", "c", "q", measured=0.3030, theory=0.3039, tolerance=0.05, upper=0.3039).passed is True
    assert E.Row("5", "c", "q", measured=0.2000, theory=0.3039, tolerance=0.05, upper=0.3039).passed is False


def test_the_training_sample_estimate_is_not_a_bound_but_the_density_estimate_is():
    # at 4,096 samples squared Hellinger's critic overfits where only Q has samples: its training-sample F
    # exceeds D_f (what the theory lab used to report), while F(T) on the densities stays below it
    model = E.make_variant("fgan", divergence="squared_hellinger")
    torch.manual_seed(0)
    p, q = dens.gaussian(1.0, 0.8), dens.gaussian(0.0, 1.0)
    div = losses.F_DIVERGENCES["squared_hellinger"]
    sample = -E.fit_discriminator(model, E.as_points(p.quantiles(4096)), E.as_points(q.quantiles(4096)), 200)
    bound, on_grid = E.density_bound(model, div, p, q)
    exact = dens.f_divergence(div.f, p, q)
    assert sample > exact and bound <= on_grid


# ------------------------------------------------------------------------------------ 6. mode collapse
def test_mode_tracker_follows_a_real_runner_run(tmp_path):
    result = E.mode_collapse(datasets=("ring8",), iterations=40, every=20, results_dir=tmp_path,
                             tricks={"nsgan": {}})
    (trace,) = result["traces"]
    assert trace["status"] == "completed" and trace["iteration"] == [0, 20, 40]
    assert trace["num_modes"] == 8 and all(0 <= m <= 8 for m in trace["modes_covered"])
    assert result["rows"][0].measured == trace["final_metrics"]["modes_covered"]
    assert list(tmp_path.glob("runs/nsgan-ring8-*.json"))


# ------------------------------------------------------------------------------------------------- CLI
def test_only_parses_and_rejects_unknown_experiments():
    assert parse_only("3,1") == [1, 3] and parse_only(None) is None
    for bad in ("8", "a", "0,1"):
        with pytest.raises(ValueError, match="choose experiment numbers from 1"):
            parse_only(bad)
    assert sorted(EXPERIMENTS) == [1, 2, 3, 4, 5, 6, 7]


def test_markdown_table_marks_rows_within_and_beyond_tolerance():
    rows = [E.Row("x", "c", "q", 0.51, 0.5, 0.02), E.Row("x", "c", "q", 0.6, 0.5, 0.02), E.Row("x", "c", "q", 1e-6, "→ 0")]
    text = markdown_table(rows, {"wall_time_s": 1.0})
    lines = [line for line in text.splitlines() if line.startswith("| x")]
    assert lines[0].endswith("| ✓ |") and lines[1].endswith("| ✗ |") and lines[2].endswith("|  |")
    assert "1e-06" in lines[2] and "→ 0" in lines[2]


def test_markdown_cells_with_a_bar_do_not_split_the_row():
    """`|D(x) - D*(x)|` in a cell used to add columns to the row (theory.md's tables broke)."""
    import re

    text = markdown_table([E.Row("1", "a|b", "max |D - D*|", 0.01, 0.0, 0.05)], {"wall_time_s": 1.0})
    (line,) = [line for line in text.splitlines() if line.startswith("| 1")]
    header = [line for line in text.splitlines() if line.startswith("| #")][0]
    assert len(re.findall(r"(?<!\\)\|", line)) == header.count("|")          # unescaped bars: the columns
    assert "a\\|b" in line and "max \\|D - D*\\|" in line


def test_ebgan_loss_measures_total_variation_from_below():
    from benchmark.theory.experiments import ebgan_total_variation

    result = ebgan_total_variation(shifts=(1.0,), n=1024, steps=500)
    (row,) = result["rows"]
    assert row.theory == pytest.approx(0.3829, abs=1e-3)          # TV(N(1, 1), N(0, 1)) = 2Φ(½) − 1
    assert row.measured <= row.theory                             # m(1 − TV) is the minimum of L_D: never beaten
    assert row.measured > 0.75 * row.theory                       # and the trained energy gets close to it
    assert row.passed is (abs(row.measured - row.theory) <= row.tolerance)
