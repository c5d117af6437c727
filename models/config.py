"""Typed hyper-parameters: a dataclass is the schema, its defaults are the documentation.

Every variant's ``Config`` is a dataclass derived from :class:`GANConfig`; a variant changes a default by
redeclaring the field. :func:`validate` checks ``Literal`` choices and ranges, so a bad value fails at
construction with a message that names the field, the value and the valid choices.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional


DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")     # Zhao et al. 2020 (models/augment.py)


class ConfigError(ValueError):
    """A hyper-parameter is unknown or out of range; the message names it and what is valid."""


@dataclass
class GANConfig:
    # --- budget
    iterations: int = 1000            # GAN iterations = generator steps (each preceded by n_critic D steps)
    # --- networks (independent of the objective)
    arch: Literal["mlp", "dcgan"] = "mlp"
    z_dim: Optional[int] = None       # latent size, z ~ N(0, I); None: the arch's, 100 for dcgan (Radford et al.), 64 for mlp
    hidden: int = 128                 # MLP width
    depth: int = 2                    # MLP hidden layers
    activation: Literal["tanh", "relu", "leaky_relu"] = "tanh"   # MLP activation
    g_hidden: Optional[int] = None    # MLP generator width; None: hidden (PacGAN's toy G: 400)
    g_depth: Optional[int] = None     # MLP generator hidden layers; None: depth (PacGAN's toy G: 4)
    g_norm: Literal["none", "batch"] = "none"   # MLP generator normalisation (batch: PacGAN's and VEEGAN's toy G)
    d_maxout: int = 0                 # MLP discriminator of maxout layers of this many pieces instead of `activation`
                                      # (Goodfellow et al. 2013; PacGAN's toy D: 5); 0 = off
    mlp_init_std: float = 0.0         # > 0: MLP weights ~ N(0, std) and biases 0 (PacGAN's and VEEGAN's 0.02); 0: torch's
    width: int = 64                   # DCGAN base channels
    dcgan_fc: Optional[int] = None    # DCGAN hidden FC layer in G and D; None: the published net's at the image side
                                      # (1024 at 28 px: Radford et al.'s, InfoGAN's, Lucic et al.'s MNIST net; else 0)
    d_norm: Optional[Literal["none", "batch", "layer", "spectral"]] = None   # D normalisation; None: the arch's,
                                      # batch for dcgan (Radford et al.; layer under a per-sample penalty), none for mlp
    conditional: bool = False         # G(z, y) and D(x, y) receive the class label
    # --- optimisation
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5                # Adam β1 (Radford et al. 2016)
    beta2: float = 0.999              # Adam β2
    n_critic: int = 1                 # discriminator steps per generator step
    lr_schedule: Literal["constant", "linear"] = "constant"   # linear: decay both learning rates to 0
    # --- training tricks (seed 002), usable with any discriminator-based objective
    feature_matching: float = 0.0     # weight of ‖E h(x) - E h(G(z))‖² added to the generator loss
    minibatch_kernels: int = 0        # minibatch discrimination kernels in D's head (0 = off)
    instance_noise: float = 0.0       # std of Gaussian noise on D's inputs, annealed linearly to 0
    n_discriminators: int = 1         # ensemble of D's of increasing capacity; G trained against all
    stop_d_above: Optional[float] = None   # stop criteria: train D while its loss (no penalty, ensemble mean) > C1 ...
    stop_g_below: Optional[float] = None   # ... then G until D's loss on the batch has risen to C2
    stop_max_steps: int = 20          # bound on consecutive steps of one network under the stop criteria
    # --- the modern GAN kit (issue 28)
    r1_gamma: float = 0.0             # γ of R1 = γ/2 E_p*‖∇D(x)‖² (Mescheder et al. 2018; logit-scored variants)
    r2_gamma: float = 0.0             # γ of R2 = γ/2 E_pθ‖∇D(G(z))‖² (on fakes; R3GAN = rpgan + R1 + R2)
    g_ema: float = 0.0                # decay β of an EMA of G's weights, scored instead of G (0 = off; e.g. 0.999)
    diffaugment: str = ""             # DiffAugment of D's real and fake inputs (Zhao et al. 2020): any of color,translation,cutout
    # --- logging
    log_every: int = 50               # iterations between logged (on-device averaged) training scalars

    def __post_init__(self) -> None:
        if self.z_dim is None:
            self.z_dim = 100 if self.arch == "dcgan" else 64
        if self.d_norm is None:
            self.d_norm = "none" if self.arch != "dcgan" else ("layer" if self.per_sample_penalty() else "batch")
        self.check_kit()
        self.check()
        if self.per_sample_penalty():
            if self.d_norm == "batch":
                raise ConfigError("d_norm='batch' is invalid with this gradient penalty: the penalty is per sample, "
                                  "and batch norm makes D(x̂_i) depend on the whole batch; use d_norm='layer' or "
                                  "'none' (or turn the penalty off)")
            if self.minibatch_kernels:
                raise ConfigError("minibatch_kernels > 0 is invalid with this gradient penalty: minibatch "
                                  "discrimination makes D(x̂_i) depend on the whole batch; use minibatch_kernels=0 "
                                  "(or turn the penalty off)")

    def check(self) -> None:
        """A variant's own consistency checks (raise :class:`ConfigError`); called after the arch defaults."""

    def check_kit(self) -> None:
        """The shared options' own ranges (the variant's :meth:`check` is separate, so overriding it keeps these)."""
        mlp_only = {"g_hidden": self.g_hidden, "g_depth": self.g_depth, "g_norm": self.g_norm != "none" or None,
                    "d_maxout": self.d_maxout or None, "mlp_init_std": self.mlp_init_std or None}
        for name, value in mlp_only.items():
            if value is not None and self.arch != "mlp":
                raise ConfigError(f"{name} is an option of the MLP networks and arch={self.arch!r}: unset {name} "
                                  "(or use arch='mlp')")
        for name in ("g_hidden", "g_depth"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1 (or None: the same as "
                                  f"{name[2:]})")
        if self.d_maxout == 1:
            raise ConfigError("d_maxout=1 is a linear layer without activation; give 2 or more pieces (PacGAN: 5), "
                              "or 0 for `activation`")
        if self.dcgan_fc is not None and self.dcgan_fc < 0:
            raise ConfigError(f"dcgan_fc={self.dcgan_fc} must be >= 0 (0 = Radford et al.'s DCGAN, no hidden FC layer)")
        if self.r1_gamma < 0 or self.r2_gamma < 0:
            raise ConfigError(f"r1_gamma={self.r1_gamma}, r2_gamma={self.r2_gamma}: each must be >= 0 (0 = off)")
        if not 0 <= self.g_ema < 1:
            raise ConfigError(f"g_ema={self.g_ema} must lie in [0, 1) (0 = off; a decay such as 0.999)")
        bad = [p for p in self.diffaugment.split(",") if p.strip() and p.strip() not in DIFFAUGMENT_POLICIES]
        if bad:
            raise ConfigError(f"diffaugment={self.diffaugment!r}: unknown part(s) {', '.join(bad)}; give a "
                              f"comma-separated subset of {','.join(DIFFAUGMENT_POLICIES)} (or '' for none)")

    def per_sample_penalty(self) -> bool:
        """True when the variant's D penalty differentiates D at each sample separately (a gradient penalty):
        then D must score every sample independently of its batch, so batch norm and minibatch discrimination
        are refused and dcgan's default normalisation becomes layer norm. R1/R2 are such penalties."""
        return self.r1_gamma > 0 or self.r2_gamma > 0


POSITIVE = {"iterations", "z_dim", "hidden", "depth", "width", "n_critic", "log_every", "n_discriminators",
            "stop_max_steps"}
NON_NEGATIVE = {"feature_matching", "minibatch_kernels", "instance_noise", "d_maxout", "mlp_init_std"}
STRICTLY_POSITIVE_FLOAT = {"lr_g", "lr_d"}


def _literal_choices(tp: Any) -> tuple | None:
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    return None


def field_types(cls: type) -> dict[str, Any]:
    """``{field: resolved type}`` of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def validate(cfg: Any) -> None:
    """Raise :class:`ConfigError` for a value outside its ``Literal`` choices or its range."""
    for name, tp in field_types(type(cfg)).items():
        value = getattr(cfg, name)
        choices = _literal_choices(tp)
        if choices is not None and value not in choices:
            raise ConfigError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}")
        if name in POSITIVE and value < 1:
            raise ConfigError(f"{name}={value!r} must be >= 1")
        if name in NON_NEGATIVE and value < 0:
            raise ConfigError(f"{name}={value!r} must be >= 0")
        if name in STRICTLY_POSITIVE_FLOAT and not value > 0:
            raise ConfigError(f"{name}={value!r} must be > 0")
    if hasattr(cfg, "beta1") and not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        raise ConfigError(f"beta1={cfg.beta1}, beta2={cfg.beta2}: Adam betas must lie in [0, 1)")


def build_config(cls: type, overrides: dict[str, Any]) -> Any:
    """Instantiate config dataclass ``cls`` from ``overrides``; unknown keys raise :class:`ConfigError`."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; valid: {', '.join(names)}")
    cfg = cls(**overrides)
    validate(cfg)
    return cfg
