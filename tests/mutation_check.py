"""Mutation check of the loss tests: run as ``python tests/mutation_check.py`` (not collected by pytest).

Each mutant edits one line of ``models/`` (a flipped sign, swapped real/fake, one ε per batch in the
gradient penalty, ...), runs the tests that should notice, and restores the file. A mutant is *killed* when
those tests fail. The table lists every mutant; the exit status is 1 if any survived.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOSSES, CLASSIC, COURSE = "tests/models/test_losses.py", "tests/models/test_classic_objectives.py", \
    "tests/models/test_course_objectives.py"

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
    ("GP: drop create_graph", "models/losses.py", "x_hat, create_graph=True)", "x_hat, create_graph=False)",
     [CLASSIC]),
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
]


def run(tests: list[str]) -> bool:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider", *tests],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    return r.returncode == 0


def main() -> int:
    rows, survived = [], 0
    for name, rel, old, new, tests in MUTANTS:
        path = ROOT / rel
        text = path.read_text()
        if text.count(old) != 1:
            rows.append((name, "NOT APPLIED (text not found once)"))
            survived += 1
            continue
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
