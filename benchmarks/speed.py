"""Training and prediction speed of GMVAEClustering against the hardware's peak.

Measures, in one process:

- the matrix-multiply peak: back-to-back 1024x784 by 784x512 products in
  float32 and in bfloat16, timed in groups over about a second, best group;
  measured at the start (the 1024-row line of the table by rows below)
  and after every training run, and the highest float32 figure of the
  whole process is the peak that the ratios use (the machine's speed
  drifts between runs; the highest figure gives the lowest ratio);
- the same product with 256, 512 and 1024 rows in both precisions, the
  shapes that training multiplies;
- training epochs of the reference GMVAE architecture (two encoder trunks
  and a decoder of 2 x 512 ReLU layers, latent 64) on MNIST-70k: seconds per
  epoch, samples per second, achieved GFLOP/s and its ratio to the peak,
  in float32 and in bfloat16 mixed precision;
- predict_proba and transform seconds per 10,000 samples;
- how the epoch time grows with n_samples (10k, 20k, 40k, 70k);
- peak resident memory of the process.

The FLOP count is the nominal one: for every dense layer, 2 * inputs *
outputs per sample forward, times 3 for forward plus backward. It includes
the second pass of the cluster encoder over a neighbour that the default
neighbour term makes; ``elbo_gflops`` counts the ELBO's layers alone, the
work of the reference GMVAE.

Run ``python benchmarks/speed.py --help`` for options; results are printed
as Markdown and saved as JSON next to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, str(HERE))

import bench_env
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skgmvae import GMVAEClustering
from skgmvae.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = {"hidden_layer_sizes": (512, 512), "latent_dim": 64}


def matmul_gflops(
    dtype: torch.dtype,
    device: str,
    rows: int = 1024,
    seconds: float = 1.0,
    group: int = 8,
) -> float:
    """Sustained GFLOP/s of ``rows``x784 by 784x512 products.

    Groups of ``group`` back-to-back products are timed for about
    ``seconds``; the best group counts. A single product is too short to
    time reliably, and a group measures the rate that a training loop's
    consecutive products can reach.
    """
    a = torch.randn(rows, 784, device=device).to(dtype)
    b = torch.randn(784, 512, device=device).to(dtype)
    flops = 2 * rows * 784 * 512 * group
    for _ in range(group):
        a @ b
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        _sync(device)
        tic = time.perf_counter()
        for _ in range(group):
            a @ b
        _sync(device)
        best = max(best, flops / (time.perf_counter() - tic) / 1e9)
    return best


class PeakTracker:
    """Matrix-multiply peaks measured through the run; the highest counts."""

    def __init__(self, device: str, seconds: float = 1.0) -> None:
        self.device = device
        self.seconds = seconds
        self.measurements: dict[str, list[float]] = {"float32": [], "bfloat16": []}

    def measure(self, label: str) -> None:
        float32 = matmul_gflops(torch.float32, self.device, seconds=self.seconds)
        bfloat16 = matmul_gflops(torch.bfloat16, self.device, seconds=self.seconds)
        self.record(float32, bfloat16)
        print(
            f"matmul peak ({label}): float32 {float32:.1f}, "
            f"bfloat16 {bfloat16:.1f} GFLOP/s",
            flush=True,
        )

    def record(self, float32: float, bfloat16: float) -> None:
        """Add a measurement made elsewhere of the same product."""
        self.measurements["float32"].append(float32)
        self.measurements["bfloat16"].append(bfloat16)

    @property
    def peaks(self) -> dict[str, float]:
        return {name: max(values) for name, values in self.measurements.items()}


def matmul_by_rows(
    device: str, rows: tuple[int, ...] = (256, 512, 1024), seconds: float = 1.0
) -> list:
    """GFLOP/s of the 784x512 product for each row count, in both precisions."""
    table = []
    for n in rows:
        float32 = matmul_gflops(torch.float32, device, rows=n, seconds=seconds)
        bfloat16 = matmul_gflops(torch.bfloat16, device, rows=n, seconds=seconds)
        table.append({"rows": n, "float32": float32, "bfloat16": bfloat16})
    return table


def training_flops_per_sample(
    model: GMVAEClustering, *, neighbors: bool = True
) -> float:
    """Nominal forward + backward FLOPs of one training sample.

    Counts every dense layer once (the Gumbel-Softmax path), plus, with
    ``neighbors`` and the neighbour term on, the second pass of the cluster
    encoder over a neighbour. The exact marginalisation
    (``categorical="marginal"``) would cost more than this count says.
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
    if neighbors and (model.neighbor_weight > 0 or model.balance_weight > 0):
        total += macs(module.qy_trunk) + macs(module.qy_head)
    return 3 * 2 * total


def time_training(
    X: np.ndarray,
    *,
    precision: str,
    epochs: int,
    device: str,
    seed: int,
    batch_size: int | str = "auto",
) -> dict:
    """Fit the reference architecture; per-epoch figures from the ELBO epochs."""
    model = GMVAEClustering(
        **ARCHITECTURE,
        pretrain_iter=1,
        max_iter=epochs,
        precision=precision,
        batch_size=batch_size,
        device=device,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X)
    seconds = [record["seconds"] for record in model.history_]
    epoch_seconds = float(np.median(seconds[1:] if len(seconds) > 1 else seconds))
    flops = training_flops_per_sample(model)
    elbo_flops = training_flops_per_sample(model, neighbors=False)
    return {
        "precision": precision,
        "n_samples": X.shape[0],
        "batch_size": model.batch_size_,
        "epoch_seconds": epoch_seconds,
        "epoch_seconds_all": seconds,
        "samples_per_second": X.shape[0] / epoch_seconds,
        "gflops": flops * X.shape[0] / epoch_seconds / 1e9,
        "elbo_gflops": elbo_flops * X.shape[0] / epoch_seconds / 1e9,
        "mflop_per_sample": flops / 1e6,
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


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="'cpu', 'cuda', ...")
    parser.add_argument("--dataset", default="mnist", help="a load_dataset name")
    parser.add_argument("--epochs", type=int, default=3, help="ELBO epochs timed")
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument(
        "--batch-size",
        default="auto",
        type=lambda v: v if v == "auto" else int(v),
        help="batch_size of GMVAEClustering (default: its own 'auto')",
    )
    parser.add_argument(
        "--scaling", nargs="*", type=int, default=[10_000, 20_000, 40_000, 70_000]
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--peak-seconds",
        type=float,
        default=1.0,
        help="seconds of each matrix-multiply measurement",
    )
    args = parser.parse_args(argv)

    data_dir = args.data_dir or os.environ.get("SKGMVAE_DATA")
    if data_dir is None and (REPO.parent / "shared" / "data").is_dir():
        data_dir = str(REPO.parent / "shared" / "data")
    X, _ = load_dataset(args.dataset, data_dir=data_dir)
    env = bench_env.environment_info(bench_env.command_line("speed.py", argv))
    cpu, threads = env["cpu_model"], env["torch_threads"]
    print(f"# Speed on {cpu} ({threads} torch threads)", flush=True)

    tracker = PeakTracker(args.device, args.peak_seconds)
    by_rows = matmul_by_rows(args.device, seconds=args.peak_seconds)
    for row in by_rows:
        if row["rows"] == 1024:  # the peak's own shape: the first measurement
            tracker.record(row["float32"], row["bfloat16"])
        print(
            f"matmul {row['rows']}x784 @ 784x512: float32 {row['float32']:.1f}, "
            f"bfloat16 {row['bfloat16']:.1f} GFLOP/s",
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
            batch_size=args.batch_size,
        )
        model = result.pop("model")
        tracker.measure(f"after {precision} training")
        result.update(time_prediction(model, X))
        rows.append(result)
        print(
            f"{precision}: {result['epoch_seconds']:.2f} s/epoch "
            f"(epochs {', '.join(f'{s:.2f}' for s in result['epoch_seconds_all'])}), "
            f"{result['samples_per_second']:.0f} samples/s, "
            f"{result['gflops']:.1f} GFLOP/s",
            flush=True,
        )

    # One batch size for every n (that of the whole data set unless given),
    # so that the table shows the cost of more samples alone.
    scaling_batch = rows[0]["batch_size"] if rows else args.batch_size
    scaling = []
    for n in args.scaling:
        if n > X.shape[0]:
            print(f"n={n}: skipped, the data set has {X.shape[0]} samples")
            continue
        result = time_training(
            X[:n],
            precision="float32",
            epochs=2,
            device=args.device,
            seed=args.seed,
            batch_size=scaling_batch,
        )
        result.pop("model")
        scaling.append(
            {
                "n_samples": n,
                "batch_size": result["batch_size"],
                "epoch_seconds": result["epoch_seconds"],
            }
        )
        print(f"n={n}: {result['epoch_seconds']:.2f} s/epoch", flush=True)

    peaks = tracker.peaks
    for result in rows:
        result["peak_fraction_of_float32_matmul"] = result["gflops"] / peaks["float32"]
    report = {
        "environment": env,
        "device": args.device,
        "dataset": args.dataset,
        "matmul_gflops": peaks,
        "matmul_measurements": tracker.measurements,
        "matmul_by_rows": by_rows,
        "training": rows,
        "scaling": scaling,
        "peak_rss_mib": bench_env.peak_rss_bytes() / bench_env.MIB,
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
    measured = report["matmul_measurements"]["float32"]
    lines = [
        "# Training speed",
        "",
        *bench_env.environment_markdown(report["environment"]),
        f"- Device: {report['device']}",
        "",
        f"float32 matmul peak {peak['float32']:.1f} GFLOP/s (highest of "
        f"{', '.join(f'{v:.1f}' for v in measured)}), "
        f"bfloat16 {peak['bfloat16']:.1f} GFLOP/s",
        "",
        "| rows | float32 GFLOP/s | bfloat16 GFLOP/s | bfloat16 / float32 |",
        "| --- | --- | --- | --- |",
    ]
    for r in report["matmul_by_rows"]:
        lines.append(
            f"| {r['rows']} | {r['float32']:.1f} | {r['bfloat16']:.1f} "
            f"| {r['bfloat16'] / r['float32']:.2f} |"
        )
    lines += [
        "",
        f"| precision | batch | s/epoch ({report['dataset']}) | samples/s | GFLOP/s "
        "| of fp32 peak | ELBO-only GFLOP/s | predict_proba s/10k "
        "| transform s/10k |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["training"]:
        lines.append(
            f"| {r['precision']} | {r['batch_size']} | {r['epoch_seconds']:.2f} "
            f"| {r['samples_per_second']:.0f} | {r['gflops']:.1f} "
            f"| {r['peak_fraction_of_float32_matmul']:.2f} "
            f"| {r['elbo_gflops']:.1f} "
            f"| {r['predict_proba_seconds_per_10k']:.3f} "
            f"| {r['transform_seconds_per_10k']:.3f} |"
        )
    lines += [
        "",
        "| n_samples | batch | s/epoch | s per 10k samples |",
        "| --- | --- | --- | --- |",
    ]
    for r in report["scaling"]:
        lines.append(
            f"| {r['n_samples']} | {r['batch_size']} | {r['epoch_seconds']:.2f} "
            f"| {r['epoch_seconds'] / r['n_samples'] * 1e4:.3f} |"
        )
    lines += ["", f"Peak resident memory: {report['peak_rss_mib']:.0f} MiB", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
