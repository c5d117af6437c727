"""Generator and discriminator networks, independent of the objective.

Every discriminator is a *body* (data -> features) followed by a shared :class:`DiscriminatorHead`
(optional minibatch discrimination, a linear score, optional class projection), so the tricks and the
conditioning compose with every architecture. ``D(x, y)`` returns ``(score, features)`` with ``score`` of
shape ``(B,)`` (a logit, a critic value or an energy, depending on the objective) and ``features`` ``(B, F)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2)}
D_NORMS = ("none", "batch", "layer", "spectral")


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrisation (Miyato et al. 2018: W / σ(W), σ by one power iteration per
    training forward) with the power iteration written by ``copy_`` instead of ``out=``: the same numbers, bit
    for bit, and it runs under ``torch.func.vmap`` (a population's stacked ``u``/``v``), which cannot batch ``out=``."""

    @torch.no_grad()
    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))


def spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """``torch.nn.utils.parametrizations.spectral_norm(module)`` with :class:`SpectralNorm` (same state-dict keys)."""
    dim = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, SpectralNorm(getattr(module, name), 1, dim, 1e-12))
    return module


def _sn(layer: nn.Module, norm: str) -> nn.Module:
    return spectral_norm(layer) if norm == "spectral" else layer


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016) §3.2: o(x_i)_b = Σ_j exp(-‖M_{i,b} - M_{j,b}‖_1), M = f(x) T.

    Input ``(B, A)``; output ``(B, A + num_kernels)`` (the input with the cross-sample statistics appended).
    The sum excludes j = i, so a batch of ``B`` identical samples gives ``B - 1`` in every kernel.
    """

    def __init__(self, in_features: int, num_kernels: int = 16, kernel_dim: int = 8) -> None:
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * 0.1)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(-1, self.num_kernels, self.kernel_dim).transpose(0, 1)   # (K, B, C)
        l1 = torch.cdist(m, m, p=1)                        # (K, B, B) without a (B, B, K, C) intermediate
        o = torch.exp(-l1).sum(2) - 1.0                                           # drop the j = i term
        return torch.cat([f, o.t()], dim=1)


class DiscriminatorHead(nn.Module):
    """features -> [minibatch discrimination] -> linear score [+ projection ⟨embed(y), φ(x)⟩]."""

    def __init__(self, in_features: int, num_classes: int = 0, minibatch_kernels: int = 0,
                 norm: str = "none") -> None:
        super().__init__()
        self.mbd = MinibatchDiscrimination(in_features, minibatch_kernels) if minibatch_kernels else None
        width = in_features + minibatch_kernels
        self.linear = _sn(nn.Linear(width, 1), norm)
        self.embed = _sn(nn.Embedding(num_classes, width), norm) if num_classes else None

    def forward(self, features: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.mbd(features) if self.mbd is not None else features
        score = self.linear(h).squeeze(1)
        if self.embed is not None and y is not None and y.numel():
            score = score + (self.embed(y) * h).sum(1)                            # Miyato & Koyama 2018
        return score


class Discriminator(nn.Module):
    """A body plus the shared head; ``forward(x, y) -> (score (B,), features (B, F))``."""

    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int = 0, minibatch_kernels: int = 0,
                 norm: str = "none") -> None:
        super().__init__()
        self.body = body
        self.head = DiscriminatorHead(feature_dim, num_classes, minibatch_kernels, norm)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return self.head(features, y), features


class Generator(nn.Module):
    """Wraps a body ``(B, z_dim [+ classes]) -> sample``; conditions by concatenating a one-hot label to z."""

    def __init__(self, body: nn.Module, z_dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.body, self.z_dim, self.num_classes = body, z_dim, num_classes

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.num_classes:
            if y is None or not y.numel():
                raise ValueError("this generator is conditional: pass class labels y")
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        return self.body(z)


# ---------------------------------------------------------------------------------------------- MLP
class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013, eq. 1: h_i(x) = max_{j ∈ [1, k]} z_ij): the input's ``(B, units·k)``
    features are ``units`` consecutive groups of ``k`` pieces, and each unit outputs its group's maximum (the
    grouping of Blocks' ``LinearMaxout``, which PacGAN's and VEEGAN's discriminators use)."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return x.view(*x.shape[:-1], x.shape[-1] // self.pieces, self.pieces).amax(-1)


def mlp_body(in_dim: int, hidden: int, depth: int, activation: str, norm: str = "none", maxout: int = 0,
             bias: bool = True) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden`` units: linear -> [norm] -> activation. ``maxout`` = k > 0 makes each
    layer a maxout layer instead (a linear map to ``hidden``·k features, [norm], then :class:`Maxout` of k pieces;
    ``activation`` is not used). ``bias=False``: linear layers without bias (before a batch norm, which removes
    it)."""
    layers: list[nn.Module] = []
    pieces = max(maxout, 1)
    for i in range(depth):
        layers.append(_sn(nn.Linear(in_dim if i == 0 else hidden, hidden * pieces, bias=bias), norm))
        if norm == "layer":
            layers.append(nn.LayerNorm(hidden * pieces))
        elif norm == "batch":
            layers.append(nn.BatchNorm1d(hidden * pieces))
        layers.append(Maxout(maxout) if maxout else _act(activation))
    return nn.Sequential(*layers)


def normal_init(module: nn.Module, std: float) -> nn.Module:
    """Every linear weight ~ N(0, ``std``) and bias 0 (Blocks' ``IsotropicGaussian(std)`` / ``Constant(0)``, the
    initialisation of PacGAN's and VEEGAN's toy networks with std 0.02); normalisation layers keep scale 1, shift
    0. Spectrally normalised layers get it on their unnormalised weight."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            _normal_layer(m, std)
    return module


def _normal_layer(layer: nn.Module, std: float) -> None:
    """``layer``'s weight ~ N(0, ``std``) (a spectrally normalised layer's unnormalised weight), its bias 0."""
    params = getattr(layer, "parametrizations", None)
    weight = params.weight.original if params is not None and "weight" in params else layer.weight
    with torch.no_grad():
        weight.normal_(0.0, std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class _Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def mlp_generator(data_shape: tuple[int, ...], z_dim: int, hidden: int, depth: int, activation: str,
                  image: bool, num_classes: int = 0, norm: str = "none") -> Generator:
    """``depth`` hidden layers of ``hidden`` units (``norm="batch"``: linear without bias -> batch norm ->
    activation, PacGAN's and VEEGAN's toy generator), then a linear output (``tanh`` for images)."""
    out = math.prod(data_shape)
    body = mlp_body(z_dim + num_classes, hidden, depth, activation, norm, bias=norm != "batch")
    body.append(nn.Linear(hidden, out))
    if image:
        body.append(nn.Tanh())
    body.append(_Reshape(*data_shape))
    return Generator(body, z_dim, num_classes)


def mlp_discriminator(data_shape: tuple[int, ...], hidden: int, depth: int, activation: str,
                      norm: str = "none", num_classes: int = 0, minibatch_kernels: int = 0,
                      maxout: int = 0) -> Discriminator:
    body = nn.Sequential(nn.Flatten(), *mlp_body(math.prod(data_shape), hidden, depth, activation, norm, maxout))
    return Discriminator(body, hidden, num_classes, minibatch_kernels, norm)


# -------------------------------------------------------------------------------------------- DCGAN
# The hidden FC width of the published DCGAN at an image side, where the side has one (else 0). 28 px: the MNIST
# network of the DCGAN line, G FC 1024 -> FC 128·7·7 -> 64@14 -> 1@28 and D 64@14 -> 128@7 -> FC 1024 -> 1:
# Radford et al.'s own MNIST code (github.com/Newmu/dcgan_code, mnist/train_cond_dcgan.py: ngfc = ndfc = 1024,
# ngf = ndf = 64), InfoGAN's MNIST network (Chen et al. 2016, Appendix C.1, Table 1), and the network Lucic et al.
# 2018 ("Are GANs Created Equal?") train on MNIST and Fashion-MNIST.
PUBLISHED_DCGAN_FC = {28: 1024}


def default_dcgan_fc(arch: str, data_shape: tuple[int, ...]) -> int:
    """``dcgan_fc`` when it is left unset (``None``): :data:`models.networks.PUBLISHED_DCGAN_FC` at the image
    side for ``arch="dcgan"``, 0 otherwise (and for the MLP, which has no such layer)."""
    if arch != "dcgan" or len(data_shape) != 3:
        return 0
    return PUBLISHED_DCGAN_FC.get(int(data_shape[-1]), 0)


def dcgan_levels(size: int) -> tuple[int, int]:
    """(number of ×2 stages, base resolution) with base in 3..7: 8 -> (1, 4), 28 -> (2, 7), 32 -> (3, 4),
    64 -> (4, 4)."""
    for k in range(0, 8):
        base = size / 2 ** k
        if base == int(base) and 3 <= base <= 7:
            return k, int(base)
    raise ValueError(f"DCGAN needs an image side of base·2^k with base in 3..7 (8, 28, 32, 64, ...); got {size}")


def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al. 2016 §4: every convolution, transposed convolution and linear weight ~ N(0, 0.02), biases 0;
    batch-norm scale ~ N(1, 0.02), shift 0. Spectrally normalised layers get it on their unnormalised weight."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            _normal_layer(m, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def dcgan_generator(data_shape: tuple[int, ...], z_dim: int, width: int = 64, num_classes: int = 0,
                    fc: int = 0) -> Generator:
    """Radford et al. 2016: project and reshape z to base×base (the "fully connected" first layer, batch norm,
    ReLU), then transposed 4×4 convolutions of stride 2 (×2 each) with batch norm and ReLU, except the output
    layer: no batch norm, ``tanh``. No pooling. Channels halve per stage down to ``width`` (64 px: 512 -> 256 ->
    128 -> 64 -> C; 28 px: 128@7 -> 64@14 -> C). ``fc`` > 0 inserts a hidden fully connected layer of that width
    (batch norm, ReLU) before the projection, whose batch norm is then per unit as in InfoGAN's Table 1: with
    ``fc=1024`` at 28 px (the default there, :data:`models.networks.PUBLISHED_DCGAN_FC`) this is the published
    MNIST generator of Radford et al.'s code, InfoGAN (Chen et al. 2016, Appendix C.1) and Lucic et al. 2018.
    Initialised by :func:`dcgan_init`."""
    c, h, w = data_shape
    if h != w:
        raise ValueError(f"DCGAN expects square images, got {h}×{w}")
    k, base = dcgan_levels(h)
    ch = width * 2 ** max(k - 1, 0)
    if fc:      # InfoGAN's Table 1: FC fc, BN, ReLU -> FC ch·base·base, BN (per unit, before the reshape), ReLU
        layers: list[nn.Module] = [nn.Linear(z_dim + num_classes, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(True),
                                   nn.Linear(fc, ch * base * base, bias=False), nn.BatchNorm1d(ch * base * base),
                                   nn.ReLU(True), _Reshape(ch, base, base)]
    else:       # Radford et al.'s projection: reshape, then batch norm per channel
        layers = [nn.Linear(z_dim + num_classes, ch * base * base, bias=False), _Reshape(ch, base, base),
                  nn.BatchNorm2d(ch), nn.ReLU(True)]
    for i in range(k):
        out = c if i == k - 1 else ch // 2
        layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=(i == k - 1)))
        if i < k - 1:
            layers += [nn.BatchNorm2d(out), nn.ReLU(True)]
        ch = out
    if k == 0:
        layers.append(nn.Conv2d(ch, c, 3, 1, 1))
    layers.append(nn.Tanh())
    return dcgan_init(Generator(nn.Sequential(*layers), z_dim, num_classes))


def dcgan_discriminator(data_shape: tuple[int, ...], width: int = 64, norm: str = "batch", num_classes: int = 0,
                        minibatch_kernels: int = 0, fc: int = 0) -> Discriminator:
    """Radford et al. 2016: strided 4×4 convolutions (÷2 each, no pooling) with LeakyReLU(0.2), ``width``
    channels doubling per stage, normalisation ``norm`` after every convolution except the input layer's, then
    the shared linear head on the flattened base×base map. Initialised by :func:`dcgan_init`.

    ``norm="batch"`` is the paper's; it couples the samples of a batch, so objectives whose penalty needs each
    sample scored independently use ``"layer"`` (GroupNorm(1, C): layer norm over (C, H, W)) instead (see
    :meth:`models.config.GANConfig.per_sample_penalty`). ``fc`` > 0 adds a hidden fully connected layer of that
    width (normalised like the convolutions, LeakyReLU) before the head: the published MNIST discriminator
    with ``fc=1024`` at 28 px, the default there (:data:`models.networks.PUBLISHED_DCGAN_FC`)."""
    c, h, _ = data_shape
    k, base = dcgan_levels(h)
    layers: list[nn.Module] = []
    ch_in, ch = c, width
    res = h
    for i in range(max(k, 1)):
        stride = 2 if k else 1
        normalised = i > 0 and norm in ("batch", "layer")
        layers.append(_sn(nn.Conv2d(ch_in, ch, 4 if k else 3, stride, 1, bias=not normalised), norm))
        res = res // stride
        if normalised:
            layers.append(nn.BatchNorm2d(ch) if norm == "batch" else nn.GroupNorm(1, ch))
        layers.append(nn.LeakyReLU(0.2, True))
        ch_in, ch = ch, ch * 2
    layers.append(nn.Flatten())
    features = ch_in * res * res
    if fc:
        layers.append(_sn(nn.Linear(features, fc, bias=norm not in ("batch", "layer")), norm))
        if norm in ("batch", "layer"):
            layers.append(nn.BatchNorm1d(fc) if norm == "batch" else nn.LayerNorm(fc))
        layers.append(nn.LeakyReLU(0.2, True))
        features = fc
    return dcgan_init(Discriminator(nn.Sequential(*layers), features, num_classes, minibatch_kernels, norm))
