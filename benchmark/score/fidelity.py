"""Standard image metrics on Inception features: FID, KID, IS, precision/recall, density/coverage.

All scores use the standard TF "inception-2015-12-05" network through torch-fidelity's ``inception-v3-compat``
extractor (TF1 bilinear resize to 299×299, no antialias) with weights chosen by
:func:`benchmark.score.inception.resolve_inception_weights`:

- ``fid``: Fréchet distance ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) of pool3 features (torch-fidelity).
- ``kid``: unbiased MMD² with the cubic kernel (xᵀy/d + 1)³, mean over 100 random subsets (torch-fidelity); the
  subset size is min(1000, n_real, n_generated).
- ``is``: exp(E_x KL(p(y|x) ‖ p(y))) on the 1008-way logits, 10 splits (torch-fidelity). Only with full standard
  weights; with the offline converted copy (no classifier) the value is ``None`` with a ``reason``.
- ``precision``/``recall``: Kynkäänniemi et al. 2019, k = 3 nearest-neighbour balls.
- ``density``/``coverage``: Naeem et al. 2020, k = 5 nearest-neighbour balls around real samples.

Real features are cached on disk per (dataset, split, resolution, count, reference seed, weights checksum), so
re-scoring only embeds the generated images. torch-fidelity's own cache is not used: it is keyed by the
extractor's name, not by its weights file.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import torch
from torch import Tensor

from ..io import atomic_torch_save, warn_unusable_cache
from .inception import InceptionWeights, cache_dir, check_cache_dir, make_extractor, resolve_inception_weights
from .registry import Metric, MetricGroup, register_metric_group

POOL, LOGITS = "2048", "logits_unbiased"


# ---------------------------------------------------------------------------------------------------- inputs
def to_uint8_rgb(x: Tensor) -> Tensor:
    """Images for Inception: float ``(N, C, H, W)`` in [-1, 1] (or ``uint8``) → ``uint8`` ``(N, 3, H, W)``.

    Floats map as round((clamp(x, −1, 1) + 1) · 127.5); one channel is repeated to three.

    Raises:
        ValueError: if ``x`` is not 4-D with 1 or 3 channels.
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x


class InceptionEmbedder:
    """Batched feature extraction: ``uint8`` ``(N, 3, H, W)`` → ``{"2048": (N, 2048)[, "logits_unbiased": (N, 1008)]}``.

    The logits are produced only when ``weights.has_classifier``. ``num_embedded`` counts images embedded so far
    (tests use it to prove a cache hit).
    """

    def __init__(self, weights: InceptionWeights, device: str | torch.device | None = None,
                 batch_size: int = 32) -> None:
        self.weights = weights
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.batch_size = batch_size
        self.features = (POOL, LOGITS) if weights.has_classifier else (POOL,)
        self.num_embedded = 0
        self._net = None

    def _forward(self, batch: Tensor) -> tuple[Tensor, ...]:
        if self._net is None:
            self._net = make_extractor(self.weights.path, self.features, self.device,
                                       expected_sha256=self.weights.sha256)
        return self._net(batch.to(self.device))

    @torch.no_grad()
    def __call__(self, images: Tensor) -> dict[str, Tensor]:
        outs: list[tuple[Tensor, ...]] = []
        for i in range(0, images.shape[0], self.batch_size):
            batch = to_uint8_rgb(images[i:i + self.batch_size])
            outs.append(tuple(t.float().cpu() for t in self._forward(batch)))
            self.num_embedded += batch.shape[0]
        return {name: torch.cat([o[j] for o in outs]) for j, name in enumerate(self.features)}

    def protocol(self) -> dict:
        return self.weights.protocol()


# ---------------------------------------------------------------------------------------------------- scores
def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between feature sets ``(N, d)`` and ``(M, d)`` (N, M ≥ 2) with torch-fidelity's implementation.

    ‖μ_r − μ_g‖² + Tr Σ_r + Tr Σ_g − 2 Σᵢ √λᵢ(Σ_r Σ_g), statistics from float32 features, covariance in float64.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    s1 = fid_features_to_statistics(real.detach().float().cpu())
    s2 = fid_features_to_statistics(fake.detach().float().cpu())
    return float(fid_statistics_to_metric(s1, s2, verbose=False)[KEY_METRIC_FID])


def kernel_inception_distance(real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float, int]:
    """KID (mean, std over subsets, subset size used) with torch-fidelity's polynomial-kernel unbiased MMD².

    The subset size is capped at min(n_real, n_fake): torch-fidelity refuses larger subsets.
    """
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = min(subset_size, real.shape[0], fake.shape[0])
    out = kid_features_to_metric(real.detach().float().cpu(), fake.detach().float().cpu(), kid_subsets=subsets,
                                 kid_subset_size=size, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=seed, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), size


def inception_score(logits: Tensor, *, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
    """IS (mean, std over ``splits``) from ``(N, K)`` logits with torch-fidelity: exp(E KL(p(y|x) ‖ p(y)))."""
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    out = isc_features_to_metric(logits.detach().cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


def _pairwise_min_fn(a: Tensor, b: Tensor, fn, chunk: int = 1024) -> Tensor:
    """Apply ``fn(distances (rows of a, all of b))`` per chunk of rows of ``a`` and concatenate the results."""
    return torch.cat([fn(torch.cdist(a[i:i + chunk], b)) for i in range(0, a.shape[0], chunk)])


TIE_RTOL = 1e-9     # radii are inflated by this relative amount so that "≤" survives float rounding of cdist


def knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance from each row of ``x (N, d)`` to its k-th nearest *other* row: ``(N,)``, times 1 + ``TIE_RTOL``.

    BLAS-based distances are not bitwise symmetric, so without the tolerance a sample lying exactly on a ball's
    boundary (a real point's own k-th neighbour) could fall outside it.

    Raises:
        ValueError: if ``N <= k``.
    """
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, got {x.shape[0]}")
    return _pairwise_min_fn(x, x, lambda d: d.topk(k + 1, dim=1, largest=False).values[:, -1]) * (1 + TIE_RTOL)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake (M, d)`` against ``real (N, d)``.

    precision = (1/M) Σ_j 1[∃i: ‖g_j − r_i‖ ≤ NND_k(r_i)],  recall = (1/N) Σ_i 1[∃j: ‖r_i − g_j‖ ≤ NND_k(g_j)],
    NND_k the distance to the k-th nearest neighbour within the same set (features in float64).
    """
    real, fake = real.double(), fake.double()
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    precision = _pairwise_min_fn(fake, real, lambda d: (d <= r_real).any(dim=1)).double().mean()
    recall = _pairwise_min_fn(real, fake, lambda d: (d <= r_fake).any(dim=1)).double().mean()
    return float(precision), float(recall)


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) of ``fake (M, d)`` against ``real (N, d)``.

    density = (1/(kM)) Σ_j Σ_i 1[‖g_j − r_i‖ ≤ NND_k(r_i)],  coverage = (1/N) Σ_i 1[∃j: ‖g_j − r_i‖ ≤ NND_k(r_i)].
    """
    real, fake = real.double(), fake.double()
    r_real = knn_radii(real, k)
    inside = _pairwise_min_fn(fake, real, lambda d: d <= r_real)                 # (M, N) bool
    density = inside.sum().double() / (k * fake.shape[0])
    coverage = inside.any(dim=0).double().mean()
    return float(density), float(coverage)


# ---------------------------------------------------------------------------------------------------- cache
def reference_cache_path(root: Path, desc: dict, resolution: tuple[int, ...], count: int, reference_seed: int,
                         weights_sha256: str, features: tuple[str, ...], data_sha256: str) -> Path:
    """Cache file of real features for (dataset, split, resolution, count, reference seed, weights, layers, data).

    ``data_sha256`` (of the selected real images) keeps two folders, or two versions of a dataset, apart.
    """
    res = "x".join(str(s) for s in resolution)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(desc["dataset"]))
    name = (f"{safe}-{desc.get('split')}-{res}-n{count}-ref{reference_seed}-w{weights_sha256[:12]}-"
            f"d{data_sha256[:12]}-{'+'.join(features)}.pt")
    return root / "features" / name




def load_features_cache(path: Path, count: int, features: tuple[str, ...]) -> dict[str, Tensor] | None:
    """The cached real features at ``path``, or ``None`` when the file is corrupt, truncated or not what its name
    promises (``count`` finite rows of every layer in ``features``): one warning per file and process, and the
    caller recomputes and replaces it."""
    try:
        feats = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(feats, dict):
            raise ValueError(f"holds a {type(feats).__name__}, not a mapping of features")
        for name in features:
            t = feats.get(name)
            if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[0] != count or not t.is_floating_point():
                raise ValueError(f"layer {name!r} is {None if t is None else tuple(getattr(t, 'shape', ()))}, "
                                 f"expected ({count}, d) floats")
            if not torch.isfinite(t).all():
                raise ValueError(f"layer {name!r} holds non-finite values")
        return {name: feats[name] for name in features}
    except Exception as e:
        warn_unusable_cache("features cache", path, e, "recomputing it and replacing the file")
        return None


def reference_features(datamodule, embedder: InceptionEmbedder, count: int, *, reference_seed: int = 0,
                       root: str | os.PathLike | None = None) -> tuple[dict[str, Tensor], dict]:
    """Inception features of ``count`` real images of ``datamodule`` (cached on disk) and how they were obtained.

    Returns ``(features, info)`` with ``info`` holding ``cache_path``, ``cache_hit``, ``num_real`` and
    ``data_sha256``. Selecting and hashing the real images is cheap; only a cache miss runs Inception on them.
    """
    datamodule.setup()
    desc = datamodule.describe()
    real, _ = datamodule.reference(count, seed=reference_seed)
    data_sha = hashlib.sha256(to_uint8_rgb(real).numpy().tobytes()).hexdigest()
    path = reference_cache_path(cache_dir(root), desc, tuple(real.shape[1:]), count, reference_seed,
                                embedder.weights.sha256, embedder.features, data_sha)
    feats = load_features_cache(path, count, embedder.features) if path.is_file() else None
    if feats is not None:
        return feats, {"cache_path": str(path), "cache_hit": True, "num_real": int(feats[POOL].shape[0]),
                       "data_sha256": data_sha}
    feats = embedder(real)
    atomic_torch_save(feats, path)
    return feats, {"cache_path": str(path), "cache_hit": False, "num_real": int(feats[POOL].shape[0]),
                   "data_sha256": data_sha}


# ---------------------------------------------------------------------------------------------------- group
class InceptionMetrics(MetricGroup):
    """FID, KID, IS, precision, recall, density and coverage on standard Inception features.

    Args:
        num_samples: generated images the protocol asks for (50,000 is the paper standard; CPU default 10,000).
        num_real: real images (capped at the split size), the first ``num_real`` of a permutation seeded by
            ``reference_seed`` — fixed across evaluation seeds so the cache is shared.
        weights_path: user-supplied Inception weights (see :func:`resolve_inception_weights`).
        cache_root: GANBench cache root; device: ``"cuda"`` when available by default.
        embedder: inject a feature extractor (tests); built lazily from the resolved weights otherwise.

    ``__call__(fake (N, C, H, W) in [-1, 1], datamodule)`` returns ``(values, protocols)``.
    """

    metrics = (Metric("fid", False, summary="Fréchet Inception distance"),
               Metric("kid", False, summary="kernel Inception distance"),
               Metric("is", True, summary="Inception Score"),
               Metric("precision", True, summary="improved precision (k = 3)"),
               Metric("recall", True, summary="improved recall (k = 3)"),
               Metric("density", True, summary="density (k = 5)"),
               Metric("coverage", True, summary="coverage (k = 5)"))
    options = ("num_real", "weights_path", "cache_root", "device")

    def __init__(self, num_samples: int = 10000, num_real: int = 10000, *, weights_path: str | None = None,
                 cache_root: str | os.PathLike | None = None, device: str | None = None,
                 embedder: InceptionEmbedder | None = None, reference_seed: int = 0, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, is_splits: int = 10, prd_k: int = 3, dc_k: int = 5) -> None:
        self.num_samples, self.num_real = num_samples, num_real
        self.weights_path, self.cache_root, self.device = weights_path, cache_root, device
        self.embedder, self.reference_seed = embedder, reference_seed
        self.kid_subsets, self.kid_subset_size, self.is_splits = kid_subsets, kid_subset_size, is_splits
        self.prd_k, self.dc_k = prd_k, dc_k

    def unsupported(self, datamodule):
        if getattr(datamodule, "kind", "image") != "image":
            return f"Inception metrics need images, not {getattr(datamodule, 'kind', '?')}"
        return None

    def prepare(self, datamodule):
        check_cache_dir(self.cache_root)

    def get_embedder(self) -> InceptionEmbedder:
        if self.embedder is None:
            weights = resolve_inception_weights(self.weights_path, root=self.cache_root)
            self.embedder = InceptionEmbedder(weights, device=self.device)
        return self.embedder

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        if getattr(datamodule, "kind", "image") != "image":
            raise ValueError(f"Inception metrics need images; {datamodule.name!r} holds {datamodule.kind}")
        real, gen, base = self.features(fake, datamodule, seed)
        scores = _Scores(base)
        r, g = real[POOL], gen[POOL]
        self.distances(scores, r, g, seed)
        self.inception_score(scores, gen)
        self.neighbourhoods(scores, r, g)
        return scores.values, scores.protocols

    def features(self, fake: Tensor, datamodule, seed: int) -> tuple[dict[str, Tensor], dict[str, Tensor], dict]:
        """Real features (cached) and generated features, and the protocol fields every score shares."""
        embedder = self.get_embedder()
        datamodule.setup()
        count = min(self.num_real, int(datamodule.train_x.shape[0]))
        t0 = time.perf_counter()
        real, info = reference_features(datamodule, embedder, count, reference_seed=self.reference_seed,
                                        root=self.cache_root)
        t1 = time.perf_counter()
        gen = embedder(fake)
        t2 = time.perf_counter()
        n_r, n_g = real[POOL].shape[0], gen[POOL].shape[0]
        desc = datamodule.describe()
        base = dict(embedder.protocol(), reference_dataset=desc["dataset"], reference_split=desc.get("split"),
                    num_real=n_r, num_generated=n_g, seed=seed, reference_seed=self.reference_seed,
                    reference_selection=f"first {n_r} of torch.randperm seeded {self.reference_seed}",
                    image_resolution=list(datamodule.dims), real_features_cache=info["cache_path"],
                    real_features_cache_hit=info["cache_hit"],
                    reference_data_sha256=info["data_sha256"], seconds_embedding_real=round(t1 - t0, 3),
                    seconds_embedding_generated=round(t2 - t1, 3))
        return real, gen, base

    def distances(self, scores: "_Scores", r: Tensor, g: Tensor, seed: int) -> None:
        """FID and KID on pool3 features."""
        impl = _fidelity_version()
        n_r, n_g = r.shape[0], g.shape[0]
        few = min(n_r, n_g) < 2
        few_reason = f"needs at least 2 real and 2 generated images (got {n_r} and {n_g})" if few else None
        scores.put("fid", None if few else frechet_distance(r, g), f"{impl} fid_statistics_to_metric", few_reason,
                   feature_layer="pool3 (2048)")
        if few:
            scores.put("kid", None, f"{impl} kid_features_to_metric", few_reason)
            return
        kid, kid_std, size = kernel_inception_distance(r, g, subsets=self.kid_subsets,
                                                       subset_size=self.kid_subset_size, seed=seed)
        scores.put("kid", kid, f"{impl} kid_features_to_metric", feature_layer="pool3 (2048)", kid_std=kid_std,
                   kid_subsets=self.kid_subsets, kid_subset_size=size, kernel="poly degree 3, gamma 1/d, coef0 1")

    def inception_score(self, scores: "_Scores", gen: dict[str, Tensor]) -> None:
        """IS on the 1008-way logits, or unavailable (with the reason) when the weights have no classifier."""
        impl = _fidelity_version()
        if LOGITS in gen:
            is_mean, is_std = inception_score(gen[LOGITS], splits=self.is_splits, seed=scores.base["seed"])
            scores.put("is", is_mean, f"{impl} isc_features_to_metric", feature_layer="logits_unbiased (1008)",
                       is_std=is_std, is_splits=self.is_splits, num_real=0)
        else:
            scores.put("is", None, f"{impl} isc_features_to_metric", feature_layer="logits_unbiased (1008)",
                       num_real=0,
                       reason=(f"Inception weights from {self.get_embedder().weights.source!r} have no 1008-way "
                               "classifier; supply torch-fidelity's standard weights (online cache or "
                               "GANBENCH_INCEPTION_WEIGHTS) to compute the Inception Score"))

    def neighbourhoods(self, scores: "_Scores", r: Tensor, g: Tensor) -> None:
        """Precision/recall and density/coverage from k-nearest-neighbour balls on pool3 features."""
        n_r, n_g = r.shape[0], g.shape[0]
        prd_few = min(n_r, n_g) <= max(self.prd_k, self.dc_k)
        prd_reason = (f"needs more than k={max(self.prd_k, self.dc_k)} real and generated images "
                      f"(got {n_r} and {n_g})") if prd_few else None
        p, rc = (None, None) if prd_few else precision_recall(r, g, self.prd_k)
        d, c = (None, None) if prd_few else density_coverage(r, g, self.dc_k)
        for name, v, k, paper in (("precision", p, self.prd_k, "Kynkaanniemi et al. 2019"),
                                  ("recall", rc, self.prd_k, "Kynkaanniemi et al. 2019"),
                                  ("density", d, self.dc_k, "Naeem et al. 2020"),
                                  ("coverage", c, self.dc_k, "Naeem et al. 2020")):
            scores.put(name, v, f"ganbench.metrics.fidelity ({paper}), float64 Euclidean k-NN balls", prd_reason,
                       feature_layer="pool3 (2048)", k=k)


def _fidelity_version() -> str:
    import torch_fidelity

    return f"torch-fidelity {torch_fidelity.__version__}"


class _Scores:
    """Values and protocols being filled in, every protocol starting from the shared ``base``."""

    def __init__(self, base: dict) -> None:
        self.base, self.values, self.protocols = base, {}, {}

    def put(self, name: str, value: float | None, implementation: str, reason: str | None = None, **extra) -> None:
        self.values[name] = value
        self.protocols[name] = dict(self.base, metric=name, implementation=implementation, **extra)
        if reason:
            self.protocols[name]["reason"] = reason


register_metric_group(InceptionMetrics())
