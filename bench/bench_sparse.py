"""Speed and memory of LongBERT's sparse attention against dense attention and HF Longformer.

For each (model, length) a fresh subprocess builds the model, runs one warm-up pass and
``--repeats`` timed passes (batch 1, ``torch.inference_mode``, random token ids), and reports
seconds per document (median and fastest wall clock, median CPU seconds) and peak resident
memory above the level right after the model was built (Linux: VmHWM after resetting it
through /proc/self/clear_refs; elsewhere ``ru_maxrss``, which can only over-report).
Models, all 6 layers x 384 hidden x 12 heads:

* ``sparse`` — LongBertModel warm-started from the packaged BERT, sparse mode, window 256
  each side, [CLS] global;
* ``dense`` — the same model, full attention (positions tiled as far as needed);
* ``longformer`` — ``transformers.LongformerModel``, random init, ``attention_window=512``
  (HF counts both sides: 256 each side), [CLS] global.

Usage: ``python bench/bench_sparse.py [--lengths 1024 4096] [--repeats 3]
[--skip-dense-above 8192] [--models sparse dense longformer] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 256  # one side
MODELS = ("sparse", "dense", "longformer")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_kib(resettable: bool) -> int:
    if resettable:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _current_kib() -> int:
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _build(model_name: str, length: int) -> tuple[torch.nn.Module, dict[str, object]]:
    """The model and the keyword arguments of one forward pass."""
    ids = torch.randint(1000, 30000, (1, length))
    ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    global_mask = torch.zeros_like(ids)
    global_mask[0, 0] = 1
    if model_name == "longformer":
        from transformers import LongformerConfig, LongformerModel

        config = LongformerConfig(
            vocab_size=30522,
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            attention_window=2 * WINDOW,
            max_position_embeddings=max(length, 512) + 2,  # RoBERTa-style offset of 2
        )
        model = LongformerModel(config).eval()
        return model, {"input_ids": ids, "global_attention_mask": global_mask}
    sys.path.insert(0, str(ROOT))
    from longbert.modeling.long_bert import LongBertModel

    model = LongBertModel.from_bert(None, max_positions=max(length, 512)).eval()
    kwargs: dict[str, object] = {"input_ids": ids, "sparse": model_name == "sparse"}
    if model_name == "sparse":
        kwargs.update(global_attention_mask=global_mask, attention_window=WINDOW)
    return model, kwargs


def worker(model_name: str, length: int, repeats: int) -> dict[str, object]:
    """Run in the subprocess: time ``repeats`` passes after a warm-up, measure peak memory."""
    torch.manual_seed(0)
    model, kwargs = _build(model_name, length)
    baseline = _current_kib()
    resettable = _reset_peak()
    times, cpu_times = [], []
    with torch.inference_mode():
        model(**kwargs)  # warm-up: allocator pools, kernel selection
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            model(**kwargs)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = _peak_kib(resettable)
    return {
        "model": model_name,
        "length": length,
        "seconds": times,
        "cpu_seconds": cpu_times,
        "peak_mib": max(peak - baseline, 0) / 1024,
    }


def run_isolated(model_name: str, length: int, repeats: int, threads: int | None) -> dict[str, object]:
    """One (model, length) measurement in a fresh interpreter, so memory figures are honest."""
    command = [sys.executable, __file__, "--worker", model_name, str(length), str(repeats)]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{model_name} @ {length} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-dense-above", type=int, default=8192)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per run (default: torch's choice, all cores)"
    )
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "LENGTH", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        name, length, repeats = args.worker
        print(json.dumps(worker(name, int(length), int(repeats))))
        return

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, "
        f"inference_mode, {args.repeats} timed runs after 1 warm-up, load average "
        f"{os.getloadavg()[0]:.1f} at start\n"
    )
    print(
        f"{'model':<11}{'tokens':>8}{'median s':>10}{'min s':>9}{'cpu s':>9}{'peak MiB':>10}"
        f"{'MiB/1k tok':>12}"
    )
    best: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    # Models interleaved per length, so each ratio compares runs made under similar load.
    for length in args.lengths:
        for name in args.models:
            if name == "dense" and length > args.skip_dense_above:
                print(f"{name:<11}{length:>8}   skipped (--skip-dense-above {args.skip_dense_above})")
                continue
            row = run_isolated(name, length, args.repeats, args.threads)
            seconds: list[float] = row["seconds"]  # type: ignore[assignment]
            best[name, length] = min(seconds)
            cpu[name, length] = statistics.median(row["cpu_seconds"])  # type: ignore[arg-type]
            peak = float(row["peak_mib"])  # type: ignore[arg-type]
            print(
                f"{name:<11}{length:>8}{statistics.median(seconds):>10.3f}{min(seconds):>9.3f}"
                f"{cpu[name, length]:>9.3f}{peak:>10.0f}{peak / (length / 1024):>12.1f}",
                flush=True,
            )

    print(
        "\nmedian/min s: wall-clock seconds per document; cpu s: median CPU seconds of the "
        "process (all threads).\nRatios from the fastest wall-clock run (the least disturbed "
        "by other load), CPU-second ratio in brackets."
    )
    ratios = [
        ("sparse 8192 / sparse 4096 (target <= 2.2)", ("sparse", 8192), ("sparse", 4096)),
        ("longformer 4096 / sparse 4096 (target >= 2)", ("longformer", 4096), ("sparse", 4096)),
        ("dense 4096 / sparse 4096 (target > 1)", ("dense", 4096), ("sparse", 4096)),
    ]
    for label, top, bottom in ratios:
        if top in best and bottom in best:
            print(f"{label}: {best[top] / best[bottom]:.2f} ({cpu[top] / cpu[bottom]:.2f})")


if __name__ == "__main__":
    main()
