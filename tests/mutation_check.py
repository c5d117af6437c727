"""Mutation check of the loss tests: run as ``python tests/mutation_check.py [NAME ...]`` (not collected by pytest;
NAME substrings pick some mutants).

Each mutant edits one line of ``models/`` (a flipped sign, swapped real/fake, one ε per batch in the
gradient penalty, ...), runs the tests that should notice, and restores the file. A mutant is *killed* when
those tests fail. The table lists every mutant; the exit status is 1 if any survived, 2 (before any file is
touched) if a mutant's original text is not found exactly once (``tests/test_mutation_targets.py`` checks that
in the suite).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOSSES, CLASSIC, COURSE = "tests/models/test_losses.py", "tests/models/test_classic_objectives.py", \
    "tests/models/test_course_objectives.py"
STEP = "tests/models/test_training_step.py"
KIT = "tests/models/test_modern_kit.py"          # issue 28: rpgan, R1/R2, dragan, began, g_ema, diffaugment
# the classic file without its slow Lightning runs over every variant × architecture (STEP covers the step)

# (name, file, original text, mutated text, tests to run)
MUTANTS = [
    ("minimax D: swap real/fake", "models/losses.py",
     "pi * F.softplus(-real).mean() + (1.0 - pi) * F.softplus(fake).mean()",
     "pi * F.softplus(-fake).mean() + (1.0 - pi) * F.softplus(real).mean()", [LOSSES]),
    ("minimax G: flip sign", "models/losses.py", "return -F.softplus(fake).mean()",
     "return F.softplus(fake).mean()", [LOSSES]),
    ("non-saturating G: flip logit sign", "models/losses.py", "return F.softplus(-fake).mean()",
     "return F.softplus(fake).mean()", [LOSSES]),
    ("lsgan D: swap targets a/b", "models/losses.py", "0.5 * (real - b).pow(2).mean() + 0.5 * (fake - a)",
     "0.5 * (real - a).pow(2).mean() + 0.5 * (fake - b)", [CLASSIC]),
    ("wgan D: flip sign", "models/losses.py", "return -wasserstein_estimate(real, fake)",
     "return wasserstein_estimate(real, fake)", [CLASSIC]),
    ("GP: one ε per batch", "models/losses.py",
     "eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1))",
     "eps = torch.rand(1, *([1] * (real.dim() - 1))", [CLASSIC]),
    ("GP: drop create_graph", "models/losses.py", "f(x).sum(), x, create_graph=True)",
     "f(x).sum(), x, create_graph=False)", [CLASSIC]),
    ("hinge D: flip fake margin", "models/losses.py", "F.relu(1.0 + fake).mean()", "F.relu(1.0 - fake).mean()",
     [CLASSIC]),
    ("ebgan D: drop the margin hinge", "models/losses.py", "F.relu(margin - fake_energy).mean()",
     "(margin - fake_energy).mean()", [COURSE]),
    ("f-GAN bound: flip fake term", "models/losses.py", "return div.activation(real).mean() - div.fake_term(fake).mean()",
     "return div.activation(real).mean() + div.fake_term(fake).mean()", [COURSE]),
    ("Neyman: wrong conjugate", "models/losses.py", "lambda t: 2 - 2 * torch.sqrt(1 - t)",
     "lambda t: 2 - torch.sqrt(1 - t)", [COURSE]),
    ("stop value: sum instead of mean", "models/base.py", "float(game) / self.cfg.n_discriminators",
     "float(game)", ["tests/models/test_tricks.py"]),
    ("wgan warm-up: every 100th", "models/variants/wgan.py", "WARMUP_G_STEPS, WARMUP_EVERY = 25, 500",
     "WARMUP_G_STEPS, WARMUP_EVERY = 25, 100", [CLASSIC]),
    # --- the MMD-GAN critic: its objective's sign and its witness function
    ("mmdgan D: flip sign (critic minimises MMD²)", "models/variants/mmdgan.py", "return -mmd2", "return mmd2",
     [COURSE]),
    ("mmdgan GP witness: + instead of -", "models/variants/mmdgan.py",
     "- rbf_mixture_kernel(f, fake_f, bandwidths).mean(1))", "+ rbf_mixture_kernel(f, fake_f, bandwidths).mean(1))",
     [COURSE]),
    # --- the shared training step
    ("D step: G(z) not detached", "models/base.py", "self.discriminator_step(x, fake.detach(), y)",
     "self.discriminator_step(x, fake, y)", [STEP]),
    ("G step: D not frozen (lean dispatch)", "models/dispatch.py", "            p.requires_grad_(False)",
     "            p.requires_grad_(True)", [STEP]),
    ("G step: D not frozen (any dispatch)", "models/base.py", "with d.toggle_g():", "with torch.enable_grad():",
     [STEP]),
    # --- real/fake swapped in a variant's d_loss
    ("minimax variant D: swap real/fake", "models/variants/minimax.py",
     "minimax_d_loss(real.score, fake.score, self.cfg.pi)", "minimax_d_loss(fake.score, real.score, self.cfg.pi)",
     [CLASSIC]),
    ("lsgan variant D: swap real/fake", "models/variants/lsgan.py", "lsgan_d_loss(real.score, fake.score,",
     "lsgan_d_loss(fake.score, real.score,", [CLASSIC]),
    ("hinge variant D: swap real/fake", "models/variants/hinge.py", "hinge_d_loss(real.score, fake.score)",
     "hinge_d_loss(fake.score, real.score)", [CLASSIC]),
    ("wgan variant D: swap real/fake", "models/variants/wgan.py", "wgan_d_loss(real.score, fake.score)",
     "wgan_d_loss(fake.score, real.score)", [CLASSIC]),
    ("fgan variant D: swap real/fake", "models/variants/fgan.py", "fgan_d_loss(real.score, fake.score,",
     "fgan_d_loss(fake.score, real.score,", [COURSE]),
    ("ebgan variant D: swap real/fake", "models/variants/ebgan.py", "ebgan_d_loss(real.score, fake.score,",
     "ebgan_d_loss(fake.score, real.score,", [COURSE]),
    ("ratio_matching variant D: swap real/fake", "models/variants/ratio_matching.py",
     "[self.cfg.bregman](r_real, r_fake,", "[self.cfg.bregman](r_fake, r_real,", [COURSE]),
    # --- sign flips of the variants' loss methods
    ("minimax variant G: flip sign", "models/variants/minimax.py", "return minimax_g_loss(fake.score)",
     "return -minimax_g_loss(fake.score)", [CLASSIC]),
    ("nsgan variant G: flip sign", "models/variants/nsgan.py", "return nonsaturating_g_loss(fake.score)",
     "return -nonsaturating_g_loss(fake.score)", [CLASSIC]),
    ("lsgan variant G: flip sign", "models/variants/lsgan.py", "return lsgan_g_loss(fake.score, c=1.0)",
     "return -lsgan_g_loss(fake.score, c=1.0)", [CLASSIC]),
    ("hinge variant G: flip sign", "models/variants/hinge.py", "return hinge_g_loss(fake.score)",
     "return -hinge_g_loss(fake.score)", [CLASSIC]),
    ("wgan variant G: flip sign", "models/variants/wgan.py", "return wgan_g_loss(fake.score)",
     "return -wgan_g_loss(fake.score)", [CLASSIC]),
    ("fgan variant G: flip sign", "models/variants/fgan.py", "return fgan_g_loss(fake.score, self.divergence)",
     "return -fgan_g_loss(fake.score, self.divergence)", [COURSE]),
    ("fgan variant saddle G: flip sign", "models/variants/fgan.py",
     "return fgan_saddle_g_loss(fake.score, self.divergence)", "return -fgan_saddle_g_loss(fake.score, self.divergence)",
     [COURSE]),
    ("ebgan variant G: flip sign", "models/variants/ebgan.py", "loss = ebgan_g_loss(fake.score)",
     "loss = -ebgan_g_loss(fake.score)", [COURSE]),
    ("ebgan variant G: flip the pulling-away term", "models/variants/ebgan.py",
     "loss = loss + self.cfg.pt_weight * pt", "loss = loss - self.cfg.pt_weight * pt", [COURSE]),
    ("ratio_matching variant G: flip sign", "models/variants/ratio_matching.py",
     "return ratio_g_loss(ratio_from_score(fake.score))", "return -ratio_g_loss(ratio_from_score(fake.score))",
     [COURSE]),
    ("gmmn variant G: flip sign", "models/variants/gmmn.py", "        return mmd2", "        return -mmd2", [COURSE]),
    ("mmdgan variant G: flip sign", "models/variants/mmdgan.py", "return self._mmd2(real.features, fake.features)",
     "return -self._mmd2(real.features, fake.features)", [COURSE]),
    # --- Bregman ratio matching and the α-divergence row
    ("Bregman KL: flip the log term", "models/losses.py", "return fake_ratio.mean() - _log_ratio(real_ratio).mean()",
     "return fake_ratio.mean() + _log_ratio(real_ratio).mean()", [COURSE]),
    ("Bregman logistic: swap real/fake", "models/losses.py",
     "return torch.log1p(fake_ratio).mean() + (torch.log1p(real_ratio) - _log_ratio(real_ratio)).mean()",
     "return torch.log1p(real_ratio).mean() + (torch.log1p(fake_ratio) - _log_ratio(fake_ratio)).mean()", [COURSE]),
    ("Bregman power: drop the (1 + 1/α)", "models/losses.py", "- (1 + 1 / power) * real_ratio.pow(power)",
     "- real_ratio.pow(power)", [COURSE]),
    ("α-divergence: wrong conjugate power", "models/losses.py", "power = a / (a - 1.0)", "power = (a - 1.0) / a",
     [COURSE]),
    # --- f-GAN rows at extreme density ratios (p/q = 1e20)
    ("JS optimal_t: naive log(2u/(1+u))", "models/losses.py", "    return torch.minimum(t, edge)",
     "    return torch.log(2 * u / (1 + u))", [COURSE]),
    ("GAN conjugate: naive -log(1 - e^t)", "models/losses.py", "lambda t: -torch.log(-torch.expm1(t))",
     "lambda t: -torch.log(1 - torch.exp(t))", [COURSE]),
    # --- issue 28: relativistic pairing, R1/R2, DRAGAN, BEGAN, the EMA generator, DiffAugment
    ("rpgan D: flip sign", "models/losses.py", "return F.softplus(fake - real).mean()",
     "return F.softplus(real - fake).mean()", [KIT]),
    ("rpgan G: flip sign", "models/losses.py", "return F.softplus(real - fake).mean()",
     "return F.softplus(fake - real).mean()", [KIT]),
    ("rpgan variant D: swap real/fake", "models/variants/rpgan.py", "rpgan_d_loss(real.score, fake.score)",
     "rpgan_d_loss(fake.score, real.score)", [KIT]),
    ("rpgan variant G: flip sign", "models/variants/rpgan.py", "return rpgan_g_loss(fake.score, real.score)",
     "return -rpgan_g_loss(fake.score, real.score)", [KIT]),
    ("R1/R2: γ instead of γ/2", "models/losses.py", "return 0.5 * gamma * input_grad_sq_norm(real_score",
     "return gamma * input_grad_sq_norm(real_score", [KIT]),
    ("R1/R2: norm instead of squared norm", "models/losses.py", "return grad.flatten(1).pow(2).sum(1)",
     "return grad.flatten(1).norm(dim=1)", [KIT]),
    ("R1/R2: drop create_graph", "models/losses.py", "(grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)",
     "(grad,) = torch.autograd.grad(score.sum(), x, create_graph=False)", [KIT]),
    ("R1 on fakes instead of reals", "models/base.py", "reg = r1_penalty(real_c.score, real_in, r1)",
     "reg = r1_penalty(fake_c.score, fake_in.requires_grad_(True), r1)", [KIT]),
    ("R2 on reals instead of fakes", "models/base.py", "reg = r2_penalty(fake_c.score, fake_in, r2)",
     "reg = r2_penalty(real_c.score, real_in.requires_grad_(True), r2)", [KIT]),
    ("R1 subtracted from D's loss", "models/base.py", "                self.track(\"r1\", reg)\n                loss = loss + reg",
     "                self.track(\"r1\", reg)\n                loss = loss - reg", [KIT]),
    ("dragan penalty: ‖∇‖ + 1", "models/losses.py", "(grad.flatten(1).norm(2, dim=1) - 1.0)",
     "(grad.flatten(1).norm(2, dim=1) + 1.0)", [KIT]),
    ("dragan perturbation: drop std(x)", "models/losses.py", "return x + alpha * (c * std * u)",
     "return x + alpha * (c * u)", [KIT]),
    ("dragan perturbation: one α per batch", "models/losses.py",
     "alpha = torch.rand(x.shape[0], *([1] * (x.dim() - 1))", "alpha = torch.rand(1, *([1] * (x.dim() - 1))", [KIT]),
    ("dragan variant: penalty around the fakes", "models/variants/dragan.py",
     "dragan_penalty(self.score_of(disc, y), real_x,", "dragan_penalty(self.score_of(disc, y), fake_x,",
     [KIT]),
    ("began D: + k L(G(z))", "models/losses.py", "return real_loss.mean() - k * fake_loss.mean()",
     "return real_loss.mean() + k * fake_loss.mean()", [KIT]),
    ("began k update: sign of the error", "models/losses.py",
     "(gamma * real_loss.detach().mean() - fake_loss.detach().mean())",
     "(fake_loss.detach().mean() - gamma * real_loss.detach().mean())", [KIT]),
    ("began k update: no clipping", "models/losses.py", "fake_loss.detach().mean())).clamp(0.0, 1.0)",
     "fake_loss.detach().mean()))", [KIT]),
    ("began M_global: drop |.|", "models/losses.py", "return r + (gamma * r - fake_loss.detach().mean()).abs()",
     "return r + (gamma * r - fake_loss.detach().mean())", [KIT]),
    ("began energy: squared instead of L1", "models/variants/began.py", "    energy_power = 1 ",
     "    energy_power = 2 ", [KIT]),
    ("g_ema: decay applied the wrong way round", "models/base.py",
     "torch._foreach_lerp_(ema_params, params, 1.0 - self.cfg.g_ema)",
     "torch._foreach_lerp_(ema_params, params, self.cfg.g_ema)", [KIT]),
    ("g_ema: sample the raw G", "models/base.py",
     "generator = self.generator_ema if self.generator_ema is not None else self.generator",
     "generator = self.generator", [KIT]),
    ("diffaugment: real side not augmented (D step)", "models/base.py",
     "real_a, fake_a = self.augment(real_in), self.augment(fake_in)", "real_a, fake_a = real_in, self.augment(fake_in)",
     [KIT]),
    ("diffaugment: fake side not augmented (D step)", "models/base.py",
     "real_a, fake_a = self.augment(real_in), self.augment(fake_in)", "real_a, fake_a = self.augment(real_in), fake_in",
     [KIT]),
    ("diffaugment: fake not augmented in the G step", "models/base.py",
     "fake_c = self.critique(disc, self.augment(fake), y)", "fake_c = self.critique(disc, fake, y)", [KIT]),
    ("diffaugment: translation fills with edge pixels", "models/augment.py",
     "padded = torch.nn.functional.pad(x, [1, 1, 1, 1])", "padded = torch.nn.functional.pad(x, [1, 1, 1, 1], mode=\"replicate\")",
     [KIT]),
]


def run(tests: list[str]) -> bool:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider", *tests],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    return r.returncode == 0


def unmatched() -> list[str]:
    """One line per mutant whose original text is not found exactly once in its file (a reformatted or
    renamed line): such a mutant cannot be applied, so the check would test nothing there."""
    out = []
    for name, rel, old, _, _ in MUTANTS:
        count = (ROOT / rel).read_text().count(old)
        if count != 1:
            out.append(f"{name!r}: {rel} holds {old!r} {count} times (update its text in tests/mutation_check.py)")
    return out


def main() -> int:
    stale = unmatched()
    if stale:                                      # fail before mutating anything, naming every stale mutant
        print("error: mutants whose source text is not found exactly once:\n  " + "\n  ".join(stale),
              file=sys.stderr)
        return 2
    # SIGTERM (e.g. a killed job) unwinds through the `finally` below, so a mutant is never left in place
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows, survived = [], 0
    only = sys.argv[1:]                  # optional substrings: run only the mutants whose name contains one
    for name, rel, old, new, tests in MUTANTS:
        if only and not any(o in name for o in only):
            continue
        path = ROOT / rel
        text = path.read_text()
        path.write_text(text.replace(old, new))
        try:
            passed = run(tests)
        finally:
            path.write_text(text)
        rows.append((name, "survived" if passed else "killed"))
        survived += passed
    width = max(len(n) for n, _ in rows)
    print(f"{'mutant':<{width}}  result")
    for n, res in rows:
        print(f"{n:<{width}}  {res}")
    print(f"{len(rows) - survived}/{len(rows)} killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
