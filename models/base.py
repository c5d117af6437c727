"""The one training step every GANBench variant shares.

:class:`GANModule` is a ``LightningModule`` with manual optimisation. Per batch it does one discriminator
step and, every ``n_critic`` batches, one generator step (a *GAN iteration*; the budget ``iterations`` counts
these, while Lightning's ``global_step`` counts every optimiser step). ``G(z)`` is computed once per batch:
the D step sees it detached and the G step back-propagates through the same tensor. A variant only supplies

- ``d_loss(real, fake) -> Tensor`` and ``g_loss(fake, real) -> Tensor`` on :class:`Critique` objects,
- optionally ``d_penalty(disc, real_x, fake_x, y)`` (gradient penalty), ``after_d_step()`` (weight
  clipping), ``build_discriminator(i)`` (e.g. an autoencoder) and its ``Config`` defaults.

Training scalars are accumulated on the device and flushed every ``log_every`` iterations (one host sync per
flush), so the step itself never synchronises. NaN/Inf losses are detected on the device, the first bad
iteration is kept, and the run stops with ``status = "diverged"`` at the next flush.

The module owns its step's helpers, each with its own ``state_dict`` where it has state that a checkpoint keeps:
:class:`~models.schedule.CriticSchedule` (which steps a batch gets), :class:`~models.scalars.ScalarLog` (the
scalars until the next flush), :class:`~models.fusion.StepFusion` and :class:`~models.dispatch.Dispatch`. The last
two are fast paths that leave every number unchanged (tests/train/test_fused_steps.py): fusing trains a stack
of consecutive batches in one Lightning ``training_step`` (Lightning's per-batch loop is paid once per stack),
and lean dispatch calls ``backward``/``step`` directly where Lightning's dispatch would only call no-op hooks.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from . import networks
from .augment import diff_augment, parse_policy
from .config import ConfigError, GANConfig, build_config
from .dispatch import Dispatch
from .fusion import StepFusion
from .losses import feature_matching_loss, input_sq_norm, r1_penalty, r2_penalty, zero_centred_penalty
from .scalars import ScalarLog
from .schedule import CriticSchedule


@dataclass
class Critique:
    """What one discriminator said about a batch.

    Attributes:
        x: the samples it scored ``(B, *dims)`` (after instance noise).
        score: raw output ``(B,)``: a logit, a critic value or an energy, per objective (``None`` without D).
        features: penultimate features ``(B, F)`` (the flattened samples when there is no discriminator).
    """

    x: Tensor
    score: Tensor | None
    features: Tensor


class GANModule(pl.LightningModule):
    """Base class of every variant (see the module docstring).

    Args:
        data_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``.
        num_classes: label count of the datamodule (0 when unlabelled); needed for ``conditional=True``.
        data_kind: ``"points"`` (unbounded generator output) or ``"image"`` (``tanh`` output in [-1, 1]).
        **hparams: fields of the variant's ``Config``; unknown keys raise :class:`ConfigError`.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[GANConfig]] = GANConfig
    has_discriminator: ClassVar[bool] = True
    score_is_logit: ClassVar[bool] = True      # log σ(score) as D(x); otherwise the raw score
    g_needs_real: ClassVar[bool] = False       # g_loss uses D's critique of a real batch
    channels_last: bool = False                # set by the runner's fast path: batches go NHWC too

    # why models.population.GANPopulation cannot train this variant (None: it can)
    population_unsupported: ClassVar[str | None] = None
    # attributes the D step leaves for after_d_step (tensors per member: a population carries them across vmaps)
    after_d_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, data_shape: tuple[int, ...] = (2,), num_classes: int = 0, data_kind: str = "points",
                 **hparams: Any) -> None:
        super().__init__()
        self.cfg = build_config(self.Config, hparams)
        if self.cfg.dcgan_fc is None:           # the published network's at this image side (28 px: FC 1024)
            self.cfg.dcgan_fc = networks.default_dcgan_fc(self.cfg.arch, tuple(data_shape))
        self.check_data(self.cfg, tuple(data_shape), num_classes)
        self.save_hyperparameters({"data_shape": list(data_shape), "num_classes": num_classes,
                                   "data_kind": data_kind, **asdict(self.cfg)})
        self.automatic_optimization = False
        self.data_shape, self.num_classes, self.data_kind = tuple(data_shape), num_classes, data_kind
        self.cond_classes = num_classes if self.cfg.conditional else 0
        self.generator = self.build_generator()
        # g_ema: an exponential moving average of G's weights (Karras et al. 2018; Yazıcı et al. 2019), a
        # submodule so it is checkpointed and resumed with the rest; sampled and scored instead of G
        self.generator_ema = self.build_generator_ema() if self.cfg.g_ema > 0 else None
        self.augment_policy = parse_policy(self.cfg.diffaugment)
        self.discriminators = nn.ModuleList(
            [self.mlp_init(self.build_discriminator(i)) for i in range(self.cfg.n_discriminators)]
            if self.has_discriminator else [])
        self.iteration = 0                      # GAN iterations done (python int: no sync to read it)
        self.diverged_at: int | None = None
        self.history: list[dict[str, float]] = []
        self.critic_schedule = CriticSchedule(self.cfg, self.has_discriminator)
        self.scalars = ScalarLog()              # training scalars on the device until the next flush
        self._dispatch: Dispatch | None = None
        self.fusion = StepFusion()              # batches per Lightning training_step (StepFusion.attach sets it)

    @classmethod
    def check_data(cls, cfg: GANConfig, data_shape: tuple[int, ...], num_classes: int) -> None:
        """Raise :class:`ConfigError` when ``cfg`` cannot train on data of this shape and labelling."""
        if cfg.conditional and not num_classes:
            raise ConfigError("conditional=True needs a labelled dataset (num_classes > 0)")
        if cfg.arch == "dcgan":
            if len(data_shape) != 3:
                raise ConfigError(f"arch='dcgan' needs image data (C, H, W); this dataset has shape {data_shape}:"
                                  " use arch='mlp'")
            try:
                networks.dcgan_levels(data_shape[1])
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if (cfg.r1_gamma > 0 or cfg.r2_gamma > 0) and not (cls.has_discriminator and cls.score_is_logit):
            raise ConfigError(f"r1_gamma/r2_gamma apply to logit-scored discriminators (the R1/R2 of Mescheder et "
                              f"al. 2018); {cls.name or cls.__name__}'s D is not one: set r1_gamma=0 and r2_gamma=0")
        if cfg.d_maxout and (not cls.has_discriminator or cls.build_discriminator is not GANModule.build_discriminator):
            raise ConfigError(f"d_maxout builds GANBench's MLP discriminator, and {cls.name or cls.__name__} "
                              f"{'has no discriminator' if not cls.has_discriminator else 'builds its own'}: set "
                              "d_maxout=0")
        if cfg.diffaugment:
            if len(data_shape) != 3:
                raise ConfigError(f"diffaugment={cfg.diffaugment!r} augments images (C, H, W); this dataset has shape "
                                  f"{data_shape}: set diffaugment='' for point data")
            if not cls.has_discriminator:
                raise ConfigError(f"diffaugment augments D's inputs and {cls.name} has no discriminator: "
                                  "set diffaugment=''")

    # ----------------------------------------------------------------------------------- networks
    def build_generator(self) -> nn.Module:
        c = self.cfg
        if c.arch == "dcgan":
            return networks.dcgan_generator(self.data_shape, c.z_dim, c.width, self.cond_classes, c.dcgan_fc)
        return self.mlp_init(networks.mlp_generator(
            self.data_shape, c.z_dim, c.g_hidden or c.hidden, c.g_depth or c.depth, c.activation,
            image=self.data_kind == "image", num_classes=self.cond_classes, norm=c.g_norm))

    def mlp_init(self, module: nn.Module) -> nn.Module:
        """``module`` with :func:`models.networks.normal_init` of std ``mlp_init_std`` when it is set (MLP only)."""
        return networks.normal_init(module, self.cfg.mlp_init_std) if self.cfg.mlp_init_std > 0 else module

    def build_generator_ema(self) -> nn.Module:
        """A frozen copy of G whose weights follow G's by :meth:`update_g_ema`."""
        ema = copy.deepcopy(self.generator)
        for p in ema.parameters():
            p.requires_grad_(False)
        return ema

    @torch.no_grad()
    def update_g_ema(self) -> None:
        """θ_ema ← β θ_ema + (1 - β) θ after each G step (β = ``g_ema``); buffers (batch-norm statistics) copied.
        On the device, no host sync."""
        ema_params, params = list(self.generator_ema.parameters()), list(self.generator.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - self.cfg.g_ema)
        for e, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            e.copy_(b)

    def member_size(self, index: int) -> int:
        """The width (``arch=dcgan``) or hidden size (MLP) of discriminator ``index`` of the ensemble: member i of
        n has the capacity ÷ 2^(n-1-i) (increasing), at least 4."""
        c = self.cfg
        shrink = 2 ** (c.n_discriminators - 1 - index)
        return max((c.width if c.arch == "dcgan" else c.hidden) // shrink, 4)

    def build_discriminator(self, index: int) -> nn.Module:
        """Discriminator ``index`` of the ensemble (its size: :meth:`member_size`)."""
        c = self.cfg
        if c.arch == "dcgan":
            return networks.dcgan_discriminator(self.data_shape, self.member_size(index), c.d_norm,
                                                self.cond_classes, c.minibatch_kernels, c.dcgan_fc)
        return networks.mlp_discriminator(self.data_shape, self.member_size(index), c.depth, c.activation,
                                          c.d_norm, self.cond_classes, c.minibatch_kernels, c.d_maxout)

    # ------------------------------------------------------------------------------ variant hooks
    def d_loss(self, real: Critique, fake: Critique) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake: Critique, real: Critique | None) -> Tensor:
        raise NotImplementedError

    def d_penalty(self, disc: nn.Module, real_x: Tensor, fake_x: Tensor, y: Tensor | None) -> Tensor | None:
        """Extra discriminator loss term (e.g. a gradient penalty); ``None`` for none."""
        return None

    def score_of(self, disc: nn.Module, y: Tensor | None) -> Callable[[Tensor], Tensor]:
        """``x -> disc``'s raw score of ``x`` (labelled by ``y`` when conditional): what a gradient penalty
        differentiates (:meth:`d_penalty` of ``wgan_gp`` and ``dragan``)."""
        label = y if self.cond_classes else None
        return lambda x: disc(x, label)[0]

    def after_d_step(self) -> None:
        """Called after every discriminator optimiser step (e.g. weight clipping)."""

    def schedule(self) -> tuple[bool, bool]:
        """(do a D step, do a G step) for this batch (:class:`~models.schedule.CriticSchedule`)."""
        return self.critic_schedule.next(self.critic_steps)

    def critic_steps(self) -> int:
        """D steps before the G step of the current iteration (``n_critic``; a variant may vary it)."""
        return self.cfg.n_critic

    # ------------------------------------------------------------------------------------ sampling
    def sample_z(self, n: int) -> Tensor:
        return torch.randn(n, self.cfg.z_dim, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None, batch_size: int = 1000) -> Tensor:
        """``n`` generated samples in eval mode (labels cycle over the classes when conditional), from the EMA
        generator when ``g_ema`` is on."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = generator.training
        generator.eval()
        if self.cond_classes and labels is None:
            labels = torch.arange(n) % self.cond_classes
        out = []
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            y = labels[i:i + m].to(self.device) if (self.cond_classes and labels is not None) else None
            out.append(generator(self.sample_z(m), y).float())
        generator.train(was_training)
        return torch.cat(out)

    def augment(self, x: Tensor) -> Tensor:
        """D's view of a batch: DiffAugment (Zhao et al. 2020) when ``diffaugment`` is set, applied alike to real
        and generated batches in both steps; differentiable, so G's gradient passes through it."""
        return diff_augment(x, self.augment_policy) if self.augment_policy else x

    def critique(self, disc: nn.Module, x: Tensor, y: Tensor | None) -> Critique:
        sigma = self.instance_noise_std()
        if sigma > 0:
            x = x + sigma * torch.randn_like(x)
        score, features = disc(x, y if self.cond_classes else None)
        return Critique(x, score, features)

    def instance_noise_std(self) -> float:
        # instance noise (seed 002 "add noise to the samples"), annealed linearly to zero over the budget
        return self.cfg.instance_noise * max(0.0, 1.0 - self.iteration / self.cfg.iterations)

    # ----------------------------------------------------------------------------------- optimisers
    def _optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=(self.cfg.beta1, self.cfg.beta2))

    def configure_optimizers(self):
        opts = [self._optimizer(self.generator.parameters(), self.cfg.lr_g)]
        if self.has_discriminator:
            opts.insert(0, self._optimizer(self.discriminators.parameters(), self.cfg.lr_d))
        if self.cfg.lr_schedule == "linear":
            total = self.cfg.iterations
            return opts, [torch.optim.lr_scheduler.LambdaLR(o, lambda it: max(0.0, 1.0 - it / total)) for o in opts]
        return opts

    def on_train_start(self) -> None:
        self._dispatch = None                      # a new fit: bind to this trainer's optimisers again

    def on_train_end(self) -> None:
        self._dispatch = None                      # do not keep the trainer's optimisers alive

    def dispatch(self) -> Dispatch:
        """Optimisers, schedulers, backward and toggling for the step, bound once per fit (see :class:`~models.dispatch.Dispatch`)."""
        if self._dispatch is None:
            self._dispatch = Dispatch(self)
        return self._dispatch

    # -------------------------------------------------------------------------------- training step
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.fusion.train(self, batch)              # one batch, or a stack of them (models.fusion)

    def train_on_batch(self, x: Tensor, y: Tensor) -> None:
        """One batch of the schedule: a D step and, every ``n_critic`` batches, a G step."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y if (self.cond_classes and y.numel()) else None
        do_d, do_g = self.schedule()
        z = self.sample_z(x.shape[0])
        with torch.set_grad_enabled(do_g):
            fake = self.generator(z, y)                      # G(z) once per batch
        if do_d:
            self.discriminator_step(x, fake.detach(), y)
        if do_g:
            self.generator_step(x, fake, y)

    def discriminator_step(self, x: Tensor, fake: Tensor, y: Tensor | None) -> None:
        d = self.dispatch()
        stop = self.critic_schedule.stop_criteria    # the sum is needed only by the stop criteria
        loss, game, real_c, fake_c = self.discriminator_objective(x, fake, y, stop)
        d.opt_d.zero_grad(set_to_none=True)
        d.backward(loss)
        d.step(d.opt_d)
        self.after_d_step()
        self.track_d_step(loss, real_c, fake_c)
        if stop:
            c1 = self.cfg.stop_d_above
            self.critic_schedule.advance_stop_phase("d", self.stop_value(game), lambda v: c1 is None or v <= c1)

    def discriminator_objective(self, x: Tensor, fake: Tensor, y: Tensor | None, stop: bool = False
                                ) -> tuple[Tensor, Tensor | None, Critique, Critique]:
        """D's loss on a batch: Σ over the ensemble of ``d_loss`` + ``d_penalty``; also the game value (Σ
        ``d_loss`` without penalties, for the stop criteria when ``stop``) and the last member's critiques.
        The step's maths without its optimiser (the population engine runs it per member under ``vmap``)."""
        loss: Tensor | None = None
        game: Tensor | None = None                   # Σ_i d_loss of member i, without penalties
        r1, r2 = self.cfg.r1_gamma, self.cfg.r2_gamma
        # a population member (under torch.func.vmap) cannot call torch.autograd.grad: R1/R2 by torch.func.grad
        vectorised = (r1 > 0 or r2 > 0) and torch._C._functorch.maybe_current_level() is not None
        for disc in self.discriminators:
            real_sq = fake_sq = None
            if vectorised:
                real_c, fake_c, real_sq, fake_sq = self._critiques_with_input_grads(disc, x, fake, y)
            else:
                # R1/R2 differentiate D's score at its (un-augmented) input: the same forward pass as the loss
                real_in = x.detach().requires_grad_(True) if r1 > 0 else x
                fake_in = fake.detach().requires_grad_(True) if r2 > 0 else fake
                real_c, fake_c = self.critique_pair(disc, real_in, fake_in, y)
            term = self.d_loss(real_c, fake_c)
            loss = term if loss is None else loss + term
            if stop:
                game = term.detach() if game is None else game + term.detach()
            penalty = self.d_penalty(disc, real_c.x, fake_c.x, y)
            if penalty is not None:
                self.track("d_penalty", penalty)
                loss = loss + penalty
            if r1 > 0:
                reg = r1_penalty(real_c.score, real_in, r1) if real_sq is None else zero_centred_penalty(real_sq, r1)
                self.track("r1", reg)
                loss = loss + reg
            if r2 > 0:
                reg = r2_penalty(fake_c.score, fake_in, r2) if fake_sq is None else zero_centred_penalty(fake_sq, r2)
                self.track("r2", reg)
                loss = loss + reg
        return loss, game, real_c, fake_c

    def critique_pair(self, disc: nn.Module, real_in: Tensor, fake_in: Tensor, y: Tensor | None
                      ) -> tuple[Critique, Critique]:
        """The D step's critiques of a real and a generated batch, each seen through :meth:`augment`."""
        real_a, fake_a = self.augment(real_in), self.augment(fake_in)
        return self.critique(disc, real_a, y), self.critique(disc, fake_a, y)

    def _critiques_with_input_grads(self, disc: nn.Module, x: Tensor, fake: Tensor, y: Tensor | None
                                    ) -> tuple[Critique, Critique, Tensor | None, Tensor | None]:
        """The D step's critiques of ``x`` and ``fake`` (the same draws, in the same order, as the single run's
        path) and ‖∇ D‖² per sample at each un-augmented input where R1 / R2 is on, from that same forward pass
        by ``torch.func.grad`` (inside a population member, where ``torch.autograd.grad`` cannot run): the
        gradient of Σ real scores (R1) + Σ fake scores (R2), of which each input's part is its own term's."""
        on = (self.cfg.r1_gamma > 0, self.cfg.r2_gamma > 0)
        argnums = tuple(i for i in (0, 1) if on[i])

        def total(real_in: Tensor, fake_in: Tensor):
            real_c, fake_c = self.critique_pair(disc, real_in, fake_in, y)
            parts = [c.score.sum() for c, o in zip((real_c, fake_c), on) if o]
            return sum(parts[1:], parts[0]), (real_c.x, real_c.score, real_c.features,
                                              fake_c.x, fake_c.score, fake_c.features)

        grads, aux = torch.func.grad(total, argnums=argnums, has_aux=True)(x.detach(), fake.detach())
        sq = {i: input_sq_norm(g) for i, g in zip(argnums, grads)}
        return Critique(*aux[:3]), Critique(*aux[3:]), sq.get(0), sq.get(1)

    def track_d_step(self, loss: Tensor, real_c: Critique, fake_c: Critique) -> None:
        self.track("d_loss", loss)
        if self.cfg.n_discriminators == 1:             # D(x) and D(G(z)) averaged over the window at the flush
            self.track("d_real", real_c.score)
            self.track("d_fake", fake_c.score)

    def generator_step(self, x: Tensor, fake: Tensor, y: Tensor | None) -> None:
        d = self.dispatch()
        with d.toggle_g():
            loss, game_value = self.generator_objective(x, fake, y)
            d.opt_g.zero_grad(set_to_none=True)
            d.backward(loss)
            log_now = (self.iteration + 1) % self.cfg.log_every == 0
            if log_now:
                self.track("g_grad_norm", self._grad_norm(self.generator))
            d.step(d.opt_g)
        if self.generator_ema is not None:
            self.update_g_ema()
        self.track("g_loss", loss)
        self.iteration += 1
        for sched in d.schedulers:
            sched.step()
        if self.critic_schedule.stop_criteria:
            # seed 002: `while loss < C2: loss = train_generator()`, where `loss` is the game value D minimises
            # and G maximises, so G trains until D's loss has risen to C2 (one G step per phase without C2)
            c2 = self.cfg.stop_g_below
            self.critic_schedule.advance_stop_phase("g", self.stop_value(game_value), lambda v: c2 is None or v >= c2)
        if log_now or self.iteration >= self.cfg.iterations:
            self.flush_logs()
        if self.iteration >= self.cfg.iterations:
            self.trainer.should_stop = True

    def generator_objective(self, x: Tensor, fake: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """G's loss on a batch (Σ over the ensemble of ``g_loss`` [+ feature matching]) and, under the stop
        criteria, D's loss on it (the game value). The step's maths without its optimiser (see
        :meth:`discriminator_objective`)."""
        game_value: Tensor | None = None             # D's loss on this batch (stop criteria only)
        loss: Tensor | None = None
        if not self.has_discriminator:
            loss = self.g_loss(Critique(fake, None, fake.flatten(1)), Critique(x, None, x.flatten(1)))
        for disc in self.discriminators:
            fake_c = self.critique(disc, self.augment(fake), y)
            real_c = None
            if self.g_needs_real or self.cfg.feature_matching > 0 or self.cfg.stop_g_below is not None:
                with torch.no_grad():
                    real_c = self.critique(disc, self.augment(x), y)
            term = self.g_loss(fake_c, real_c)
            loss = term if loss is None else loss + term
            if self.cfg.stop_g_below is not None:
                with torch.no_grad():
                    fake_d = Critique(fake_c.x.detach(), fake_c.score.detach(), fake_c.features.detach())
                    game = self.d_loss(real_c, fake_d)
                game_value = game if game_value is None else game_value + game
            if self.cfg.feature_matching > 0:
                # seed 002 feature matching, h = D's penultimate features
                fm = feature_matching_loss(real_c.features, fake_c.features)
                self.track("feature_matching", fm)
                loss = loss + self.cfg.feature_matching * fm
        return loss, game_value

    # ---------------------------------------------------------------------------------- bookkeeping
    def stop_value(self, game: Tensor | None) -> float:
        """The one quantity both stop criteria compare (C1 after a D step, C2 after a G step): D's loss
        ``d_loss`` without penalties (the game value of seed 002's loops, not the regulariser), averaged over
        the ensemble so C1/C2 mean the same with any ``n_discriminators`` (a host sync; stop criteria only)."""
        return float(game) / self.cfg.n_discriminators if game is not None else float("nan")

    @staticmethod
    def _grad_norm(module: nn.Module) -> Tensor:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())

    # ---------------------------------------------------------------------------------- scalars
    def track(self, name: str, value: Tensor) -> None:
        """Keep a scalar (or a vector of per-sample values) of this iteration on the device; the mean over
        everything tracked under ``name`` since the last flush is logged at the next flush. No host sync."""
        self.scalars.track(name, value, self.iteration)

    def flush_logs(self) -> None:
        """Average what was tracked since the last flush (one host sync), record it in ``history``, send it to
        the logger, and stop the run if a loss went non-finite (with the first bad iteration)."""
        row, first_bad = self.scalars.flush(self.iteration, self.score_is_logit)
        self.history.append(row)
        if self.logger is not None and len(row) > 1:
            self.logger.log_metrics({f"train/{k}": v for k, v in row.items() if k != "iteration"},
                                    step=self.iteration)
        bad = first_bad is not None
        if self.trainer is not None and self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            self.diverged_at = first_bad if first_bad is not None else self.iteration
            self.trainer.should_stop = True

    # ------------------------------------------------------------------------------- checkpointing
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # one flat dict (the format of every earlier checkpoint): the module's counters, the schedule's state and
        # what was tracked since the last flush, so the resumed history is identical
        checkpoint["ganbench"] = {"iteration": self.iteration, "history": self.history,
                                  "diverged_at": self.diverged_at,
                                  **self.critic_schedule.state_dict(), **self.scalars.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("ganbench", {})
        self.iteration = state.get("iteration", 0)
        self.history = state.get("history", [])
        self.diverged_at = state.get("diverged_at")
        self.critic_schedule.load_state_dict(state)
        self.scalars.load_state_dict(state, self.device)
