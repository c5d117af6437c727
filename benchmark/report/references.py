"""Published numbers (shared/REFERENCE_NUMBERS.md), shown only beside our results under the same protocol."""
from __future__ import annotations

from typing import Any

REFERENCES: dict[str, list[dict[str, Any]]] = {
    "ring8": [
        {"source": "PacGAN (Lin et al. 2018) Table 1, GAN, 10 trials", "modes_covered": "6.3 ± 0.5",
         "high_quality": "98.2", "reverse_kl": "0.45"},
        {"source": "PacGAN Table 1, PacGAN2", "modes_covered": "7.9 ± 0.1", "high_quality": "95.6",
         "reverse_kl": "0.07"},
        {"source": "VEEGAN (Srivastava et al. 2017) Table 1, GAN", "modes_covered": "1", "high_quality": "99.3"},
        {"source": "VEEGAN Table 1, VEEGAN", "modes_covered": "8", "high_quality": "52.9"},
    ],
    "grid25": [
        {"source": "PacGAN Table 1, GAN", "modes_covered": "17.3 ± 0.8", "high_quality": "94.8",
         "reverse_kl": "0.70"},
        {"source": "PacGAN Table 1, PacGAN4", "modes_covered": "24.8 ± 0.2", "high_quality": "93.6",
         "reverse_kl": "0.04"},
        {"source": "VEEGAN Table 1, GAN", "modes_covered": "3.3", "high_quality": "0.5"},
        {"source": "VEEGAN Table 1, VEEGAN", "modes_covered": "24.6", "high_quality": "40"},
    ],
}
# benchmark/sweeps/pacgan.yaml trains PacGAN's networks at its budget (10 seeds, 400 epochs); other sweeps do not
_TOY_PROTOCOL = ("2,500 samples, high quality within 3 std (networks and budgets differ except in runs of "
                 "benchmark/sweeps/pacgan.yaml, PacGAN's own for its GAN row)")
REFERENCE_PROTOCOL = {"ring8": _TOY_PROTOCOL, "grid25": _TOY_PROTOCOL}
for _dataset in ("ring8", "grid25"):
    for _ref in REFERENCES[_dataset]:
        _ref.update(protocol=REFERENCE_PROTOCOL[_dataset], requires={"num_generated": 2500})

# Lucic et al. 2018, best FID after a wide hyper-parameter search (quoted: Dai & Wipf 2019 Table 1; PA-GAN Table 2).
# "variant" names our objective where it is the same loss (every row of their table now has one: dragan and began
# since issue 28).
LUCIC_PROTOCOL = ("FID, 10k generated samples, TF Inception; budget MNIST and Fashion-MNIST 20 epochs, CIFAR-10 100, "
                  "CelebA 40; best of a wide hyper-parameter search")
_LUCIC_FID = {   # model: (our variant, MNIST, Fashion-MNIST, CIFAR-10, CelebA)
    "MM GAN": ("minimax", "9.8 ± 0.9", "29.6 ± 1.6", "72.7 ± 3.6", "65.6 ± 4.2"),
    "NS GAN": ("nsgan", "6.8 ± 0.5", "26.5 ± 1.6", "58.5 ± 1.9", "55.0 ± 3.3"),
    "LSGAN": ("lsgan", "7.8 ± 0.6", "30.7 ± 2.2", "87.1", "53.9 ± 2.8"),
    "WGAN": ("wgan", "6.7 ± 0.4", "21.5 ± 1.6", "55.2 ± 2.3", "41.3 ± 2.0"),
    "WGAN-GP": ("wgan_gp", "20.3 ± 5.0", "24.5 ± 2.1", "55.8 ± 0.9", "30.3 ± 1.0"),
    "DRAGAN": ("dragan", "7.6 ± 0.4", "27.7 ± 1.2", "69.8 ± 2.0", "42.3 ± 3.0"),
    "BEGAN": ("began", "13.1 ± 1.0", "22.9 ± 0.9", "71.4 ± 1.6", "38.9 ± 0.9"),
}
for _model, (_variant, *_values) in _LUCIC_FID.items():
    for _dataset, _fid in zip(("mnist", "fashion_mnist", "cifar10", "celeba"), _values):
        REFERENCES.setdefault(_dataset, []).append(
            {"source": f"Lucic et al. 2018, {_model}", "variant": _variant, "fid": _fid, "protocol": LUCIC_PROTOCOL,
             "requires": {"num_generated": 10_000, "feature_extractor": "TF inception"}})
# StudioGAN's CIFAR-10 benchmark figure (IS / FID); their DCGAN is the non-saturating loss on a DCGAN network.
STUDIOGAN_PROTOCOL = "TF Inception, 50k generated vs the training set; StudioGAN's networks and budgets"
for _model, _variant, _is, _fid in [("DCGAN", "nsgan", "6.11", "48.29"), ("LSGAN", "lsgan", "6.55", "40.22"),
                                    ("WGAN-WC", "wgan", "3.59", "107.68"), ("WGAN-GP", "wgan_gp", "5.22", "53.98"),
                                    ("DRAGAN", "dragan", "6.59", "34.69"), ("SNGAN (conditional)", None, "8.83", "9.01")]:
    REFERENCES["cifar10"].append(
        {"source": f"StudioGAN benchmark, {_model}", "variant": _variant, "is": _is, "fid": _fid,
         "protocol": STUDIOGAN_PROTOCOL,
         "requires": {"num_generated": 50_000, "reference_split": "train", "feature_extractor": "TF inception"}})
REFERENCE_FIELDS = {"source", "variant", "protocol", "requires"}    # every other key of a reference is a metric


def reference_metrics(ref: dict[str, Any]) -> list[str]:
    return [k for k in ref if k not in REFERENCE_FIELDS]


def protocol_satisfies(protocol: dict[str, Any] | None, requires: dict[str, Any]) -> bool:
    """Whether one of our metric protocols meets a published number's requirements (strings: case-insensitive
    substring, e.g. ``"TF inception"`` in the feature extractor's description; anything else: equality)."""
    if not protocol:
        return False
    for key, want in requires.items():
        have = protocol.get(key)
        if isinstance(want, str):
            if have is None or want.lower() not in str(have).lower():
                return False
        elif have != want:
            return False
    return True


def matching_references(runs: list[dict], dataset: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The published numbers for ``dataset`` with the metrics whose protocol every completed, scored run of
    ``dataset`` meets (references with no such metric are left out)."""
    out = []
    for ref in REFERENCES.get(dataset, []):
        ok = []
        for m in reference_metrics(ref):
            protos = [(r.get("protocol") or {}).get(m) for r in runs
                      if r["dataset"] == dataset and r.get("status") == "completed" and m in (r.get("metrics") or {})]
            if protos and all(protocol_satisfies(p, ref.get("requires") or {}) for p in protos):
                ok.append(m)
        if ok:
            out.append((ref, ok))
    return out
