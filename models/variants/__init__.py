"""Every registered variant; importing this package fills ``models.registry.VARIANTS``."""
from . import minimax, nsgan  # noqa: F401
from . import lsgan, wgan, wgan_gp, hinge, cgan  # noqa: F401  classic objectives (this order: the report colours)
from . import ebgan, fgan, gmmn, mmdgan, ratio_matching  # noqa: F401  course objectives (seeds 000, 002)
from . import began, dragan, rpgan  # noqa: F401  Lucic et al.'s remaining rows and R3GAN's loss (issue 28)
