"""Weights & Biases through Lightning's ``WandbLogger``: offline without a key, never prompting or hanging."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SECRET_ENV = ("WANDB_API_KEY",)


def wandb_mode(requested: str = "auto") -> str:
    """``online`` / ``offline`` / ``disabled``: ``WANDB_MODE`` wins, then ``requested``; ``auto`` is online only
    when ``WANDB_API_KEY`` is set."""
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("disabled", "offline", "online"):
        return env
    if env == "dryrun":
        return "offline"
    if requested != "auto":
        return requested
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_key_available() -> bool:
    """An API key in ``WANDB_API_KEY`` or a ``wandb login`` entry in ``~/.netrc`` (what online mode needs)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
        auth = netrc.netrc(path).authenticators(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
                                                .split("://")[-1].split("/")[0])
        return bool(auth and auth[2])
    except Exception:
        return False


def make_logger(run_id: str, config: dict, *, requested: str = "auto", project: str = "ganbench", group: str = "",
                tags: list[str] | None = None, save_dir: str | os.PathLike = ".") -> Any | None:
    """A ``WandbLogger`` for one run, or ``None`` when W&B is disabled."""
    mode = wandb_mode(requested)
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    Path(save_dir).mkdir(parents=True, exist_ok=True)
    settings = wandb.Settings(console="off", silent=True, x_disable_stats=True, init_timeout=60)
    return WandbLogger(name=run_id, id=run_id, project=project, group=group or None, tags=tags, mode=mode,
                       save_dir=str(save_dir), config=config, settings=settings, reinit="create_new",
                       resume="allow")


def log_final(logger: Any, metrics: dict[str, Any], sample_png: str | None, status: str) -> None:
    """Final metrics into the run summary and the sample plot as an image (PNG: no float->uint8 truncation)."""
    if logger is None:
        return
    import wandb

    run = logger.experiment
    for k, v in metrics.items():
        if v is not None:
            run.summary[f"final/{k}"] = v
    run.summary["status"] = status
    if sample_png:
        run.log({"samples": wandb.Image(sample_png)})


def finish(logger: Any) -> None:
    if logger is None:
        return
    try:
        logger.experiment.finish()
    except Exception as e:      # a tracking failure must never lose the run's results
        print(f"warning: W&B finish failed: {e}")
