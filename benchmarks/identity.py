"""Check that two versions of skgmvae fit bitwise identical models.

A refactoring must not change what a seed gives. This script fits a fixed set
of cases through the public API only (``fit``, ``warm_start``,
``partial_fit``, on digits with every ``init_params`` with and without the
neighbour terms, a few other settings, and optionally 10,000 MNIST rows with
the defaults) and records, per case, a SHA-256 digest of ``labels_``,
``predict_proba``, ``transform`` and ``loss_curve_``, and ``lower_bound_``
exactly.

Compare the working tree with a commit (its ``skgmvae/`` is extracted to a
temporary folder and imported from there)::

    python benchmarks/identity.py --ref HEAD
    python benchmarks/identity.py --ref 25ae58f --mnist --jobs 2

or write the fingerprints of the importable skgmvae to a file, and compare
two such files::

    python benchmarks/identity.py --fingerprint before.json
    python benchmarks/identity.py --compare before.json after.json

Both versions run in their own process with the same thread count
(``--threads``, default 1): float32 sums may differ in the last bit between
thread counts, so only runs made the same way are compared. The exit code is
1 when any case differs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SMALL = {"pretrain_iter": 10, "max_iter": 10, "random_state": 0}
PLAIN = {"neighbor_weight": 0.0, "balance_weight": 0.0}


def digits_cases() -> list[tuple[str, str, dict, str]]:
    """(name, data set, parameters, mode) of every digits case."""
    cases = []
    for init in ("graph", "gmm", "spectral", "random"):
        for terms, extra in (("neighbors", {}), ("plain", PLAIN)):
            params = {**SMALL, "init_params": init, **extra}
            for mode in ("fit", "warm_start", "partial_fit"):
                cases.append((f"digits-{init}-{terms}-{mode}", "digits", params, mode))
    others = {
        "n_init2-gmm": {**SMALL, "init_params": "gmm", "n_init": 2},
        "marginal": {**SMALL, "init_params": "gmm", "categorical": "marginal"},
        "hard": {**SMALL, "hard_gumbel": True},
        "unconditional-marginal": {
            **SMALL,
            "categorical": "marginal",
            "conditional_encoder": False,
            "init_params": "gmm",
        },
        "bfloat16": {**SMALL, "precision": "bfloat16"},
        "defaults": {"random_state": 0},
    }
    cases += [(f"digits-{name}", "digits", p, "fit") for name, p in others.items()]
    cases.append(("iris-defaults", "iris", {"random_state": 0}, "fit"))
    cases.append(("iris-gmm", "iris", {**SMALL, "init_params": "gmm"}, "fit"))
    return cases


def mnist_cases() -> list[tuple[str, str, dict, str]]:
    return [("mnist10k-defaults", "mnist10k", {"random_state": 0}, "fit")]


def load(name: str) -> np.ndarray:
    from sklearn.datasets import load_digits, load_iris
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        return load_digits().data / 16.0
    if name == "iris":
        return StandardScaler().fit_transform(load_iris().data)
    from skgmvae.datasets import load_dataset

    shared = REPO.parent / "shared" / "data"
    data_dir = os.environ.get("SKGMVAE_DATA") or (shared if shared.is_dir() else None)
    X, _ = load_dataset("mnist", data_dir=data_dir)
    return X[:10_000]


def digest(array) -> str:
    array = np.ascontiguousarray(np.asarray(array))
    return hashlib.sha256(array.tobytes() + str(array.dtype).encode()).hexdigest()


def fingerprint(model, X: np.ndarray) -> dict:
    return {
        "labels_": digest(model.labels_),
        "predict_proba": digest(model.predict_proba(X)),
        "transform": digest(model.transform(X)),
        "loss_curve_": digest(np.asarray(model.loss_curve_)),
        "lower_bound_": repr(float(model.lower_bound_)),
        "n_iter_": int(model.n_iter_),
    }


def run_case(dataset: str, params: dict, mode: str) -> dict:
    from skgmvae import GMVAEClustering

    X = load(dataset)
    model = GMVAEClustering(**params)
    if mode == "partial_fit":
        for chunk in np.array_split(X, 3):
            model.partial_fit(chunk)
    else:
        model.fit(X)
        if mode == "warm_start":
            model.set_params(warm_start=True, max_iter=3).fit(X)
    return fingerprint(model, X)


def fingerprints(cases, out: Path, threads: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    import skgmvae

    torch.set_num_threads(threads)
    result = {"skgmvae_file": skgmvae.__file__, "cases": {}}
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, dataset, params, mode in cases:
            tic = time.perf_counter()
            result["cases"][name] = run_case(dataset, params, mode)
            print(f"{name}: {time.perf_counter() - tic:.1f} s", flush=True)
    out.write_text(json.dumps(result, indent=1))


def extract(ref: str, folder: Path) -> None:
    """Write the ``skgmvae/`` package of commit ``ref`` into ``folder``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "skgmvae"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def fingerprint_in_subprocess(
    package_root: Path, out: Path, args: argparse.Namespace
) -> None:
    command = [sys.executable, __file__, "--fingerprint", str(out)]
    command += ["--threads", str(args.threads)] + (["--mnist"] if args.mnist else [])
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    env["OMP_NUM_THREADS"] = str(args.threads)
    log = out.with_suffix(".log")
    with open(log, "w") as handle:
        subprocess.run(command, env=env, check=True, stdout=handle, stderr=handle)


def compare(ref: dict, new: dict) -> int:
    """Print each case's verdict; return the number of cases that differ."""
    n_diff = 0
    for name, expected in ref["cases"].items():
        got = new["cases"].get(name)
        differs = [key for key in expected if got is None or got[key] != expected[key]]
        n_diff += bool(differs)
        print(f"{'DIFFERS' if differs else 'same   '} {name} {' '.join(differs)}")
    return n_diff


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", help="commit to compare the working tree with")
    parser.add_argument("--fingerprint", type=Path, help="write fingerprints here")
    parser.add_argument("--compare", type=Path, nargs=2, help="two fingerprint files")
    parser.add_argument("--mnist", action="store_true", help="add MNIST 10k")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="versions run at once")
    args = parser.parse_args(argv)
    cases = digits_cases() + (mnist_cases() if args.mnist else [])
    if args.fingerprint:
        fingerprints(cases, args.fingerprint, args.threads)
        return 0
    if args.compare:
        ref, new = (json.loads(path.read_text()) for path in args.compare)
        n_diff = compare(ref, new)
        print(f"{n_diff} of {len(ref['cases'])} cases differ")
        return int(n_diff > 0)
    if not args.ref:
        parser.error("give --ref COMMIT, --fingerprint FILE or --compare A B")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        extract(args.ref, tmp / "ref")
        roots = {"ref": tmp / "ref", "new": REPO}
        with ThreadPoolExecutor(args.jobs) as pool:
            list(
                pool.map(
                    lambda key: fingerprint_in_subprocess(
                        roots[key], tmp / f"{key}.json", args
                    ),
                    roots,
                )
            )
        ref, new = (json.loads((tmp / f"{k}.json").read_text()) for k in roots)
        for key, data in (("ref", ref), ("new", new)):
            print(f"{key}: {data['skgmvae_file']}")
        n_diff = compare(ref, new)
    print(f"{n_diff} of {len(ref['cases'])} cases differ")
    return int(n_diff > 0)


if __name__ == "__main__":
    sys.exit(main())
