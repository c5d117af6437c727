"""What the CLI shows without importing torch, Lightning, the models or the datamodules.

``python -m benchmark --help`` and ``list`` must answer in well under a second, but importing the registries costs
~10 s cold (torch + Lightning). This module holds the argument definitions of the commands whose handlers live in
heavy modules (``perf``, ``evaluate``, ``theory``) and a static catalogue of the registries for ``list``.
``tests/test_fast_cli.py`` compares the catalogue with the real registries (``VARIANTS``, ``DATAMODULES``,
``METRIC_GROUPS``) and these parsers' experiment names with :data:`benchmark.theory.EXPERIMENTS`, so they cannot
drift: registering a variant, dataset or metric fails that test until the entry is added here.
"""
from __future__ import annotations

import argparse

# ------------------------------------------------------------------------ the registries, for `list`
# variant -> the first line of its class docstring
VARIANTS = {
    'cgan': 'The non-saturating GAN trained conditionally on a labelled dataset.',
    'ebgan': 'EBGAN with an autoencoder energy, margin ``m`` and the optional pulling-away term (see module doc).',
    'fgan': "f-GAN with the ``divergence`` row of Nowozin et al.'s Table 2 (see the module docstring).",
    'gmmn': 'Generator-only moment matching: min_θ MMD²_u(p*, pθ) with an RBF mixture (see the module docstring).',
    'hinge': 'min_D E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))];  min_G -E D(G(z)).',
    'lsgan': 'min_D ½E[(D(x) - 1)²] + ½E[D(G(z))²];  min_G ½E[(D(G(z)) - 1)²].',
    'minimax': 'min_θ max_φ π E_p*[log D(x)] + (1-π) E_z[log(1 - D(G(z)))], G descending the saturating E log(1 - D(G(z))).',
    'mmdgan': 'min_G max_φ MMD²_u(φ(p*), φ(pθ)) with a Lipschitz-controlled critic (see the module docstring).',
    'nsgan': 'The minimax discriminator (class prior π) with the generator minimising -E log D(G(z)).',
    'ratio_matching': 'Density-ratio fitting by uLSIF with the generator driving r_φ(G(z)) towards 1 (see the module docstring).',
    'wgan': 'Critic f ascends E f(x) - E f(G(z)) (loss ``-(E f(x) - E f(G(z)))``), G descends ``-E f(G(z))``.',
    'wgan_gp': 'The WGAN critic/generator losses with λ E[(‖∇_x̂ f(x̂)‖₂ - 1)²] on x̂ = εx + (1-ε)G(z) instead of clipping.',
# dataset -> (kind, dims, default metrics)
}
DATASETS = {
    'celeba': ('image', (3, 64, 64), ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')),
    'cifar10': ('image', (3, 32, 32), ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')),
    'digits': ('image', (1, 8, 8), ('domain_fd', 'domain_is', 'class_coverage')),
    'fashion_mnist': ('image', (1, 28, 28), ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')),
    'grid25': ('points', (2,), ('modes_covered', 'high_quality', 'reverse_kl')),
    'image_folder': ('image', (3, 64, 64), ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')),
    'mnist': ('image', (1, 28, 28), ('fid', 'kid', 'precision', 'recall', 'density', 'coverage')),
    'ring8': ('points', (2,), ('modes_covered', 'high_quality', 'reverse_kl')),
    'stacked_mnist': ('image', (3, 28, 28), ('stacked_modes', 'stacked_kl', 'fid', 'kid')),
# metric -> higher is better
}
METRICS = {
    'class_coverage': True,
    'coverage': True,
    'density': True,
    'domain_fd': False,
    'domain_is': True,
    'fid': False,
    'high_quality': True,
    'is': True,
    'kid': False,
    'modes_covered': True,
    'precision': True,
    'recall': True,
    'reverse_kl': False,
    'stacked_kl': False,
    'stacked_modes': True,
}


def list_text() -> str:
    """The output of ``python -m benchmark list``."""
    lines = ["variants:"]
    lines += [f"  {name:16s} {doc}" for name, doc in sorted(VARIANTS.items())]
    lines.append("datasets:")
    lines += [f"  {name:16s} {kind:6s} {'x'.join(map(str, dims)):10s} metrics: {', '.join(metrics)}"
              for name, (kind, dims, metrics) in sorted(DATASETS.items())]
    lines.append("metrics:")
    lines += [f"  {name:16s} {'higher is better' if higher else 'lower is better'}"
              for name, higher in sorted(METRICS.items())]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ sub-parsers of heavy commands
PERF_DEFAULT_VARIANTS = ("minimax", "nsgan", "lsgan", "wgan", "wgan_gp")
# theory experiment number -> title (benchmark.theory.EXPERIMENTS holds the functions)
THEORY_EXPERIMENTS = {1: "optimal discriminator", 2: "value at the optimum", 3: "vanishing gradients",
                      4: "GAN discriminator vs WGAN critic", 5: "f-divergence bounds", 6: "mode collapse",
                      7: "EBGAN and total variation"}
EVALUATE_DESCRIPTION = """\
Score a folder (or tensor) of generated images against a dataset split or another folder.

  python -m benchmark evaluate --images DIR --reference DATASET_OR_DIR --metrics fid,kid,... [--json FILE]

prints every score with its protocol; --json writes {"values", "protocols", "images"} atomically.
"""


def add_perf_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("perf", help="benchmark the benchmark: step overhead vs plain PyTorch, data, metrics")
    p.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    p.add_argument("--variants", default="",
                   help=f"comma-separated, or 'all' (default: {','.join(PERF_DEFAULT_VARIANTS)}, a few minutes here)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--results-dir", dest="results_dir", default="results")
    p.add_argument("--skip-dcgan", action="store_true")
    p.add_argument("--skip-ablation", action="store_true", help="skip the before/after rows of the step fast paths")
    p.add_argument("--skip-fast-paths", action="store_true", help="skip channels-last/bf16/compile on DCGAN-32")
    p.add_argument("--skip-data", action="store_true")
    p.add_argument("--skip-metrics", action="store_true")
    p.add_argument("--skip-population", action="store_true", help="skip populations vs single runs")
    p.add_argument("--population-sizes", default="1,2,4,8,16,32",
                   help="population sizes S to time against single runs (default 1,2,4,8,16,32)")
    p.add_argument("--population-batch", type=int, default=512,
                   help="batch size of the population rows (default 512, ring8's; smaller batches are dispatch-bound)")
    p.add_argument("--only-population", action="store_true",
                   help="only the population section (results/perf_population.md and .json)")
    return p


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="score a folder of images against a dataset or another folder",
                              description=EVALUATE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of generated images (PNG/JPG)")
    p.add_argument("--reference", required=True, help="dataset name (its reference split) or a folder")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric names (default: the reference dataset's own metrics)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-real", type=int, default=None, help="real images for the reference statistics")
    p.add_argument("--inception-weights", default=None,
                   help="torch-fidelity-format Inception weights (else $GANBENCH_INCEPTION_WEIGHTS, torch-fidelity's "
                        "cache, or the converted offline copy)")
    p.add_argument("--cache-dir", default=None, help="GANBench cache (default $GANBENCH_CACHE or ~/.cache/ganbench)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", default=None, help="also write the scores and protocols to this file")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="leave out unreadable (corrupt, truncated) images, with their count printed and recorded "
                        "(default: an error naming the file)")
    return p


def add_theory_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("theory", help="measure the course's claims (D*, JSD, vanishing gradients, WGAN "
                                             "critic, f-divergence bounds, mode collapse) on known densities")
    p.add_argument("--out", default="results/theory", help="output directory (default results/theory)")
    p.add_argument("--quick", action="store_true", help="reduced sizes (a smoke check, about a minute)")
    p.add_argument("--only", default=None, metavar="1,2,...",
                   help="experiments to run: " + ", ".join(f"{k} {v}" for k, v in THEORY_EXPERIMENTS.items()))
    return p


__all__ = ["VARIANTS", "DATASETS", "METRICS", "list_text", "PERF_DEFAULT_VARIANTS", "THEORY_EXPERIMENTS",
           "add_perf_parser", "add_evaluate_parser", "add_theory_parser"]
