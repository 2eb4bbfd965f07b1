"""Training and prediction speed of GMVAEClustering against the hardware's peak.

Measures, in one process:

- the matrix-multiply peak: a 1024x784 by 784x512 product in float32 and in
  bfloat16 (best of several repetitions);
- training epochs of the reference GMVAE architecture (two encoder trunks
  and a decoder of 2 x 512 ReLU layers, latent 64) on MNIST-70k: seconds per
  epoch, samples per second, achieved GFLOP/s and its ratio to the peak,
  in float32 and in bfloat16 mixed precision;
- predict_proba and transform seconds per 10,000 samples;
- how the epoch time grows with n_samples (10k, 20k, 40k, 70k);
- peak resident memory of the process.

The FLOP count is the nominal one: for every dense layer, 2 * inputs *
outputs per sample forward, times 3 for forward plus backward.

Run ``python benchmarks/speed.py --help`` for options; results are printed
as Markdown and saved as JSON next to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skgmvae import GMVAEClustering
from skgmvae.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = {"hidden_layer_sizes": (512, 512), "latent_dim": 64}


def matmul_gflops(dtype: torch.dtype, device: str, repeats: int = 30) -> float:
    """Best GFLOP/s of a 1024x784 by 784x512 product over ``repeats`` runs."""
    a = torch.randn(1024, 784, device=device).to(dtype)
    b = torch.randn(784, 512, device=device).to(dtype)
    flops = 2 * 1024 * 784 * 512
    best = float("inf")
    for _ in range(5):
        a @ b
    for _ in range(repeats):
        _sync(device)
        tic = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - tic)
    return flops / best / 1e9


def training_flops_per_sample(model: GMVAEClustering) -> float:
    """Nominal forward + backward FLOPs of one training sample.

    Counts every dense layer once (the Gumbel-Softmax path), plus the second
    pass of the cluster encoder over a neighbour when the neighbour term is
    on. The exact marginalisation (``categorical="marginal"``) would cost
    more than this count says.
    """
    module = model.module_

    def macs(part: torch.nn.Module) -> int:
        return sum(
            layer.in_features * layer.out_features
            for layer in part.modules()
            if isinstance(layer, torch.nn.Linear)
        )

    total = macs(module)
    if module.qz_input_y is not None:
        total += module.qz_input_y.numel()  # y @ W_y of q(z | x, y)'s first layer
    if model.neighbor_weight > 0 or model.balance_weight > 0:
        total += macs(module.qy_trunk) + macs(module.qy_head)
    return 3 * 2 * total


def time_training(
    X: np.ndarray, *, precision: str, epochs: int, device: str, seed: int
) -> dict:
    """Fit the reference architecture; per-epoch figures from the ELBO epochs."""
    model = GMVAEClustering(
        **ARCHITECTURE,
        pretrain_iter=1,
        max_iter=epochs,
        precision=precision,
        device=device,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X)
    seconds = [record["seconds"] for record in model.history_]
    epoch_seconds = float(np.median(seconds[1:] if len(seconds) > 1 else seconds))
    flops = training_flops_per_sample(model) * X.shape[0]
    return {
        "precision": precision,
        "n_samples": X.shape[0],
        "batch_size": model._batch_size(X.shape[0]),
        "epoch_seconds": epoch_seconds,
        "samples_per_second": X.shape[0] / epoch_seconds,
        "gflops": flops / epoch_seconds / 1e9,
        "mflop_per_sample": training_flops_per_sample(model) / 1e6,
        "model": model,
    }


def time_prediction(model: GMVAEClustering, X: np.ndarray) -> dict:
    out = {}
    for name in ("predict_proba", "transform"):
        method = getattr(model, name)
        method(X[:1000])
        tic = time.perf_counter()
        method(X)
        out[f"{name}_seconds_per_10k"] = (time.perf_counter() - tic) / len(X) * 1e4
    return out


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def environment(device: str) -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="'cpu', 'cuda', ...")
    parser.add_argument("--epochs", type=int, default=3, help="ELBO epochs timed")
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument(
        "--scaling", nargs="*", type=int, default=[10_000, 20_000, 40_000, 70_000]
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data_dir = args.data_dir or os.environ.get("SKGMVAE_DATA")
    if data_dir is None and (REPO.parent / "shared" / "data").is_dir():
        data_dir = str(REPO.parent / "shared" / "data")
    X, _ = load_dataset("mnist", data_dir=data_dir)
    env = environment(args.device)
    print(f"# Speed on {env['cpu']} ({env['torch_threads']} torch threads)", flush=True)

    peaks = {
        "float32": matmul_gflops(torch.float32, args.device),
        "bfloat16": matmul_gflops(torch.bfloat16, args.device),
    }
    print(
        f"matmul 1024x784 @ 784x512: float32 {peaks['float32']:.1f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.1f} GFLOP/s",
        flush=True,
    )

    rows = []
    model = None
    for precision in args.precisions:
        result = time_training(
            X,
            precision=precision,
            epochs=args.epochs,
            device=args.device,
            seed=args.seed,
        )
        model = result.pop("model")
        result["peak_fraction_of_float32_matmul"] = result["gflops"] / peaks["float32"]
        result.update(time_prediction(model, X))
        rows.append(result)
        print(
            f"{precision}: {result['epoch_seconds']:.2f} s/epoch, "
            f"{result['samples_per_second']:.0f} samples/s, "
            f"{result['gflops']:.1f} GFLOP/s = "
            f"{result['peak_fraction_of_float32_matmul']:.2f} of the float32 peak",
            flush=True,
        )

    scaling = []
    for n in args.scaling:
        result = time_training(
            X[:n], precision="float32", epochs=2, device=args.device, seed=args.seed
        )
        result.pop("model")
        scaling.append({"n_samples": n, "epoch_seconds": result["epoch_seconds"]})
        print(f"n={n}: {result['epoch_seconds']:.2f} s/epoch", flush=True)

    report = {
        "environment": env,
        "matmul_gflops": peaks,
        "training": rows,
        "scaling": scaling,
        "peak_rss_mib": peak_rss_mib(),
    }
    table = _markdown(report)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"speed-{stamp}.json").write_text(json.dumps(report, indent=2))
    (out / f"speed-{stamp}.md").write_text(table)
    return 0


def _markdown(report: dict) -> str:
    peak = report["matmul_gflops"]
    lines = [
        f"float32 matmul peak {peak['float32']:.1f} GFLOP/s, "
        f"bfloat16 {peak['bfloat16']:.1f} GFLOP/s",
        "",
        "| precision | batch | s/epoch (70k) | samples/s | GFLOP/s | of fp32 peak "
        "| predict_proba s/10k | transform s/10k |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["training"]:
        lines.append(
            f"| {r['precision']} | {r['batch_size']} | {r['epoch_seconds']:.2f} "
            f"| {r['samples_per_second']:.0f} | {r['gflops']:.1f} "
            f"| {r['peak_fraction_of_float32_matmul']:.2f} "
            f"| {r['predict_proba_seconds_per_10k']:.3f} "
            f"| {r['transform_seconds_per_10k']:.3f} |"
        )
    lines += ["", "| n_samples | s/epoch | s per 10k samples |", "| --- | --- | --- |"]
    for r in report["scaling"]:
        lines.append(
            f"| {r['n_samples']} | {r['epoch_seconds']:.2f} "
            f"| {r['epoch_seconds'] / r['n_samples'] * 1e4:.3f} |"
        )
    lines += ["", f"Peak resident memory: {report['peak_rss_mib']:.0f} MiB", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
