"""A population: S independent runs of one variant trained at once, stacked with ``torch.func``.

:class:`GANPopulation` is a ``LightningModule`` with manual optimisation. Its members differ only in their
seed and, for search trials, in their optimiser numbers (``lr_g``, ``lr_d``, ``beta1``, ``beta2``); member
``k`` is the experiment its single run would be:

- **weights**: member ``k`` is built exactly as the single run builds its module (``seed_everything(seed)``,
  then the variant's constructor), and the S modules are stacked (``torch.func.stack_module_state``);
- **data**: member ``k`` reads the batches a single run of seed ``k`` reads
  (:class:`datamodules.base.PopulationBatchLoader`: one index stream per member over the shared data);
- **noise**: every random draw of a member (``z``, instance noise, a penalty's interpolation, ...) comes from
  the member's own generator, which starts where the single run's global RNG stands after building the model
  (:class:`MemberNoise`: the draws of a vmapped member are intercepted and drawn per member, in order);
- **maths**: the variant's own hooks (``d_loss``, ``g_loss``, ``d_penalty``, ``after_d_step``, ``critique``,
  the D/G schedule) run under ``torch.func.vmap`` with the stacked state swapped into one template module (two
  vectorised calls per iteration: ``G(z)`` with D's loss, then G's loss; ``F.linear`` as one ``torch.baddbmm``
  over the stacked weights, see :class:`MemberNoise`), through the same :meth:`~models.base.GANModule.discriminator_objective` /
  :meth:`~models.base.GANModule.generator_objective` as the single run, so a variant stays one file;
- **optimiser**: :class:`StackedOptimizer`, S independent Adam/RMSprop states (they are elementwise) with
  per-member learning rates and betas.

Gradient penalties go through :func:`models.losses.input_gradient` (``torch.func.grad`` under vmap), spectral
norm through :class:`models.networks.SpectralNorm` (vmap-safe power iteration), BatchNorm statistics are per
member (stacked buffers), ``after_d_step`` (weight clipping) runs once on the stacked parameters, which is
per-member clipping because clipping is elementwise; a variant that declares ``after_d_state`` (BEGAN's losses
for k_t) gets it carried out of the D step's vmap and runs ``after_d_step`` per member. R1/R2 differentiate the
loss's own forward pass by ``torch.func.grad`` (:meth:`models.base.GANModule.discriminator_objective`), and
``g_ema`` averages the stacked G (:meth:`GANPopulation.update_g_ema`).

Divergence: after every D and G step the members whose loss is NaN/Inf are frozen on the device (their
parameters are no longer updated) and their first bad iteration kept on the device; the log flush (one host
sync every ``log_every`` iterations) reads it, records the member ``diverged`` and the others go on. The run
stops when the budget is reached or every member diverged.

Checkpoints (:meth:`models.population.GANPopulation.on_save_checkpoint`): the stacked parameters and buffers (the
alive mask and first bad iterations included) and the stacked optimiser states go through Lightning's checkpoint as
a single run's do; the counters, every member's history, divergence record and noise generator state, the scalars
tracked since the last flush and the D/G schedule position are added, so a resumed population continues every
member's streams exactly.
Logging: with ``member_loggers`` set (one W&B logger per member, by
:func:`benchmark.train.run.execute_population`), each flush logs every member's row to its own logger.

What cannot be reproduced per member is refused by :func:`check_population` with the reason.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.overrides import TorchFunctionMode

from .base import GANModule
from .config import ConfigError, GANConfig

# options that may differ between the members of one population (besides the seed)
MEMBER_OPTIONS = ("lr_g", "lr_d", "beta1", "beta2")


def check_population(cfg: GANConfig, variant_cls: type[GANModule]) -> None:
    """Raise :class:`ConfigError` for what a population cannot train as S independent single runs."""
    if cfg.stop_d_above is not None or cfg.stop_g_below is not None:
        raise ConfigError("the stop criteria (stop_d_above/stop_g_below) are not supported by the population "
                          "engine: each member would pick its next D or G step from its own loss (different "
                          "schedules in one vectorised step, and a host sync per step); train these runs one by one "
                          "(no --population, engine single)")
    if variant_cls.population_unsupported:
        raise ConfigError(f"{variant_cls.name} is not supported by the population engine: "
                          f"{variant_cls.population_unsupported}; train these runs one by one (no --population, "
                          "engine single)")


# ------------------------------------------------------------------------------------------ noise
_CREATORS = {torch.randn, torch.rand, torch.randint, torch.randperm}
_LIKE = {torch.randn_like: torch.randn, torch.rand_like: torch.rand}
_REFUSED = {torch.bernoulli, torch.multinomial, torch.poisson, torch.normal, torch.randint_like,
            F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
            torch.dropout, Tensor.uniform_, Tensor.normal_, Tensor.bernoulli_, Tensor.random_, Tensor.exponential_,
            Tensor.geometric_, Tensor.log_normal_, Tensor.cauchy_, torch.autograd.grad}


class MemberNoise(TorchFunctionMode):
    """Inside a vmapped member function: every ``torch.randn/rand/randint/randperm`` (and ``randn_like``/
    ``rand_like``) is drawn once per member from that member's generator, with the shape the single run asks
    for, and handed to the member as its own slice. Random ops this cannot reproduce per member raise. A
    member's ``F.linear`` runs as one ``torch.baddbmm`` over the stacked tensors (:meth:`_linear`)."""

    def __init__(self, generators: list[torch.Generator], level: int) -> None:
        super().__init__()
        self.generators, self.level = generators, level

    def _draw(self, fn: Callable, args: tuple, kwargs: dict) -> Tensor:
        fc = torch._C._functorch
        drawn = torch.stack([fn(*args, **kwargs, generator=g) for g in self.generators])
        while fc.is_functorch_wrapped_tensor(drawn):     # drawn inside torch.func.grad (R1/R2): a constant there
            drawn = fc.get_unwrapped(drawn)
        return fc._add_batch_dim(drawn, 0, self.level)

    def _linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
        """``F.linear`` of a member with its own weights as one ``torch.baddbmm`` over the stacked tensors (vmap's
        own rule for a batched weight is slower); ``None`` where it does not apply (e.g. inside ``torch.func.grad``
        of a penalty, or an input shared by every member)."""
        fc = torch._C._functorch
        if fc.current_level() != self.level:
            return None
        parts = []
        for t in (x, weight, bias):
            if t is None:
                parts.append(None)
                continue
            if not fc.is_batchedtensor(t) or fc.maybe_get_level(t) != self.level:
                return None
            inner = fc.get_unwrapped(t)
            parts.append(inner.movedim(fc.maybe_get_bdim(t), 0))
        X, W, B = parts
        if X.dim() < 2:
            return None
        X3 = X.reshape(X.shape[0], -1, X.shape[-1])
        out = torch.bmm(X3, W.transpose(1, 2)) if B is None else torch.baddbmm(B.unsqueeze(1), X3, W.transpose(1, 2))
        return fc._add_batch_dim(out.view(*X.shape[:-1], W.shape[1]), 0, self.level)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            out = self._linear(args[0], args[1], args[2] if len(args) > 2 else kwargs.get("bias"))
            if out is not None:
                return out
        if func in _CREATORS and kwargs.get("generator") is None:
            kwargs.pop("generator", None)
            return self._draw(func, args, kwargs)
        if func in _LIKE:
            like = args[0]
            kw = {"dtype": kwargs.get("dtype") or like.dtype, "device": kwargs.get("device") or like.device}
            return self._draw(_LIKE[func], (tuple(like.shape),), kw)
        if func in _REFUSED and not (func is torch.autograd.grad and  # torch.func.grad's own call
                                     torch._C._functorch.current_level() > self.level):
            name = getattr(func, "__qualname__", getattr(func, "__name__", str(func)))
            hint = (" use models.losses.input_gradient (torch.func.grad) for a gradient w.r.t. the input"
                    if func is torch.autograd.grad else
                    " draw it with torch.rand/randn/randint (reproduced per member) instead")
            raise ConfigError(f"{name} inside a population member is not supported: the population engine draws "
                              f"each member's noise from its own generator and cannot batch this op;{hint}")
        return func(*args, **kwargs)


# -------------------------------------------------------------------------------------- optimiser
class StackedOptimizer(torch.optim.Optimizer):
    """S independent Adam (or RMSprop) optimisers over stacked parameters (dim 0 = member).

    Both are elementwise, so the state of member ``k`` is slice ``k`` of the stacked state. ``lr``, ``beta1``
    and ``beta2`` are per member; when they are equal across members the update is torch's own
    (``torch.optim.Adam``/``RMSprop`` single-tensor code, the same operations); otherwise it is the same
    formulas with per-member tensors. ``step(alive=mask)`` leaves the members whose mask is ``False`` untouched
    (frozen after divergence); ``lr_factor`` of a group scales the learning rates (the linear schedule).
    """

    def __init__(self, params, kind: str, lr: list[float], beta1: list[float], beta2: list[float],
                 eps: float = 1e-8, alpha: float = 0.99) -> None:
        if kind not in ("adam", "rmsprop"):
            raise ValueError(f"kind={kind!r}: choose adam or rmsprop")
        super().__init__(params, dict(kind=kind, lr=list(lr), beta1=list(beta1), beta2=list(beta2), eps=eps,
                                      alpha=alpha, lr_factor=1.0))

    def _per_member(self, values: list[float], like: Tensor) -> Tensor:
        """``values`` (one per member) as a float64 tensor on ``like``'s device, shaped to broadcast over it; built
        once per (values, device, rank), since a copy from host memory at every step would wait for the device."""
        key = (tuple(values), like.device, like.dim())
        cache = self.__dict__.setdefault("_member_values", {})
        if key not in cache:
            cache[key] = torch.tensor(values, dtype=torch.float64, device=like.device).view(
                -1, *([1] * (like.dim() - 1)))
        return cache[key]

    @torch.no_grad()
    def step(self, closure=None, alive: Tensor | None = None):
        for index, group in enumerate(self.param_groups):
            uniform = all(len(set(group[k])) == 1 for k in ("lr", "beta1", "beta2"))
            params = group["params"]
            if len(params) > 1 and all(p.grad is not None for p in params):
                self._step_flat(index, group, uniform, alive)
                continue
            for p in params:
                if p.grad is None:                       # unused by this loss: torch's optimisers skip it too
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p) if group["kind"] == "adam" else None
                    state["sq_avg"] = torch.zeros_like(p)
                state["step"] += 1
                new = (self._uniform if uniform else self._member)(p, p.grad, state, group)
                if alive is not None:
                    new = torch.where(alive.view(-1, *([1] * (p.dim() - 1))), new, p)
                p.copy_(new)

    def _flat(self, index: int, params: list[Tensor]) -> dict[str, Any]:
        """The group's parameters and state as (S, P) tensors of which every parameter and its state are views,
        so a step is a few operations on the whole group (the same elementwise formulas). Built on the first
        step, and again if a parameter's storage was replaced (moved, or loaded into new tensors)."""
        flats = self.__dict__.setdefault("_flats", {})
        f = flats.get(index)
        if f is not None and all(p.untyped_storage().data_ptr() == f["base"] for p in params) and \
                all(self.state[p].get("sq_avg") is v for p, v in zip(params, f["sq_views"])):
            return f
        S = params[0].shape[0]

        def flatten(tensors: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
            flat = torch.cat([t.detach().reshape(S, -1) for t in tensors], dim=1)
            views, offset = [], 0
            for t in tensors:
                n = t[0].numel()
                views.append(flat[:, offset:offset + n].view(t.shape))
                offset += n
            return flat, views

        flat_p, views = flatten(params)
        for p, v in zip(params, views):
            p.data = v
        f = {"param": flat_p, "base": flat_p.untyped_storage().data_ptr(), "step": 0}
        for key in ("exp_avg", "sq_avg") if self.param_groups[index]["kind"] == "adam" else ("sq_avg",):
            old = [self.state[p].get(key) for p in params]
            flat, views = flatten([o if o is not None else torch.zeros_like(p) for o, p in zip(old, params)])
            f[key] = flat
            for p, v in zip(params, views):
                self.state[p][key] = v
            if key == "sq_avg":
                f["sq_views"] = views
        f["step"] = self.state[params[0]].get("step", 0)
        flats[index] = f
        return f

    def _step_flat(self, index: int, group: dict, uniform: bool, alive: Tensor | None) -> None:
        params = group["params"]
        f = self._flat(index, params)
        grad = torch.cat([p.grad.reshape(p.shape[0], -1) for p in params], dim=1)
        f["step"] += 1
        for p in params:                                  # the per-parameter view of the state stays true
            self.state[p]["step"] = f["step"]
        state = {"step": f["step"], "exp_avg": f.get("exp_avg"),
                 "sq_avg": f["sq_avg"]}
        new = (self._uniform if uniform else self._member)(f["param"], grad, state, group)
        if alive is not None:
            new = torch.where(alive.view(-1, 1), new, f["param"])
        f["param"].copy_(new)

    @staticmethod
    def _uniform(p: Tensor, grad: Tensor, state: dict, group: dict) -> Tensor:
        lr = group["lr"][0] * group["lr_factor"]
        step, eps = state["step"], group["eps"]
        if group["kind"] == "rmsprop":            # torch.optim.RMSprop, single tensor, no momentum
            alpha = group["alpha"]
            sq = state["sq_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            return torch.addcdiv(p, grad, sq.sqrt().add_(eps), value=-lr)
        beta1, beta2 = group["beta1"][0], group["beta2"][0]     # torch.optim.Adam, single tensor
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["sq_avg"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1 ** step)
        denom = (state["sq_avg"].sqrt() / (1 - beta2 ** step) ** 0.5).add_(eps)
        return torch.addcdiv(p, state["exp_avg"], denom, value=-step_size)

    def _member(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> Tensor:
        lr = self._per_member(group["lr"], p) * group["lr_factor"]
        step, eps = state["step"], group["eps"]
        if group["kind"] == "rmsprop":
            alpha = group["alpha"]
            sq = state["sq_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            return p - lr.to(p.dtype) * grad / sq.sqrt().add_(eps)
        b1, b2 = self._per_member(group["beta1"], p), self._per_member(group["beta2"], p)
        state["exp_avg"].lerp_(grad, (1 - b1).to(p.dtype))
        state["sq_avg"].mul_(b2.to(p.dtype)).add_((1 - b2).to(p.dtype) * grad * grad)
        step_size = (lr / (1 - b1 ** step)).to(p.dtype)
        denom = (state["sq_avg"] / (1 - b2 ** step).to(p.dtype)).sqrt().add_(eps)
        return p - step_size * state["exp_avg"] / denom


# ------------------------------------------------------------------------------------- the module
class _Bound(nn.Module):
    """``functional_call(_Bound(model), state, (fn, *args))`` runs ``fn(*args)`` with ``model``'s parameters
    and buffers replaced by ``state`` (keys prefixed ``m.``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, fn: Callable, *args: Any) -> Any:
        return fn(*args)


class GANPopulation(pl.LightningModule):
    """S members of one variant trained in one vectorised step (see the module docstring).

    Args:
        variant_cls: the registered variant (a :class:`~models.base.GANModule` subclass).
        seeds: one seed per member.
        data_shape, num_classes, data_kind: as for the variant.
        member_options: per member, overrides of :data:`MEMBER_OPTIONS` (search trials); ``None``: none.
        **hparams: the variant's ``Config`` fields shared by every member.
    """

    def __init__(self, variant_cls: type[GANModule], seeds: list[int], data_shape: tuple[int, ...] = (2,),
                 num_classes: int = 0, data_kind: str = "points", member_options: list[dict] | None = None,
                 **hparams: Any) -> None:
        super().__init__()
        self.automatic_optimization = False
        seeds = [int(s) for s in seeds]
        member_options = member_options or [{} for _ in seeds]
        if not seeds or len(member_options) != len(seeds):
            raise ConfigError(f"a population needs one or more seeds and one options dict per seed; got "
                              f"{len(seeds)} seeds and {len(member_options)} option sets")
        for extra in member_options:
            other = sorted(set(extra) - set(MEMBER_OPTIONS))
            if other:
                raise ConfigError(f"members of a population may differ only in seed and {', '.join(MEMBER_OPTIONS)};"
                                  f" {', '.join(other)} must be the same for every member (separate populations)")
        self.variant_cls, self.seeds, self.size = variant_cls, seeds, len(seeds)
        members, cpu_states = [], []
        for seed, extra in zip(seeds, member_options):
            pl.seed_everything(seed, workers=True, verbose=False)   # what the single run does before its module
            members.append(variant_cls(data_shape=data_shape, num_classes=num_classes, data_kind=data_kind,
                                       **{**hparams, **extra}))
            cpu_states.append(torch.get_rng_state())     # the single run's noise stream starts here
        self.cfgs = [m.cfg for m in members]
        check_population(self.cfgs[0], variant_cls)
        template = members[0]
        self.__dict__["template"] = template            # its state is replaced per call: not a submodule
        self.__dict__["_bound"] = _Bound(template)
        params, buffers = stack_module_state(members)
        self.names = list(params) + list(buffers)
        self.param_names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[n]) for n in self.param_names])
        for i, n in enumerate(buffers):
            self.register_buffer(f"member_buffer_{i}", buffers[n])
        self.buffer_names = list(buffers)
        self._cpu_states = cpu_states
        self._generators: dict[str, list[torch.Generator]] = {}
        self._generator_states: dict[str, list[Tensor]] = {}     # restored from a checkpoint, applied lazily
        self.member_loggers: list[Any] | None = None     # one logger per member (W&B), set by the runner
        self.iteration = 0
        self.histories: list[list[dict]] = [[] for _ in seeds]
        self.diverged_at: list[int | None] = [None] * self.size
        self.member_steps: list[int | None] = [None] * self.size   # iteration a diverged member stopped at
        self.register_buffer("alive", torch.ones(self.size, dtype=torch.bool))
        self.register_buffer("first_bad", torch.full((self.size,), -1, dtype=torch.long))
        self._pending: dict[str, list[Tensor]] = {}
        self.__dict__["_opts"] = None
        self.fast_noise = True

    # ------------------------------------------------------------------------------ state and noise
    @property
    def cfg(self) -> GANConfig:
        return self.cfgs[0]

    def member_params(self, prefix: str) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in zip(self.param_names, self.stacked) if n.startswith(prefix)]

    def member_buffers(self) -> dict[str, Tensor]:
        return {n: getattr(self, f"member_buffer_{i}") for i, n in enumerate(self.buffer_names)}

    def state_for(self, grad_prefix: str | tuple[str, ...] | None) -> list[Tensor]:
        """The stacked state in the order of ``names``: parameters under ``grad_prefix`` (one prefix or several)
        keep their graph, the other parameters are detached; then the buffers."""
        keep = grad_prefix or ()
        out = [p if keep and n.startswith(keep) else p.detach() for n, p in zip(self.param_names, self.stacked)]
        out += [getattr(self, f"member_buffer_{i}") for i in range(len(self.buffer_names))]
        return out

    def _slots(self) -> list[tuple[dict, str]]:
        """Where each of ``names`` lives in the template: its module's ``_parameters`` or ``_buffers`` and key."""
        slots = self.__dict__.get("_slot_list")
        if slots is None:
            slots = []
            for n in self.names:
                path, _, attr = n.rpartition(".")
                module = self.template.get_submodule(path)
                slots.append((module._parameters if attr in module._parameters else module._buffers, attr))
            self.__dict__["_slot_list"] = slots
        return slots

    def generators(self, device: torch.device) -> list[torch.Generator]:
        """Each member's generator on ``device``: on the CPU it continues the single run's global stream from
        where it stood after the module was built; on an accelerator it starts as ``manual_seed(seed)`` left
        it (the module is built on the CPU, so the single run has drawn nothing there before training)."""
        key = str(device)
        if key not in self._generators:
            gens = []
            restored = self._generator_states.pop(key, None)
            for k, (seed, state) in enumerate(zip(self.seeds, self._cpu_states)):
                g = torch.Generator(device=device)
                if restored is not None:                 # resumed: where the checkpoint left the stream
                    g.set_state(restored[k])
                elif device.type == "cpu":
                    g.set_state(state)
                else:
                    g.manual_seed(seed)
                gens.append(g)
            self._generators[key] = gens
        return self._generators[key]

    def member_rng_state(self, k: int) -> dict[str, Tensor]:
        """Member ``k``'s generator states by device, to continue its stream after training (sampling)."""
        out = {key: states[k] for key, states in self._generator_states.items()}
        for key, gens in self._generators.items():
            out[key] = gens[k].get_state()
        if "cpu" not in out:
            out["cpu"] = self._cpu_states[k]
        return out

    def vmapped(self, fn: Callable) -> Callable:
        """``fn(*args)`` (run with the template's state replaced) vmapped over the members: called with the
        stacked state (:meth:`state_for`) and stacked args, it returns ``(fn's output, tracked scalars)``, each
        stacked. The state is swapped into the template's modules directly (what ``functional_call`` does,
        without its per-call module walk)."""
        t = self.template

        def member(state, *args):
            level = torch._C._functorch.current_level()
            t.scalars.drain()
            slots = self._slots()
            saved = [store[key] for store, key in slots]
            for (store, key), value in zip(slots, state):
                store[key] = value
            try:
                with MemberNoise(self.generators(self.device), level):
                    out = fn(*args)
            finally:
                for (store, key), value in zip(slots, saved):
                    store[key] = value
            return out, t.scalars.drain()

        def call(state, *args):
            dims = (0, *(None if a is None else 0 for a in args))
            return vmap(member, in_dims=dims, randomness="same")(state, *args)

        return call

    # ----------------------------------------------------------------------------------- optimisers
    def configure_optimizers(self):
        c = self.cfgs
        opts = []
        for prefix, lr in (("discriminators.", [m.lr_d for m in c]), ("generator.", [m.lr_g for m in c])):
            params = [p for _, p in self.member_params(prefix)]
            if params:
                opts.append(StackedOptimizer(params, c[0].optimizer, lr, [m.beta1 for m in c],
                                             [m.beta2 for m in c]))
        self.__dict__["_opts"] = opts
        return opts

    def stacked_optimizers(self) -> tuple[StackedOptimizer | None, StackedOptimizer]:
        opts = self.__dict__["_opts"]
        if opts is None:
            opts = self.configure_optimizers()
        return (opts[0], opts[1]) if self.template.has_discriminator else (None, opts[0])

    def on_fit_start(self) -> None:
        self.template.to(self.device)
        # a resumed checkpoint is loaded before the module moves to its device
        self._pending = {n: [v.to(self.device) for v in vs] for n, vs in self._pending.items()}

    # -------------------------------------------------------------------------------- training step
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        self.train_on_batch(x, y)

    def _track(self, tracked: dict[str, list[Tensor]]) -> None:
        for k, v in tracked.items():
            self._pending.setdefault(k, []).extend(t.detach() for t in v)

    def train_on_batch(self, x: Tensor, y: Tensor) -> None:
        """One batch per member: a D step and, every ``n_critic`` batches, a G step (the single run's schedule).
        ``G(z)`` and D's loss are one vectorised call; G's loss (after D's update) a second."""
        t = self.template
        t.iteration = self.iteration
        y = y if (t.cond_classes and y.numel()) else None
        do_d, do_g = t.schedule()
        n = x.shape[1]

        def g_then_d(xx, yy):
            with torch.set_grad_enabled(do_g):
                fake = t.generator(t.sample_z(n), yy)              # G(z) once per batch
            if not do_d:
                return (fake,)
            loss, _, real_c, fake_c = t.discriminator_objective(xx, fake.detach(), yy)
            t.track_d_step(loss, real_c, fake_c)
            carried = tuple(getattr(t, a) for a in t.after_d_state)   # out of the vmap, per member
            for name in t.after_d_state:
                setattr(t, name, None)
            return fake, loss, carried

        grads = (("generator.",) if do_g else ()) + (("discriminators.",) if do_d else ())
        out, tracked = self.vmapped(g_then_d)(self.state_for(grads), x, y)
        if do_d:
            self.discriminator_step(out[1], out[2], tracked)
        if do_g:
            self.generator_step(x, out[0], y)

    def _kill(self, loss: Tensor) -> Tensor:
        """Freeze the members whose ``loss`` is NaN/Inf (on the device); returns the alive mask to step with."""
        ok = torch.isfinite(loss.detach())
        newly = self.alive & ~ok
        self.first_bad.copy_(torch.where(newly, torch.full_like(self.first_bad, self.iteration), self.first_bad))
        self.alive.copy_(self.alive & ok)
        return self.alive

    def discriminator_step(self, loss: Tensor, carried: tuple, tracked: dict[str, list[Tensor]]) -> None:
        """D's update from its stacked loss (computed with ``G(z)`` in :meth:`train_on_batch`), then
        ``after_d_step`` per member."""
        t = self.template
        opt_d, _ = self.stacked_optimizers()
        params = [p for _, p in self.member_params("discriminators.")]
        grads = torch.autograd.grad(loss.sum(), params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        opt_d.step(alive=self._kill(loss))
        for p in params:
            p.grad = None
        if t.after_d_state:
            # per member, with what its D step left (e.g. BEGAN's losses for k_t, a buffer updated in place)
            def after_member(values):
                for n, v in zip(t.after_d_state, values):
                    setattr(t, n, v)
                t.after_d_step()
                return ()

            _, after_tracked = self.vmapped(after_member)(self.state_for(None), carried)
            self._track(after_tracked)
        elif type(t).after_d_step is not GANModule.after_d_step:
            # on the stacked parameters themselves (elementwise hooks such as clipping act per member)
            stacked = {f"m.{n}": p for n, p in self.member_params("discriminators.")}
            functional_call(self._bound, stacked, (t.after_d_step,))
        # the single run tracks the variant's scalars inside d_loss, then d_loss / d_real / d_fake
        self._track(tracked)

    def generator_step(self, x: Tensor, fake: Tensor, y: Tensor | None) -> None:
        t = self.template
        _, opt_g = self.stacked_optimizers()

        def g_member(xx, ff, yy):
            return t.generator_objective(xx, ff, yy)[0]

        loss, tracked = self.vmapped(g_member)(self.state_for(None), x, fake, y)
        params = [p for _, p in self.member_params("generator.")]
        grads = torch.autograd.grad(loss.sum(), params, allow_unused=True)
        self._track(tracked)
        log_now = (self.iteration + 1) % self.cfg.log_every == 0
        if log_now:
            norms = [g.flatten(1).norm(dim=1) for g in grads if g is not None]
            self._track({"g_grad_norm": [torch.linalg.vector_norm(torch.stack(norms), dim=0)]})
        for p, g in zip(params, grads):
            p.grad = g
        alive = self._kill(loss)
        opt_g.step(alive=alive)
        for p in params:
            p.grad = None
        if t.generator_ema is not None:
            self.update_g_ema(alive)
        self._track({"g_loss": [loss]})
        self.iteration += 1
        if self.cfg.lr_schedule == "linear":             # LambdaLR(max(0, 1 - it / total)), stepped per G step
            factor = max(0.0, 1.0 - self.iteration / self.cfg.iterations)
            for opt in self.__dict__["_opts"]:
                for group in opt.param_groups:
                    group["lr_factor"] = factor
        if log_now or self.iteration >= self.cfg.iterations:
            self.flush_logs()
        if self.iteration >= self.cfg.iterations and self.trainer is not None:
            self.trainer.should_stop = True

    @torch.no_grad()
    def update_g_ema(self, alive: Tensor) -> None:
        """:meth:`models.base.GANModule.update_g_ema` on the stack (elementwise, so per member with its own G);
        a frozen member's EMA stays as it was."""
        params = dict(zip(self.param_names, self.stacked))
        ema = [(p, params["generator." + n[len("generator_ema."):]]) for n, p in params.items()
               if n.startswith("generator_ema.")]
        lerped = torch._foreach_lerp([e for e, _ in ema], [g for _, g in ema], 1.0 - self.cfg.g_ema)
        for (e, _), new in zip(ema, lerped):
            e.copy_(torch.where(alive.view(-1, *([1] * (e.dim() - 1))), new, e))
        buffers = self.member_buffers()
        for n, b in buffers.items():
            if n.startswith("generator_ema."):
                b.copy_(buffers["generator." + n[len("generator_ema."):]])

    # ---------------------------------------------------------------------------------- bookkeeping
    def flush_logs(self) -> None:
        """Per member, the mean of every scalar tracked since the last flush into its history (one host sync
        for all members); a member whose first non-finite loss fell in this window is recorded diverged
        there (its history ends with this row, as its single run's does) and stays frozen."""
        names = list(self._pending)
        rows = []
        for name in names:
            v = torch.cat([p.reshape(self.size, -1) for p in self._pending[name]], dim=1).float()
            if name in ("d_real", "d_fake") and self.template.score_is_logit:
                v = torch.sigmoid(v)
            rows.append(v.mean(1))
        packed = torch.stack([*rows, self.first_bad.to(torch.float32)]).tolist() if rows else \
            [self.first_bad.tolist()]
        self._pending = {}
        for k in range(self.size):
            if self.diverged_at[k] is not None:
                continue
            row = {"iteration": self.iteration, **{n: packed[i][k] for i, n in enumerate(names)}}
            self.histories[k].append(row)
            logger = self.member_loggers[k] if self.member_loggers else None
            if logger is not None and names:             # as the single run logs its flush
                logger.log_metrics({f"train/{n}": v for n, v in row.items() if n != "iteration"},
                                   step=self.iteration)
            if packed[-1][k] >= 0:
                self.diverged_at[k], self.member_steps[k] = int(packed[-1][k]), self.iteration
        if all(d is not None for d in self.diverged_at) and self.trainer is not None:
            self.trainer.should_stop = True

    def live_members(self) -> list[int]:
        """The members still training, and those recorded diverged at this very iteration (their history ends
        with this iteration's row, where their single run's in-training callbacks act last)."""
        return [k for k in range(self.size) if self.diverged_at[k] is None or self.member_steps[k] == self.iteration]

    def finished(self) -> bool:
        """The budget is reached or every member diverged (nothing left to train)."""
        return self.iteration >= self.cfg.iterations or all(d is not None for d in self.diverged_at)

    # ------------------------------------------------------------------------------- checkpointing
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """What the stacked tensors (``state_dict``), the stacked optimisers (Lightning's ``optimizer_states``)
        and the loader position (:class:`benchmark.train.checkpoint.RunCheckpoint`) do not hold: the counters,
        every member's history, divergence and noise generator states, what was tracked since the last flush
        and the template's D/G schedule position. Tensors and plain values only (``weights_only`` loading)."""
        t = self.template
        checkpoint["ganbench"] = {
            "population": {"seeds": list(self.seeds), "size": self.size},
            "iteration": self.iteration, "histories": self.histories, "diverged_at": list(self.diverged_at),
            "member_steps": list(self.member_steps),
            "generators": {key: [g.get_state() for g in gens] for key, gens in self._generators.items()},
            "pending": {n: [v.cpu() for v in vs] for n, vs in self._pending.items()},
            "schedule": t.critic_schedule.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("ganbench", {})
        seeds = state.get("population", {}).get("seeds")
        if seeds is not None and list(seeds) != self.seeds:
            raise ConfigError(f"this checkpoint holds a population of seeds {list(seeds)}, not {self.seeds}")
        self.iteration = int(state.get("iteration", 0))
        self.histories = [list(h) for h in state.get("histories", [[] for _ in self.seeds])]
        self.diverged_at = list(state.get("diverged_at", [None] * self.size))
        self.member_steps = list(state.get("member_steps", [None] * self.size))
        self._generators = {}
        self._generator_states = {key: list(v) for key, v in state.get("generators", {}).items()}
        self._pending = {n: [v.to(self.device) for v in vs] for n, vs in state.get("pending", {}).items()}
        self.template.critic_schedule.load_state_dict(state.get("schedule", {}))

    def member(self, k: int) -> GANModule:
        """Member ``k`` as a stand-alone module of its variant (its weights and buffers; eval, sampling)."""
        m = self.variant_cls(data_shape=self.template.data_shape, num_classes=self.template.num_classes,
                             data_kind=self.template.data_kind, **_asdict(self.cfgs[k]))
        state = {n: p.detach()[k] for n, p in zip(self.param_names, self.stacked)}
        state.update({n: b[k] for n, b in self.member_buffers().items()})
        m.load_state_dict(state)
        m.iteration = self.member_steps[k] if self.member_steps[k] is not None else self.iteration
        m.history, m.diverged_at = self.histories[k], self.diverged_at[k]
        return m.to(self.device)


def _asdict(cfg: GANConfig) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)


def population_size_for(device: torch.device | str, runs: int) -> int:
    """``auto`` population size: up to 64 runs at once on an accelerator (launch-bound small models; not
    measured here, no GPU), up to 16 on a CPU (the toy MLP's best measured size on the 2-core development
    machine, ``benchmark perf --only-population``: 1.76× at 16, 1.82× at 32 with a wider spread)."""
    kind = torch.device(device).type
    cap = 64 if kind != "cpu" else 16
    return max(1, min(runs, cap))
