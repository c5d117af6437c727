import os

# tests never talk to W&B unless a test opts in (offline, in its own directory)
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
