"""Every registered variant; importing this package fills ``models.registry.VARIANTS``."""
from . import minimax, nsgan  # noqa: F401
