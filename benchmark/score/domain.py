"""Domain-classifier metrics for small images, where Inception at 299×299 is the wrong tool (and slow on a CPU).

A small CNN is trained by the suite on the dataset's labelled training split (seeded; 90 % train / 10 % held out
for the reported accuracy) and cached on disk keyed by dataset, data checksum, architecture and seed. On its
outputs:

- ``domain_fd``: Fréchet distance ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) between the classifier's
  penultimate features (128-d) of real and generated images (torch-fidelity's FID formula).
- ``domain_is``: classifier Inception Score exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean prediction over the generated
  set (one split); between 1 and the number of classes.
- ``class_coverage``: number of classes predicted with probability ≥ 0.9 for at least one generated image.

For Stacked MNIST (three MNIST digits stacked as the R, G, B channels, 1,000 modes; Metz et al. 2017, VEEGAN,
PacGAN) each channel is classified with a one-channel digit classifier:

- ``stacked_modes``: number of the 1,000 modes (d_R, d_G, d_B) hit by at least one generated image;
- ``stacked_kl``: KL(q ‖ u) = Σ_m q_m log(1000 q_m) of the generated mode histogram q to the uniform u.

The Stacked MNIST datamodule is expected to label each image with its mode 100·d_R + 10·d_G + d_B.
"""
from __future__ import annotations

import hashlib
import math
import os
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..io import atomic_torch_save, warn_unusable_cache
from .inception import cache_dir, check_cache_dir
from .registry import Metric, MetricGroup, register_metric_group

ARCH_VERSION = "cnn16-32-fc128-v1"     # bump when DomainClassifier or its training changes (invalidates caches)
CONFIDENCE = 0.9


class DomainClassifier(nn.Module):
    """Small CNN: ``(N, C, H, W)`` in [-1, 1] → logits ``(N, num_classes)``; :meth:`features` gives ``(N, 128)``."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(32 * 16, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def data_checksum(x: Tensor, y: Tensor | None) -> str:
    """sha256 of the raw bytes (and shapes) of a dataset's samples and labels."""
    h = hashlib.sha256(str((tuple(x.shape), str(x.dtype))).encode())
    h.update(x.contiguous().cpu().numpy().tobytes())
    if y is not None:
        h.update(y.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def to_unit(x: Tensor) -> Tensor:
    """``uint8`` [0, 255] → float [-1, 1]; floats pass through."""
    return x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x.float()


def train_classifier(x: Tensor, y: Tensor, num_classes: int, *, seed: int = 0, epochs: int = 15,
                     max_steps: int = 2000, batch_size: int = 128, lr: float = 3e-3) -> tuple[DomainClassifier, dict]:
    """Train a :class:`DomainClassifier` on ``x (N, C, H, W)`` (uint8 or [-1, 1]) with labels ``y (N,)``.

    Adam, cross-entropy, ``min(epochs · ⌈0.9N/batch⌉, max_steps)`` steps; 10 % of the samples (seeded) are held
    out and the accuracy on them is returned in the info dict. Runs on one CPU thread: deterministic for a seed,
    and for a net this small faster than two threads on a shared machine (digits: ~200 steps, a few seconds).
    Gradients are on while it trains, also when called from inside ``torch.no_grad()``.
    """
    with torch.enable_grad():            # asked for from inside torch.no_grad() (an in-training evaluation)
        return _train_classifier(x, y, num_classes, seed=seed, epochs=epochs, max_steps=max_steps,
                                 batch_size=batch_size, lr=lr)


def _train_classifier(x: Tensor, y: Tensor, num_classes: int, *, seed: int, epochs: int, max_steps: int,
                      batch_size: int, lr: float) -> tuple[DomainClassifier, dict]:
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(x.shape[0], generator=g)
    n_val = max(1, x.shape[0] // 10)
    val, tr = perm[:n_val], perm[n_val:]
    xt, yt = to_unit(x[tr]), y[tr].long()
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        try:
            torch.manual_seed(seed)
            model = DomainClassifier(x.shape[1], num_classes)
            steps = min(epochs * math.ceil(len(tr) / batch_size), max_steps)
            _fit(model, xt, yt, steps, batch_size, lr, g)
        finally:
            torch.set_num_threads(threads)
    model.eval().requires_grad_(False)
    with torch.no_grad():
        acc = float((predict(model, x[val]).argmax(1) == y[val]).double().mean())
    return model, {"val_accuracy": acc, "num_train": len(tr), "num_val": n_val, "steps": steps,
                   "seconds": round(time.perf_counter() - t0, 2), "seed": seed, "arch": ARCH_VERSION}


def _fit(model: nn.Module, x: Tensor, y: Tensor, steps: int, batch_size: int, lr: float,
         g: torch.Generator) -> None:
    """``steps`` Adam steps of cross-entropy on shuffled mini-batches (reshuffled each epoch with ``g``)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    step = 0
    while step < steps:
        order = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step >= steps:
                return


@torch.no_grad()
def predict(model: DomainClassifier, x: Tensor, batch_size: int = 2048) -> Tensor:
    """Class probabilities ``(N, K)`` of images ``x`` (uint8 or [-1, 1])."""
    return torch.cat([model(to_unit(x[i:i + batch_size])).softmax(1) for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def embed(model: DomainClassifier, x: Tensor, batch_size: int = 2048) -> tuple[Tensor, Tensor]:
    """Penultimate features ``(N, 128)`` and probabilities ``(N, K)`` of images ``x``."""
    feats, probs = [], []
    for i in range(0, x.shape[0], batch_size):
        f = model.features(to_unit(x[i:i + batch_size]))
        feats.append(f)
        probs.append(model.head(f).softmax(1))
    return torch.cat(feats), torch.cat(probs)


def cached_classifier(name: str, x: Tensor, y: Tensor, num_classes: int, *, seed: int = 0,
                      root: str | os.PathLike | None = None, **train_kwargs) -> tuple[DomainClassifier, dict]:
    """Load the classifier for (``name``, data checksum, architecture, seed) from the cache, or train and save it.

    The returned info dict holds ``checksum``, ``cache_path``, ``cache_hit`` and the training info.
    """
    checksum = data_checksum(x, y)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path = cache_dir(root) / "domain" / f"{safe}-{checksum[:16]}-{ARCH_VERSION}-seed{seed}.pt"
    model = DomainClassifier(x.shape[1], num_classes)
    blob = _load_cached(path, model) if path.is_file() else None
    if blob is not None:
        model.eval().requires_grad_(False)
        info = dict(blob["info"], cache_hit=True)
    else:
        model, info = train_classifier(x, y, num_classes, seed=seed, **train_kwargs)
        atomic_torch_save({"state_dict": model.state_dict(), "info": info}, path)
        info = dict(info, cache_hit=False)
    return model, dict(info, checksum=checksum, cache_path=str(path))




def _load_cached(path, model: DomainClassifier) -> dict | None:
    """The cached ``{"state_dict", "info"}`` at ``path`` loaded into ``model``, or ``None`` (one warning per file
    and process) when the file is corrupt, truncated or does not fit the network: the caller rebuilds it."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or not isinstance(blob.get("info"), dict) \
                or not isinstance(blob["info"].get("val_accuracy"), (int, float)):
            raise ValueError("not a GANBench domain-classifier cache")
        model.load_state_dict(blob["state_dict"])
        if not all(torch.isfinite(t).all() for t in model.state_dict().values()):
            raise ValueError("non-finite weights")
        return blob
    except Exception as e:
        warn_unusable_cache("domain-classifier cache", path, e, "retraining it and replacing the file")
        return None


# ---------------------------------------------------------------------------------------------------- scores
def classifier_inception_score(probs: Tensor) -> float:
    """exp((1/N) Σ_x KL(p(y|x) ‖ p̄(y))) for ``probs (N, K)``, p̄ the mean row; 0·log 0 = 0."""
    p = probs.double()
    marginal = p.mean(0, keepdim=True)
    kl = torch.where(p > 0, p * (p.log() - marginal.log()), torch.zeros_like(p)).sum(1)
    return float(kl.mean().exp())


def class_coverage(probs: Tensor, confidence: float = CONFIDENCE) -> int:
    """Number of classes that are the prediction with probability ≥ ``confidence`` for at least one row."""
    top, cls = probs.max(1)
    return int(cls[top >= confidence].unique().numel())


def stacked_mode_statistics(channel_digits: Tensor, num_modes: int = 1000) -> tuple[int, float]:
    """Modes covered and KL(q ‖ uniform) from per-channel digits ``(N, 3)`` → mode 100·d_R + 10·d_G + d_B."""
    modes = channel_digits[:, 0] * 100 + channel_digits[:, 1] * 10 + channel_digits[:, 2]
    counts = torch.bincount(modes.long(), minlength=num_modes).double()
    q = counts / counts.sum()
    nz = q > 0
    return int(nz.sum()), float((q[nz] * torch.log(q[nz] * num_modes)).sum())


# ---------------------------------------------------------------------------------------------------- groups
def _protocol_base(fake: Tensor, datamodule, seed: int, **extra) -> dict:
    """What every domain metric's protocol states: implementation, reference data, sample count, seed."""
    desc = datamodule.describe()
    return {"implementation": f"ganbench.metrics.domain {ARCH_VERSION}", "reference_dataset": desc["dataset"],
            "reference_split": desc.get("split"), "num_generated": int(fake.shape[0]), "seed": seed,
            "resize": "none (native resolution)", **extra}


def _unavailable(names, reason: str, base: dict):
    return {n: None for n in names}, {n: dict(base, metric=n, reason=reason) for n in names}


class DomainMetrics(MetricGroup):
    """``domain_fd``, ``domain_is``, ``class_coverage`` from a classifier trained on the datamodule's labels.

    Args:
        num_samples: generated images the protocol asks for; num_real: real images (capped at the split).
        classifier_seed: seed of the classifier's training (part of its cache key); cache_root: cache root.
    """

    metrics = (Metric("domain_fd", False, cheap=True, summary="Fréchet distance of domain-classifier features"),
               Metric("domain_is", True, cheap=True, summary="Inception Score of the domain classifier"),
               Metric("class_coverage", True, cheap=True, coverage=True,
                      summary="classes predicted with p >= 0.9 at least once"))
    options = ("num_real", "cache_root")

    def __init__(self, num_samples: int = 2500, num_real: int = 10000, *, classifier_seed: int = 0,
                 cache_root: str | os.PathLike | None = None, reference_seed: int = 0) -> None:
        self.num_samples, self.num_real = num_samples, num_real
        self.classifier_seed, self.cache_root, self.reference_seed = classifier_seed, cache_root, reference_seed

    def unsupported(self, datamodule):
        if getattr(datamodule, "kind", None) != "image":
            return "domain metrics need labelled images to train a classifier on"
        if not isinstance(datamodule, type) and not datamodule.num_classes:       # labels known once read
            return "domain metrics need labelled images to train a classifier on (these images have no labels)"
        return None

    def prepare(self, datamodule):
        """Check the cache and build (or load) the classifier now, before training, with gradients on: the first
        in-training evaluation then finds it cached instead of training it inside ``torch.no_grad()``."""
        check_cache_dir(self.cache_root)
        datamodule.setup()
        if getattr(datamodule, "kind", None) == "image" and datamodule.train_y is not None and datamodule.num_classes:
            cached_classifier(datamodule.describe()["dataset"], datamodule.train_x, datamodule.train_y,
                              datamodule.num_classes, seed=self.classifier_seed, root=self.cache_root)

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        datamodule.setup()
        base = _protocol_base(fake, datamodule, seed)
        name = base["reference_dataset"]
        if getattr(datamodule, "kind", None) != "image" or datamodule.train_y is None or not datamodule.num_classes:
            return _unavailable(self.names, f"{name!r} has no labelled images to train a classifier on",
                                base)
        if tuple(fake.shape[1:]) != tuple(datamodule.train_x.shape[1:]):
            raise ValueError(f"generated images {tuple(fake.shape[1:])} do not match the data "
                             f"{tuple(datamodule.train_x.shape[1:])}")
        model, info = cached_classifier(name, datamodule.train_x, datamodule.train_y,
                                        datamodule.num_classes, seed=self.classifier_seed, root=self.cache_root)
        n_real = min(self.num_real, int(datamodule.train_x.shape[0]))
        real, _ = datamodule.reference(n_real, seed=self.reference_seed)
        fr, _ = embed(model, real)
        fg, pg = embed(model, fake.detach().float().cpu())
        from .fidelity import frechet_distance

        base.update(feature_extractor=f"DomainClassifier {ARCH_VERSION} trained on {name} "
                                      f"{base['reference_split']} (seed {self.classifier_seed})",
                    weights_sha256=info["checksum"], weights_source=info["cache_path"],
                    classifier_val_accuracy=info["val_accuracy"], num_real=int(real.shape[0]),
                    reference_seed=self.reference_seed)
        values = {"domain_fd": frechet_distance(fr, fg) if min(fr.shape[0], fg.shape[0]) >= 2 else None,
                  "domain_is": classifier_inception_score(pg), "class_coverage": float(class_coverage(pg))}
        protocols = {
            "domain_fd": dict(base, metric="domain_fd", feature_layer="penultimate (128)",
                              formula="torch-fidelity fid_statistics_to_metric on classifier features"),
            "domain_is": dict(base, metric="domain_is", splits=1, num_real=0,
                              formula="exp(E KL(p(y|x) || p(y))), p(y) = mean prediction on generated"),
            "class_coverage": dict(base, metric="class_coverage", confidence=CONFIDENCE, num_real=0,
                                   num_classes=datamodule.num_classes,
                                   formula=f"classes predicted with p >= {CONFIDENCE} for at least one image")}
        if values["domain_fd"] is None:
            protocols["domain_fd"]["reason"] = "needs at least 2 generated images"
        return values, protocols


class StackedMNISTMetrics(MetricGroup):
    """``stacked_modes`` and ``stacked_kl`` (VEEGAN/PacGAN protocol, 26,000 samples) on 3-channel digit stacks.

    The one-channel digit classifier is trained on ``datamodule.mnist("train")`` when the datamodule offers it,
    else on every channel of its images with digits from the mode labels (``y // 100``, ``y // 10 % 10``,
    ``y % 10``); at most ``max_train`` images.
    """

    metrics = (Metric("stacked_modes", True, coverage=True,
                      summary="of the 1,000 Stacked-MNIST modes, those generated"),
               Metric("stacked_kl", False, summary="KL(generated mode histogram ‖ uniform)"))
    options = ("cache_root",)

    def __init__(self, num_samples: int = 26000, *, classifier_seed: int = 0, max_train: int = 60000,
                 cache_root: str | os.PathLike | None = None) -> None:
        self.num_samples, self.classifier_seed = num_samples, classifier_seed
        self.max_train, self.cache_root = max_train, cache_root

    def unsupported(self, datamodule):
        dims = tuple(getattr(datamodule, "dims", ()))
        classes_known = not isinstance(datamodule, type) or datamodule.num_classes    # else: once read
        if (getattr(datamodule, "kind", None) != "image" or dims[:1] != (3,)
                or (classes_known and datamodule.num_classes != 1000)):
            return "Stacked-MNIST modes need 3-channel stacks of labelled digits (1,000 modes)"
        return None

    def prepare(self, datamodule):
        check_cache_dir(self.cache_root)

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        datamodule.setup()
        base = _protocol_base(fake, datamodule, seed, num_real=0, reference="VEEGAN/PacGAN protocol")
        name = base["reference_dataset"]
        x, y = datamodule.train_x, datamodule.train_y
        if getattr(datamodule, "kind", None) != "image" or y is None or x.shape[1] != 3:
            return _unavailable(self.names, f"{name!r} is not a labelled 3-channel digit stack", base)
        if hasattr(datamodule, "mnist"):                                       # the source digits, if offered
            xs, ys = datamodule.mnist("train")
            source = "its source MNIST train digits"
        else:                                                                   # else every channel, labelled
            digits = torch.stack([y // 100, y // 10 % 10, y % 10], 1)          # (N, 3)
            xs = x.transpose(0, 1).reshape(-1, 1, *x.shape[2:])
            ys = digits.T.reshape(-1)
            source = "its R, G, B channels"
        xs, ys = xs[: self.max_train], ys[: self.max_train]
        model, info = cached_classifier(f"{name}-digits", xs, ys, 10, seed=self.classifier_seed,
                                        root=self.cache_root)
        f = fake.detach().float().cpu()
        pred = torch.stack([predict(model, f[:, c:c + 1]).argmax(1) for c in range(3)], 1)
        modes, kl = stacked_mode_statistics(pred)
        base.update(feature_extractor=f"DomainClassifier {ARCH_VERSION} per channel, trained on "
                                      f"{name}'s {source} (seed {self.classifier_seed})",
                    weights_sha256=info["checksum"], weights_source=info["cache_path"],
                    classifier_val_accuracy=info["val_accuracy"], num_modes=1000)
        return ({"stacked_modes": float(modes), "stacked_kl": kl},
                {"stacked_modes": dict(base, metric="stacked_modes"),
                 "stacked_kl": dict(base, metric="stacked_kl", formula="sum_m q_m log(1000 q_m), natural log")})


register_metric_group(DomainMetrics())
register_metric_group(StackedMNISTMetrics())
