"""GANBench: train every classic GAN objective on shared data and score them under one protocol."""
__version__ = "0.1.0"
