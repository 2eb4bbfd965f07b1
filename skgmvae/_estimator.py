"""The module that defined ``GMVAEClustering`` before the estimators were
split into ``_base``, ``_clustering`` and ``_classifier``.

Kept so that models saved with it (whose pickles name this module) still
load; new code imports from :mod:`skgmvae`.
"""

from skgmvae._clustering import GMVAEClustering

__all__ = ["GMVAEClustering"]
