"""skgmvae: scikit-learn compatible deep clustering with a Gaussian Mixture VAE."""

from skgmvae._estimator import GMVAEClustering

__version__ = "0.1.0"
__all__ = ["GMVAEClustering", "__version__"]
