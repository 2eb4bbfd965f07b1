"""skgmvae: scikit-learn compatible deep clustering with a Gaussian Mixture VAE."""

from skgmvae._classifier import GMVAEClassifier
from skgmvae._clustering import GMVAEClustering
from skgmvae._determinism import request_strict_mkl

# Before torch multiplies any matrix in this process: MKL can only be put in
# its thread-count-independent mode then (see skgmvae._determinism).
request_strict_mkl()

__version__ = "0.1.0"
__all__ = ["GMVAEClassifier", "GMVAEClustering", "__version__"]
