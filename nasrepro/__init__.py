"""nasrepro: reproducibility and regression suite for neural-architecture-search papers."""

__version__ = "0.1.0"
