"""Out-of-core training: partial_fit over chunks of a uint8 memmap on disk.

Writes ``--n-samples`` synthetic 28x28 uint8 "images" (ten noisy prototype
patterns, 784 bytes each: 784 MB for the default million) to a file in
blocks, then trains ``GMVAEClustering`` with ``partial_fit`` on chunks of
``--chunk-rows`` rows. Each chunk is mapped with its own ``numpy.memmap``,
converted to float32 in [0, 1] and dropped before the next one, so the
process never holds more than a chunk of the data.

Reports the data size against the process's peak resident memory while
training (``resource.getrusage``'s ``ru_maxrss``), the peak after the first
chunk (start-up: torch, scikit-learn and the warm-up), the largest resident
anonymous and file-backed memory seen between chunks (``/proc/self/status``),
throughput, and the clustering accuracy of the streamed model on a held-out
slice. With ``--reader slice`` the chunks are slices of one memmap of the
whole file instead: the pages it has read stay mapped, so its resident
file-backed memory grows towards the file size, although the kernel can
reclaim them.

Run ``python benchmarks/stream.py --help`` for options; the summary is
printed and saved as JSON and Markdown under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, str(HERE))

import bench_env
import numpy as np
import torch

from skgmvae import GMVAEClustering
from skgmvae.metrics import cluster_accuracy

REPO = Path(__file__).resolve().parents[1]
N_FEATURES = 784
N_PATTERNS = 10
MB = 1e6


def write_images(path: Path, n_samples: int, seed: int, block: int = 10_000):
    """Write uint8 images and their labels; returns the labels (int8)."""
    rng = np.random.default_rng(seed)
    # Prototypes: random blobs of ink on a 28x28 canvas, one per cluster.
    patterns = (rng.uniform(size=(N_PATTERNS, N_FEATURES)) < 0.25) * 200
    labels = np.empty(n_samples, dtype=np.int8)
    with open(path, "wb") as f:
        for start in range(0, n_samples, block):
            rows = min(block, n_samples - start)
            y = rng.integers(0, N_PATTERNS, size=rows)
            noise = rng.integers(0, 56, size=(rows, N_FEATURES), dtype=np.int16)
            images = (patterns[y] + noise).astype(np.uint8)
            f.write(images.tobytes())
            labels[start : start + rows] = y
    return labels


def chunks(path: Path, n_samples: int, rows: int, reader: str) -> Iterator[np.ndarray]:
    """float32 chunks in [0, 1], converted one at a time."""
    whole = None
    if reader == "slice":
        whole = np.memmap(path, np.uint8, mode="r", shape=(n_samples, N_FEATURES))
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        if whole is not None:
            block = whole[start:stop]
        else:
            block = np.memmap(
                path,
                np.uint8,
                mode="r",
                offset=start * N_FEATURES,
                shape=(stop - start, N_FEATURES),
            )
        yield block.astype(np.float32) / np.float32(255.0)
        del block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--reader",
        choices=["per-chunk", "slice"],
        default="per-chunk",
        help="one memmap per chunk (default) or slices of one memmap",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64])
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data", default=None, help="where to write the file")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    folder = Path(args.data or tempfile.mkdtemp(prefix="skgmvae-stream-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"images-{args.n_samples}x{N_FEATURES}-uint8.bin"
    tic = time.perf_counter()
    labels = write_images(path, args.n_samples, args.seed)
    write_seconds = time.perf_counter() - tic
    data_mb = path.stat().st_size / MB
    print(f"wrote {data_mb:.0f} MB to {path} in {write_seconds:.1f} s")

    model = GMVAEClustering(
        n_clusters=N_PATTERNS,
        hidden_layer_sizes=tuple(args.hidden),
        latent_dim=args.latent_dim,
        batch_size=args.batch_size,
        pretrain_iter=2,
        device="cpu",
        random_state=args.seed,
    )
    largest = {"RssAnon": 0.0, "RssFile": 0.0}
    after_first = None
    tic = time.perf_counter()
    first_seconds = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, chunk in enumerate(
            chunks(path, args.n_samples, args.chunk_rows, args.reader)
        ):
            model.partial_fit(chunk)
            del chunk
            parts = bench_env.rss_parts_bytes()
            for key in largest:
                largest[key] = max(largest[key], parts.get(key, 0) / MB)
            if i == 0:
                first_seconds = time.perf_counter() - tic
                after_first = bench_env.peak_rss_bytes() / MB
    train_seconds = time.perf_counter() - tic
    peak_training = bench_env.peak_rss_bytes() / MB

    held_out = min(20_000, args.n_samples)
    test = next(chunks(path, held_out, held_out, "per-chunk"))
    accuracy = cluster_accuracy(labels[:held_out], model.predict(test))
    del test
    peak = bench_env.peak_rss_bytes() / MB
    if not args.keep_data:
        path.unlink()
        if args.data is None:
            folder.rmdir()

    summary = {
        "n_samples": args.n_samples,
        "n_features": N_FEATURES,
        "chunk_rows": args.chunk_rows,
        "reader": args.reader,
        "data_mb_uint8": round(data_mb, 1),
        "data_mb_float32": round(4 * data_mb, 1),
        "chunk_mb_float32": round(4 * args.chunk_rows * N_FEATURES / MB, 1),
        "peak_rss_mb_training": round(peak_training, 1),
        "peak_rss_mb_after_first_chunk": round(after_first, 1),
        "peak_rss_mb_with_evaluation": round(peak, 1),
        "largest_rss_anon_mb": round(largest["RssAnon"], 1),
        "largest_rss_file_mb": round(largest["RssFile"], 1),
        "n_chunks": model.n_iter_,
        "optimizer_steps": model.n_steps_,
        "first_chunk_seconds": round(first_seconds, 2),
        "train_seconds": round(train_seconds, 1),
        "samples_per_second": round(args.n_samples / train_seconds),
        "accuracy_held_out": round(float(accuracy), 4),
        "final_temperature": round(model.history_[-1]["temperature"], 4),
        "architecture": {"hidden": args.hidden, "latent_dim": args.latent_dim},
    }
    # torch threads, versions, CPU and platform: in the shared record.
    env = bench_env.environment_info(bench_env.command_line("stream.py", argv))
    markdown = _markdown(summary, env)
    out = Path(args.out) / time.strftime("stream-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    report = {**summary, "environment": env}
    (out / "stream.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "stream.md").write_text(markdown)
    print(markdown, end="")
    print(
        f"\n{args.n_samples:,} x {N_FEATURES} uint8 = {data_mb:.0f} MB on disk "
        f"({4 * data_mb:.0f} MB as float32); peak RSS while training "
        f"{peak_training:.0f} MB ({after_first:.0f} MB after the first chunk). "
        f"Saved in {out}"
    )
    return 0


def _markdown(summary: dict[str, Any], env: dict[str, Any]) -> str:
    """stream.md: the environment, then one table row per summary entry."""
    lines = [
        "# Out-of-core training with partial_fit",
        "",
        *bench_env.environment_markdown(env),
        "",
        "| quantity | value |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in summary.items()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
