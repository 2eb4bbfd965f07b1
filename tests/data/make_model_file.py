"""Write the model file that tests/test_model_file.py loads.

Run from the repository root when the file format changes on purpose:
``python tests/data/make_model_file.py``. The model is small (one hidden
layer of 16 units) so the file stays a few tens of kilobytes.
"""

from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits

from skgmvae import GMVAEClustering, __version__

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.set_num_threads(1)
    X = load_digits().data[:300] / 16.0
    model = GMVAEClustering(
        n_clusters=4,
        hidden_layer_sizes=(16,),
        latent_dim=3,
        max_iter=3,
        pretrain_iter=2,
        random_state=0,
    ).fit(X)
    name = f"gmvae-{__version__}"
    joblib.dump(model, HERE / f"{name}.joblib")
    np.savez_compressed(
        HERE / f"{name}-expected.npz",
        labels=model.predict(X),
        proba=model.predict_proba(X),
        score_samples=model.score_samples(X),
    )


if __name__ == "__main__":
    main()
