"""The six experiments of the theory lab; each returns table rows, the numbers behind its plot, and plots them.

Every network, loss and training hook is the benchmark's own: a variant is built from ``models.VARIANTS``
(``minimax`` with its class prior π, ``nsgan``, ``wgan``, ``wgan_gp``, ``fgan`` with each divergence of
``models.losses.F_DIVERGENCES``) and its discriminator is trained by :func:`fit_discriminator` through the
variant's ``critique``/``d_loss``/``d_penalty``/``after_d_step`` — the same calls ``GANModule.discriminator_step``
makes, minus Lightning's plumbing (the generator is held fixed, so no ``Trainer`` is needed). Experiment 3
calls ``models.losses.minimax_g_loss`` / ``nonsaturating_g_loss`` on the variant's generator, and experiment 6
trains whole GANs with ``benchmark.train.run.execute``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from models import Critique, get_variant, losses

from ..score.toy import mode_statistics
from ..train.callbacks import PeriodicCallback
from ..train.rng import isolated_rng
from ..train.run import execute
from . import densities as dens
from .densities import Mixture1D

LOG2, LOG4 = math.log(2.0), math.log(4.0)
# where a discriminator is compared with D*: grid points at which the mixture (p* + pθ)/2 is at least this
# fraction of its maximum (elsewhere neither class has samples, and D is unconstrained by its loss)
MASS_FRACTION = 0.01


@dataclass
class Row:
    """One line of the measured-vs-theory table. ``passed`` is None for rows without a numeric tolerance."""

    experiment: str
    case: str
    quantity: str
    measured: float
    theory: float | str
    tolerance: float | None = None
    upper: float | None = None        # a bound the measurement may not exceed, checked without tolerance
    passed: bool | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.tolerance is not None and isinstance(self.theory, (int, float)):
            self.passed = bool(abs(self.measured - self.theory) <= self.tolerance)
        if self.upper is not None:
            self.passed = bool(self.passed is not False and self.measured <= self.upper)


# ----------------------------------------------------------------------------------------------- training
def make_variant(name: str, **cfg: Any):
    """A 1-D variant of the registry (a small tanh MLP unless ``cfg`` says otherwise)."""
    cfg = {"hidden": 32, "depth": 2, "activation": "tanh", **cfg}
    return get_variant(name)(data_shape=(1,), **cfg)


def as_points(x: np.ndarray | Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(-1, 1)


def d_objective(model, real: Tensor, fake: Tensor) -> Tensor:
    """The variant's discriminator loss on one batch, exactly as ``GANModule.discriminator_step`` forms it."""
    disc = model.discriminators[0]
    real_c, fake_c = model.critique(disc, real, None), model.critique(disc, fake, None)
    loss = model.d_loss(real_c, fake_c)
    penalty = model.d_penalty(disc, real_c.x, fake_c.x, None)
    return loss if penalty is None else loss + penalty


def fit_discriminator(model, real: Tensor, fake: Tensor, steps: int, optimizer: str = "lbfgs",
                      on_step: Callable[[int], None] | None = None) -> float:
    """Train ``model.discriminators[0]`` on fixed ``real``/``fake`` samples; returns the final loss.

    ``optimizer="lbfgs"``: full-batch L-BFGS with a strong-Wolfe line search, to reach the optimum of a smooth
    loss (experiments 1, 2, 5). ``"variant"``: the variant's own D optimiser from ``configure_optimizers``
    (Adam / RMSProp at its configured lr), one full-batch step at a time followed by ``after_d_step`` (weight
    clipping), as in training (experiments 3, 4); ``on_step(k)`` is called before step k and after the last.
    """
    disc = model.discriminators[0]
    model.train()
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(disc.parameters(), lr=1.0, max_iter=steps, history_size=50,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

        def closure() -> Tensor:
            opt.zero_grad()
            loss = d_objective(model, real, fake)
            loss.backward()
            return loss

        opt.step(closure)
    else:
        opts = model.configure_optimizers()
        opt = (opts[0] if isinstance(opts, (list, tuple)) else opts)
        opt = opt[0] if isinstance(opt, (list, tuple)) else opt
        for k in range(steps):
            if on_step is not None:
                on_step(k)
            opt.zero_grad()
            d_objective(model, real, fake).backward()
            opt.step()
            model.after_d_step()
        if on_step is not None:
            on_step(steps)
    with torch.no_grad():
        return float(model.d_loss(model.critique(disc, real, None), model.critique(disc, fake, None)))


@torch.no_grad()
def scores(model, x: np.ndarray) -> np.ndarray:
    """The discriminator's raw output (logit / critic value / V) on points ``x``."""
    return model.discriminators[0](as_points(x))[0].double().numpy()


def sigmoid(v: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(np.asarray(v, dtype=np.float64))


def bulk_mask(p: Mixture1D, q: Mixture1D, x: np.ndarray) -> np.ndarray:
    m = 0.5 * (p.pdf(x) + q.pdf(x))
    return m >= MASS_FRACTION * m.max()


def grid_for(p: Mixture1D, q: Mixture1D, n: int = 801, k: float = 4.0) -> np.ndarray:
    lo, hi = min(p.span(k)[0], q.span(k)[0]), max(p.span(k)[1], q.span(k)[1])
    return np.linspace(lo, hi, n)


# --------------------------------------------------------------------- 1. the optimal discriminator
OPTIMAL_D_CASES: list[tuple[str, Mixture1D, Mixture1D, float]] = [
    ("two Gaussians", dens.gaussian(0.0, 1.0), dens.gaussian(1.5, 0.6), 0.5),
    ("mixture vs Gaussian", dens.mixture((-2.0, 2.0), 0.6), dens.gaussian(0.0, 1.5), 0.5),
    ("mixture vs Gaussian, π = 0.2", dens.mixture((-2.0, 2.0), 0.6), dens.gaussian(0.0, 1.5), 0.2),
]


def optimal_discriminator(n: int = 4096, steps: int = 300, seed: int = 0,
                          cases: list[tuple[str, Mixture1D, Mixture1D, float]] | None = None) -> dict:
    """Seed 003 (+ the class prior of seed 000): train ``minimax``'s D on fixed p*, pθ; compare σ(D) with
    D* = πp*/(πp* + (1-π)pθ) on a grid where the two classes have mass."""
    rows, curves = [], []
    for case, p_star, p_theta, pi in (OPTIMAL_D_CASES if cases is None else cases):
        torch.manual_seed(seed)
        model = make_variant("minimax", pi=pi)
        fit_discriminator(model, as_points(p_star.quantiles(n)), as_points(p_theta.quantiles(n)), steps)
        x = grid_for(p_star, p_theta)
        d_hat, d_star = sigmoid(scores(model, x)), dens.optimal_discriminator(p_star, p_theta, x, pi)
        mask = bulk_mask(p_star, p_theta, x)
        err = np.abs(d_hat - d_star)[mask]
        name = f"{case}: p* = {p_star.label}, pθ = {p_theta.label}"
        rows += [Row("1 optimal D", name, "max |σ(D) − D*| on the grid", float(err.max()), 0.0, 0.05),
                 Row("1 optimal D", name, "mean |σ(D) − D*| on the grid", float(err.mean()), 0.0, 0.01)]
        curves.append({"case": case, "pi": pi, "p_star": p_star.label, "p_theta": p_theta.label, "x": x,
                       "p_star_pdf": p_star.pdf(x), "p_theta_pdf": p_theta.pdf(x), "d_hat": d_hat,
                       "d_star": d_star, "mask": mask, "max_err": float(err.max())})
    return {"rows": rows, "curves": curves}


def plot_optimal_discriminator(result: dict, path: Path) -> Path:
    plt = _pyplot()
    curves = result["curves"]
    fig, axes = plt.subplots(2, len(curves), figsize=(5.2 * len(curves), 6.4), sharex="col",
                             gridspec_kw={"height_ratios": [1, 1.4]})
    for j, c in enumerate(curves):
        top, bot = axes[0, j], axes[1, j]
        top.fill_between(c["x"], c["p_star_pdf"], color="tab:blue", alpha=0.3, label=f"p* = {c['p_star']}")
        top.fill_between(c["x"], c["p_theta_pdf"], color="tab:orange", alpha=0.3, label=f"pθ = {c['p_theta']}")
        top.set_title(f"{c['case']}")
        top.legend(fontsize=8, loc="upper right")
        top.set_ylabel("density")
        lo, hi = c["x"][c["mask"]].min(), c["x"][c["mask"]].max()
        for a in (top, bot):
            a.axvspan(c["x"][0], lo, color="0.92")
            a.axvspan(hi, c["x"][-1], color="0.92")
        bot.plot(c["x"], c["d_star"], color="k", lw=3, alpha=0.35, label="D* = πp*/(πp* + (1−π)pθ)")
        bot.plot(c["x"], c["d_hat"], color="tab:red", lw=1.2, ls="--", label="σ(D(x)), trained")
        bot.axhline(c["pi"], color="0.5", lw=0.8, ls=":")
        bot.set_ylim(-0.03, 1.03)
        bot.set_xlabel("x")
        bot.set_ylabel("P(real | x)")
        bot.text(0.02, 0.04, f"max error {c['max_err']:.3f} (white region)\nπ = {c['pi']}", fontsize=8,
                 transform=bot.transAxes)
        bot.legend(fontsize=8, loc="upper right")
    fig.suptitle("1. Optimal discriminator (seeds 000, 003): the trained minimax D recovers D*", fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------------------ 2. value at the optimum
def value_at_optimum(shifts: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
                     n: int = 4096, steps: int = 300, seed: int = 0, with_mixture: bool = True) -> dict:
    """Seeds 001–003: with D optimal, d_loss = log 2 − JSD and V(G, D*) = −2·d_loss = 2·JSD − log 4; p* = N(0, 1),
    pθ = N(shift, 1) (and one mixture). At shift 0, V = −log 4 and D* ≡ 1/2."""
    p_star = dens.gaussian(0.0, 1.0)
    cases = [(f"pθ = N({s:g}, 1)", dens.gaussian(s, 1.0)) for s in shifts]
    if with_mixture:
        cases.append(("pθ = mix(−1, 2; σ=0.5)", dens.mixture((-1.0, 2.0), 0.5)))
    rows, points = [], []
    for case, p_theta in cases:
        torch.manual_seed(seed)
        model = make_variant("minimax")
        # real and fake quantiles interleave (offsets ¼, ¾) so at pθ = p* the two sample sets differ
        d_loss = fit_discriminator(model, as_points(p_star.quantiles(n, 0.25)),
                                   as_points(p_theta.quantiles(n, 0.75)), steps)
        exact = dens.jsd(p_star, p_theta)
        est = LOG2 - d_loss
        rows.append(Row("2 value at D*", f"p* = N(0, 1), {case}", "JSD from d_loss = log 2 − JSD [nats]",
                        est, exact, 0.02))
        rows.append(Row("2 value at D*", f"p* = N(0, 1), {case}", "V(G, D) = −2·d_loss vs 2·JSD − log 4",
                        -2 * d_loss, 2 * exact - LOG4, 0.04))
        if p_theta == p_star:
            x = grid_for(p_star, p_theta)
            dev = float(np.abs(sigmoid(scores(model, x)) - 0.5)[bulk_mask(p_star, p_theta, x)].max())
            rows.append(Row("2 value at D*", f"p* = pθ = N(0, 1)", "max |σ(D) − ½| on the grid", dev, 0.0, 0.02))
        points.append({"case": case, "shift": p_theta.means[0] if len(p_theta.means) == 1 else None,
                       "jsd_exact": exact, "jsd_estimate": est, "d_loss": d_loss})
    return {"rows": rows, "points": points}


def plot_value_at_optimum(result: dict, path: Path) -> Path:
    plt = _pyplot()
    pts = [p for p in result["points"] if p["shift"] is not None]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    s = np.array([p["shift"] for p in pts])
    s_fine = np.linspace(0, s.max(), 200)
    exact_fine = [dens.jsd(dens.gaussian(0, 1), dens.gaussian(v, 1)) for v in s_fine]
    a.plot(s_fine, exact_fine, color="k", lw=3, alpha=0.35, label="JSD by quadrature")
    a.plot(s, [p["jsd_estimate"] for p in pts], "o", color="tab:red", label="log 2 − d_loss of trained D")
    a.axhline(LOG2, color="0.5", ls=":", lw=0.8)
    a.text(0.05, LOG2 - 0.035, "log 2 (disjoint supports)", fontsize=8, color="0.3")
    a.set_xlabel("shift μ of pθ = N(μ, 1) from p* = N(0, 1)")
    a.set_ylabel("JSD(p* ‖ pθ) [nats]")
    a.legend(fontsize=8, loc="center right")
    a.set_title("JSD estimated from the discriminator's loss")
    b.plot(s_fine, 2 * np.array(exact_fine) - LOG4, color="k", lw=3, alpha=0.35, label="2·JSD − log 4")
    b.plot(s, [-2 * p["d_loss"] for p in pts], "o", color="tab:red", label="V(G, D) = −2·d_loss, trained D")
    b.axhline(-LOG4, color="0.5", ls=":", lw=0.8)
    b.text(s.max() * 0.3, -LOG4 + 0.02, "−log 4 (pθ = p*)", fontsize=8, color="0.3")
    b.set_xlabel("shift μ")
    b.set_ylabel("V(G, D*)")
    b.legend(fontsize=8, loc="upper left")
    b.set_title("Value of the game at the optimal discriminator")
    fig.suptitle("2. V(G, D*) = 2·JSD(p*‖pθ) − log 4 (seeds 001–003)", fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------------------ 3. vanishing gradients
def vanishing_gradients(d_steps: int = 2000, n: int = 1024, seed: int = 0, lr_d: float = 1e-3) -> dict:
    """Seed 002: p* = N(−3, 0.3²) and a freshly initialised generator near 0 (almost disjoint supports). The
    generator is held fixed while ``nsgan``'s discriminator trains; at log-spaced D steps the gradient norms of
    ``losses.minimax_g_loss`` (saturating, E log(1 − D(G(z)))) and ``losses.nonsaturating_g_loss`` (−E log D(G(z)))
    are measured w.r.t. the generator's parameters and its samples. ∂/∂l of the two losses at a fake logit l
    are −σ(l) = −D and −(1 − D): as D(G(z)) → 0 the saturating gradient vanishes like D(G(z)), the other does not.
    """
    torch.manual_seed(seed)
    # piecewise-linear D (leaky ReLU): its logit keeps a slope far from the data, so any vanishing comes from
    # the loss's σ(l) factor, not from saturated hidden units
    model = make_variant("nsgan", activation="leaky_relu", lr_d=lr_d, z_dim=4)
    p_star = dens.gaussian(-3.0, 0.3)
    real = as_points(p_star.quantiles(n))
    z = torch.randn(n, model.cfg.z_dim)
    with torch.no_grad():
        fake_fixed = model.generator(z)
    checkpoints = set(np.unique(np.geomspace(1, d_steps, 40).astype(int)).tolist()) | {0}
    trace: dict[str, list[float]] = {k: [] for k in ("step", "d_fake", "sat_params", "nonsat_params",
                                                     "sat_samples", "nonsat_samples")}
    last: dict[str, Tensor] = {}

    def measure(step: int) -> None:
        if step not in checkpoints:
            return
        disc = model.discriminators[0]
        trace["step"].append(step)
        for name, g_loss in (("sat", losses.minimax_g_loss), ("nonsat", losses.nonsaturating_g_loss)):
            model.generator.zero_grad()
            fake = model.generator(z)
            fake.retain_grad()
            score = model.critique(disc, fake, None).score
            g_loss(score).backward()
            trace[f"{name}_params"].append(float(model._grad_norm(model.generator)))
            trace[f"{name}_samples"].append(float(fake.grad.norm()))
            last[name] = fake.grad.detach().abs().flatten() * n          # per-sample |∂L/∂x_i|
            last["d"] = torch.sigmoid(score.detach())
        trace["d_fake"].append(float(last["d"].mean()))
        disc.zero_grad()

    fit_discriminator(model, real, fake_fixed, d_steps, optimizer="variant", on_step=measure)
    # measured: the two losses' autograd gradients per sample; theory (seed 002): the saturating one vanishes
    # like D(G(z)) itself (the exact per-sample ratio σ(l)/(1 − σ(l)) tends to D as D → 0), so the row holds
    # only when D has become confident *and* both losses have the derivatives −σ(l) and −(1 − σ(l))
    ratio = float((last["sat"] / last["nonsat"]).mean())
    expected = float(last["d"].double().mean())
    sat_drop = trace["sat_params"][-1] / trace["sat_params"][0]
    ns_drop = trace["nonsat_params"][-1] / trace["nonsat_params"][0]
    case = f"p* = {p_star.label}, G(z) ≈ {float(fake_fixed.mean()):.2f} ± {float(fake_fixed.std()):.2f}"
    rows = [Row("3 vanishing gradients", case, "mean D(G(z)) after D training", trace["d_fake"][-1], "→ 0"),
            Row("3 vanishing gradients", case, "saturating ‖∇θ‖: final / initial", sat_drop, "→ 0"),
            Row("3 vanishing gradients", case, "non-saturating ‖∇θ‖: final / initial", ns_drop, "O(1), no collapse"),
            Row("3 vanishing gradients", case, "log10 mean |∂L_sat/∂x| / |∂L_nonsat/∂x| vs log10 mean D(G(z))",
                math.log10(ratio), math.log10(expected), 0.01)]
    return {"rows": rows, "trace": trace, "case": case}


def plot_vanishing_gradients(result: dict, path: Path) -> Path:
    plt = _pyplot()
    t = result["trace"]
    steps = np.maximum(np.array(t["step"]), 0.5)              # step 0 drawn at 0.5 on the log axis
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.loglog(steps, t["sat_params"], "-o", ms=3, color="tab:red", label="saturating  E log(1 − D(G(z)))")
    a.loglog(steps, t["nonsat_params"], "-o", ms=3, color="tab:blue", label="non-saturating  −E log D(G(z))")
    a.loglog(steps, t["sat_samples"], ":", color="tab:red", label="saturating, ‖∇ w.r.t. the samples G(z)‖")
    a.loglog(steps, t["nonsat_samples"], ":", color="tab:blue", label="non-saturating, ‖∇ w.r.t. G(z)‖")
    a.set_xlabel("discriminator training steps (generator fixed; step 0 at 0.5)")
    a.set_ylabel("gradient norm: ‖∇θ L_G‖ (solid), ‖∇_G(z) L_G‖ (dotted)")
    a.set_title("Generator gradient vs discriminator training")
    a.legend(fontsize=8, loc="lower left")
    b.loglog(steps, t["d_fake"], "-o", ms=3, color="k")
    b.set_xlabel("discriminator training steps")
    b.set_ylabel("mean D(G(z))")
    b.set_title("The discriminator becomes confident")
    fig.suptitle(f"3. Vanishing gradients on (almost) disjoint supports (seed 002): {result['case']}", fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------ 4. GAN discriminator vs WGAN critic
W1_SEPARATED = 4.0                  # W₁(N(−2, σ²), N(2, σ²)) = |−2 − 2|
def discriminator_vs_critic(steps: int = 1500, n: int = 1024, seed: int = 0, lr_d: float = 1e-3,
                            variants: tuple[str, ...] = ("minimax", "wgan", "wgan_gp")) -> dict:
    """Seed 002, Figure 2 (Arjovsky et al. 2017): p* = N(−2, 0.5²), pθ = N(2, 0.5²). The ``minimax`` discriminator
    saturates (σ(D) flat at 1 and 0 on the two supports: no gradient for the fake samples); the ``wgan`` (clipping)
    and ``wgan_gp`` critics are near-linear. The optimal 1-Lipschitz critic here is f*(x) = c − x exactly (for
    two equal-variance Gaussians F_pθ ≤ F_p* everywhere), so W₁ = 4. The gradient penalty is soft: a linear
    critic of slope −s earns W₁·s − λ(s − 1)², maximal at s = 1 + W₁/(2λ) = 1.2 for λ = 10, so WGAN-GP's
    slope is −1.2 and its estimate W₁·s = 4.8, not 4."""
    p_star, p_theta = dens.gaussian(-2.0, 0.5), dens.gaussian(2.0, 0.5)
    real, fake = as_points(p_star.quantiles(n)), as_points(p_theta.quantiles(n))
    x = np.linspace(-5, 5, 501)
    between = (x >= -2) & (x <= 2)
    out: dict[str, Any] = {"x": x, "p_star_pdf": p_star.pdf(x), "p_theta_pdf": p_theta.pdf(x)}
    rows = []
    case = f"p* = {p_star.label}, pθ = {p_theta.label}"
    for name in variants:
        torch.manual_seed(seed)
        model = make_variant(name, activation="leaky_relu", lr_d=lr_d)
        fit_discriminator(model, real, fake, steps, optimizer="variant")
        s = scores(model, x)
        xs = as_points(np.concatenate([p_star.quantiles(256), p_theta.quantiles(256)])).requires_grad_(True)
        v = model.discriminators[0](xs)[0]
        v = torch.sigmoid(v) if name == "minimax" else v
        (g,) = torch.autograd.grad(v.sum(), xs)
        mean_slope = float(g.abs().mean())
        out[name] = sigmoid(s) if name == "minimax" else s
        if name == "minimax":
            rows.append(Row("4 D vs critic", case, "GAN: mean |dσ(D)/dx| on the samples", mean_slope, "→ 0"))
            rows.append(Row("4 D vs critic", case, "GAN: σ(D) on pθ's mean (x = 2)", float(sigmoid(s)[x == 2][0])
                            if np.any(x == 2) else float(np.interp(2, x, sigmoid(s))), "→ 0 (saturated)"))
            continue
        slope, icpt = np.polyfit(x[between], s[between], 1)
        resid = s[between] - (slope * x[between] + icpt)
        r2 = 1 - resid.var() / s[between].var()
        label = "WGAN (clip)" if name == "wgan" else "WGAN-GP"
        rows.append(Row("4 D vs critic", case, f"{label}: R² of a line fit on [−2, 2]", float(r2), 1.0, 0.02))
        if name == "wgan_gp":
            with torch.no_grad():
                w = float(model.discriminators[0](real)[0].mean() - model.discriminators[0](fake)[0].mean())
            s_opt = 1 + W1_SEPARATED / (2 * model.cfg.gp_weight)
            rows.append(Row("4 D vs critic", case, "WGAN-GP: slope on [−2, 2] vs −(1 + W₁/2λ)", float(slope),
                            -s_opt, 0.05))
            rows.append(Row("4 D vs critic", case, "WGAN-GP: E f(x) − E f(G(z)) vs W₁·(1 + W₁/2λ)", w,
                            W1_SEPARATED * s_opt, 0.2))
        out[f"{name}_slope"] = mean_slope
    return {"rows": rows, "curves": out, "case": case}


def plot_discriminator_vs_critic(result: dict, path: Path) -> Path:
    plt = _pyplot()
    c = result["curves"]
    x = c["x"]
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    scale = 1.0 / max(c["p_star_pdf"].max(), c["p_theta_pdf"].max())
    ax.fill_between(x, c["p_star_pdf"] * scale, color="tab:blue", alpha=0.25, label="p* (real), scaled")
    ax.fill_between(x, c["p_theta_pdf"] * scale, color="tab:orange", alpha=0.25, label="pθ (fake), scaled")
    ax.plot(x, c["minimax"], color="tab:red", lw=2, label="GAN discriminator σ(D(x))")
    for name, color, label in (("wgan", "tab:green", "WGAN critic (clipping)"),
                               ("wgan_gp", "tab:purple", "WGAN-GP critic")):
        f = c[name]
        ax.plot(x, (f - f.min()) / (f.max() - f.min()), color=color, lw=2, label=f"{label}, min-max scaled")
    ax.set_xlabel("x")
    ax.set_ylabel("value (critics rescaled to [0, 1])")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("4. GAN discriminator saturates, the WGAN critics are near-linear (seed 002, Figure 2)",
                 fontsize=10)
    return _save(fig, path)


# ----------------------------------------------------------------------------------- 5. f-divergences
def f_divergence_bounds(names: tuple[str, ...] | None = None, n: int = 4096, steps: int = 300,
                        seed: int = 0) -> dict:
    """Seed 000: for each row of ``losses.F_DIVERGENCES``, train the ``fgan`` critic V on P (data) and Q
    (generator) samples to maximise F = E_P[g_f(V)] − E_Q[f*(g_f(V))] (``losses.fgan_bound``); compare F with
    D_f(P‖Q) = ∫ q f(p/q) by quadrature, and T = g_f(V) with the optimal T* = f'(p/q).

    The bound of the *trained* critic is evaluated on the densities, F(T) = ∫ p T − q f*(T) on the same fine
    grid as ∫ q f(p/q): by Fenchel–Young p T − q f*(T) ≤ q f(p/q) at every x, so F(T) ≤ D_f holds for any
    critic, and the row fails if it does not (no tolerance). The training-sample value is reported beside it:
    it is *not* a lower bound (a critic can send T to ±∞ where only one side has samples; squared Hellinger's
    reached 0.3049 > D_f = 0.3038 at 4,096 samples).

    P = N(1, 0.8²), Q = N(0, 1), except the ``P_WIDER`` rows, which get the mirrored pair. On *samples* the bound is
    bounded only if the side whose term is unbounded in V lies inside the other's samples: KL and χ² need
    P's samples inside Q's (else V → +∞ on lone P points), reverse KL and Neyman χ² need Q's inside P's (their
    Q terms let V → −∞ on lone Q points; Neyman's D_f(N(1, 0.8²)‖N(0, 1)) = ∫ q²/p − 1 is 42, dominated by
    tails no sample reaches).
    """
    narrow, wide = dens.gaussian(1.0, 0.8), dens.gaussian(0.0, 1.0)
    names = tuple(names or losses.F_DIVERGENCES)
    rows, curves = [], []
    for name in names:
        p, q = (wide, narrow) if name in P_WIDER else (narrow, wide)
        div = losses.F_DIVERGENCES[name]
        case = f"P = {p.label}, Q = {q.label}"
        torch.manual_seed(seed)
        model = make_variant("fgan", divergence=name)
        m = max(n, F_BOUND_SAMPLES.get(name, 0))
        sample_bound = -fit_discriminator(model, as_points(p.quantiles(m)), as_points(q.quantiles(m)), steps)
        exact = dens.f_divergence(div.f, p, q)
        bound, exact_on_grid = density_bound(model, div, p, q)
        tol = F_BOUND_ABS_TOL + F_BOUND_REL_TOL * abs(exact)
        rows.append(Row("5 f-divergence", case, f"{name}: variational bound F(T) on the densities vs D_f(P‖Q)",
                        bound, exact, tol, upper=exact_on_grid))
        rows.append(Row("5 f-divergence", case, f"{name}: F on the {m} training samples (not a bound)",
                        sample_bound, exact))
        x = grid_for(p, q, k=3.0)
        with torch.no_grad():
            t_hat = div.activation(torch.as_tensor(scores(model, x))).numpy()
            t_star = div.optimal_t(torch.as_tensor(np.exp(p.logpdf(x) - q.logpdf(x)))).numpy()
        curves.append({"name": name, "case": case, "bound": bound, "exact": exact, "x": x, "t_hat": t_hat,
                       "t_star": t_star, "mask": bulk_mask(p, q, x), "sample_bound": sample_bound})
    return {"rows": rows, "curves": curves}


def density_bound(model, div, p: Mixture1D, q: Mixture1D, points: int = 200_001) -> tuple[float, float]:
    """(F(T), D_f) by the trapezoid rule on one grid over both spans (±10 std): F(T) = ∫ p g_f(V) − q f*(g_f(V))
    with the trained critic V, D_f = ∫ q f(p/q). The integrand of F is below D_f's at every grid point
    (Fenchel–Young) and the weights are positive, so F(T) ≤ D_f on the grid up to rounding (~1e-16 relative)."""
    lo, hi = min(p.span()[0], q.span()[0]), max(p.span()[1], q.span()[1])
    x = np.linspace(lo, hi, points)
    with torch.no_grad():
        v = torch.as_tensor(scores(model, x))
        lp, lq = torch.as_tensor(p.logpdf(x)), torch.as_tensor(q.logpdf(x))
        bound_density = (torch.exp(lp) * div.activation(v) - torch.exp(lq) * div.fake_term(v)).numpy()
        div_density = (torch.exp(lq) * div.f(torch.exp(lp - lq))).numpy()
    return float(np.trapz(bound_density, x)), float(np.trapz(div_density, x))


P_WIDER = {"reverse_kl", "neyman"}  # divergences trained on the mirrored pair (see f_divergence_bounds)
# more samples where 4,096 let the critic overfit the band between the extreme Q and P samples: squared
# Hellinger's density bound was 0.198 (D_f 0.304) at 4,096 (T ≈ −6e9 there, where p is small but not 0),
# 0.3038 at 16,384 (seed 0)
F_BOUND_SAMPLES = {"squared_hellinger": 16384}
# tolerance of |F − D_f|: F ≤ D_f (checked exactly, see density_bound); the gap is second order in the critic's error
# (F is stationary at T*: gap ≈ ½ E_Q[f*''(T*)(T − T*)²]), so a critic within a few % of T* over the bulk
# gives a gap well under 2 % of D_f; Jeffrey's critic, whose Q term grows only like log|T| on lone Q points,
# stays 1 % below.
F_BOUND_ABS_TOL, F_BOUND_REL_TOL = 0.01, 0.03


def plot_f_divergence_bounds(result: dict, path: Path) -> Path:
    plt = _pyplot()
    curves = result["curves"]
    cols = 3
    rows_n = math.ceil(len(curves) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.3 * cols, 3.3 * rows_n), squeeze=False)
    for ax, c in zip(axes.flat, curves):
        m = c["mask"]
        ax.plot(c["x"][m], c["t_star"][m], color="k", lw=3, alpha=0.35, label="T* = f′(p/q)")
        ax.plot(c["x"][m], c["t_hat"][m], color="tab:red", ls="--", lw=1.2, label="g_f(V(x)), trained")
        lo, hi = c["t_star"][m].min(), c["t_star"][m].max()     # T* sets the scale; a critic running off
        pad = 0.15 * (hi - lo)                                  # where only one class has samples is clipped
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{c['name']}: F = {c['bound']:.4f}, D_f = {c['exact']:.4f}\n{c['case']}", fontsize=9)
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    fig.suptitle("5. f-GAN critics T = g_f(V) vs the optimal T* = f′(p/q), and bound F vs D_f (seed 000)",
                 fontsize=11)
    return _save(fig, path)


# -------------------------------------------------------------------------- 7. EBGAN and total variation
def ebgan_total_variation(shifts: tuple[float, ...] = (0.5, 1.0, 2.0), n: int = 4096, steps: int = 1500,
                          seed: int = 0, margin: float = 1.0, lr_d: float = 1e-2) -> dict:
    """Seed 002: EBGAN's discriminator loss measures total variation. For an energy D ≥ 0 the pointwise minimum
    of p·D + q·[m − D]₊ is m·min(p, q) (D = 0 where p > q, D ≥ m where q > p), so
    min_D L_D = m ∫ min(p, q) = m (1 − TV(P, Q)) and 1 − L_D/m estimates TV from below.

    The ``ebgan`` autoencoder energy is trained on P = N(s, 1) (data) and Q = N(0, 1) (generator) samples with
    its own Adam (``lr_d``); L_D of the trained energy is then integrated on the densities, where it can never
    fall below m(1 − TV) (the row fails if 1 − L_D/m exceeds TV, no tolerance), and should come close to it.
    """
    q = dens.gaussian(0.0, 1.0)
    rows, curves = [], []
    for s in shifts:
        p = dens.gaussian(s, 1.0)
        torch.manual_seed(seed)
        model = make_variant("ebgan", margin=margin, lr_d=lr_d, hidden=64)
        fit_discriminator(model, as_points(p.quantiles(n)), as_points(q.quantiles(n)), steps, optimizer="variant")
        lo, hi = min(p.span()[0], q.span()[0]), max(p.span()[1], q.span()[1])
        x = np.linspace(lo, hi, 200_001)
        energy, pp, qq = scores(model, x), p.pdf(x), q.pdf(x)
        loss = float(np.trapz(pp * energy + qq * np.maximum(margin - energy, 0.0), x))
        tv = float(0.5 * np.trapz(np.abs(pp - qq), x))
        case = f"P = {p.label}, Q = {q.label}, m = {margin:g}"
        rows.append(Row("7 EBGAN ~ TV", case, "1 − L_D/m of the trained energy, on the densities, vs TV(P, Q)",
                        1.0 - loss / margin, tv, EBGAN_TV_TOL, upper=tv))
        g = grid_for(p, q, k=3.0)
        curves.append({"case": case, "x": g, "energy": scores(model, g), "optimal": np.where(p.pdf(g) > q.pdf(g),
                       0.0, margin), "tv": tv, "estimate": 1.0 - loss / margin})
    return {"rows": rows, "curves": curves}


# |TV estimate − TV| at the full size: 0.020, 0.042, 0.041 for s = 0.5, 1, 2 (seed 0, 1,500 Adam steps); the
# energy's smooth step between D = 0 and D = m is where the gap comes from
EBGAN_TV_TOL = 0.06


def plot_ebgan_total_variation(result: dict, path: Path) -> Path:
    plt = _pyplot()
    curves = result["curves"]
    fig, axes = plt.subplots(1, len(curves), figsize=(4.3 * len(curves), 3.3), squeeze=False)
    for ax, c in zip(axes.flat, curves):
        ax.plot(c["x"], c["optimal"], color="k", lw=3, alpha=0.35, label="optimal energy (0 where p > q, else m)")
        ax.plot(c["x"], c["energy"], color="tab:red", ls="--", lw=1.2, label="trained energy D(x)")
        ax.set_ylim(-0.1, 2.0)
        ax.set_title(f"{c['case']}\n1 − L_D/m = {c['estimate']:.3f}, TV = {c['tv']:.3f}", fontsize=9)
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    fig.suptitle("7. EBGAN: min_D L_D = m(1 − TV(P, Q)) (seed 002)", fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------------------------ 6. mode collapse
TRICKS: dict[str, dict[str, Any]] = {
    "nsgan": {},
    "+ minibatch discrimination": {"minibatch_kernels": 5},
    "+ instance noise": {"instance_noise": 0.1},
    "+ 3 discriminators": {"n_discriminators": 3},
    "+ stop criteria": {"stop_d_above": 0.6, "stop_g_below": 0.68},
}


def mode_collapse(datasets: tuple[str, ...] = ("ring8", "grid25"), iterations: int = 1000, every: int = 100,
                  seed: int = 0, results_dir: str | Path = "results/theory",
                  tricks: dict[str, dict[str, Any]] | None = None, batch_size: int = 128) -> dict:
    """Seed 002: modes covered over training for ``nsgan`` with and without the tricks, each run through
    ``benchmark.train.run.execute`` (the benchmark's runner, metrics and run JSONs); a callback scores 2500
    samples with ``mode_statistics`` every ``every`` iterations (on a forked RNG, so training is unchanged).
    Run JSONs go to ``results_dir/runs``. Batches of 128 rather than the datamodule's 512: minibatch
    discrimination costs O(B²) per forward (about 1 s per iteration at B = 512 on a loaded 2-core CPU)."""

    tricks = TRICKS if tricks is None else tricks
    rows, traces = [], []
    for data in datasets:
        for label, opts in tricks.items():
            tracker = ModeTracker(every)
            record = execute({"variant": "nsgan", "data": data, "seed": seed, "iterations": iterations,
                              "batch_size": batch_size,
                              "results_dir": str(results_dir), "wandb": "disabled", "save_samples": 0,
                              "resume": False, **opts}, callbacks=[tracker])
            k = int(tracker.num_modes)
            final = record["metrics"].get("modes_covered", float("nan"))
            rows.append(Row("6 mode collapse", f"{data}, {iterations} it., seed {seed}",
                            f"{label}: modes covered at the end (of {k})", float(final), f"{k} (no collapse)"))
            traces.append({"data": data, "label": label, "options": opts, "status": record["status"],
                           "run_id": record["run_id"], "num_modes": k, **tracker.trace,
                           "final_metrics": record["metrics"], "samples": tracker.last_samples})
    return {"rows": rows, "traces": traces}


class ModeTracker(PeriodicCallback):
    """Records ``modes_covered`` and ``high_quality`` of 2,500 samples every ``every`` GAN iterations (forked RNG)."""

    def __init__(self, every: int, num_samples: int = 2500) -> None:
        super().__init__(every)
        self.num_samples = num_samples
        self.trace: dict[str, list[float]] = {"iteration": [], "modes_covered": [], "high_quality": []}
        self.num_modes = 0
        self.last_samples: list | None = None

    def _score(self, trainer, module) -> None:
        it = module.iteration
        if self.trace["iteration"] and self.trace["iteration"][-1] == it:
            return
        dm = trainer.datamodule
        with isolated_rng(10_000 + it):
            x = module.sample(self.num_samples).cpu()
        stats = mode_statistics(x, dm.modes(), dm.std)
        self.num_modes = int(dm.modes().shape[0])
        self.trace["iteration"].append(it)
        self.trace["modes_covered"].append(stats["modes_covered"])
        self.trace["high_quality"].append(stats["high_quality"])
        self.last_samples = x[:1000].numpy()

    def on_train_start(self, trainer, module) -> None:
        self._score(trainer, module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.due(module.iteration):
            self._score(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self._score(trainer, module)


def plot_mode_collapse(result: dict, path: Path) -> Path:
    from datamodules import get_datamodule

    plt = _pyplot()
    datasets = list(dict.fromkeys(t["data"] for t in result["traces"]))
    labels = list(dict.fromkeys(t["label"] for t in result["traces"]))
    fig, axes = plt.subplots(len(datasets), 1 + len(labels), figsize=(2.9 * (1 + len(labels)) + 1.5,
                                                                      3.4 * len(datasets)), squeeze=False,
                             gridspec_kw={"width_ratios": [1.8] + [1] * len(labels)})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, data in enumerate(datasets):
        ax = axes[i, 0]
        for j, t in enumerate(t for t in result["traces"] if t["data"] == data):
            ax.plot(t["iteration"], t["modes_covered"], "-o", ms=3, color=colors[j % len(colors)],
                    label=t["label"])
            k = t["num_modes"]
        ax.axhline(k, color="0.5", ls=":", lw=0.8)
        ax.set_ylim(0, k + 1)
        ax.set_xlabel("GAN iteration")
        ax.set_ylabel(f"modes covered (of {k})")
        ax.set_title(f"{data}", fontsize=10)
        if i == 0:
            ax.legend(fontsize=7, loc="lower right")
        for j, t in enumerate(t for t in result["traces"] if t["data"] == data):
            a = axes[i, 1 + j]
            if t["samples"] is not None:
                s = np.asarray(t["samples"])
                a.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4, color=colors[j % len(colors)])
            modes = get_datamodule(data).modes().numpy()
            a.scatter(modes[:, 0], modes[:, 1], marker="x", s=18, color="k", lw=0.8)
            a.set_title(f"{t['label']}: {t['modes_covered'][-1]:.0f}/{k}", fontsize=9)
            a.set_aspect("equal")
            lim = 3 if data == "ring8" else 5.5
            a.set_xlim(-lim, lim)
            a.set_ylim(-lim, lim)
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle("6. Mode collapse (seed 002): modes covered over training by nsgan with and without the tricks; "
                 "right: final samples (× = modes)", fontsize=11)
    return _save(fig, path)


# ----------------------------------------------------------------------------------- plotting helpers
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def rows_as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
