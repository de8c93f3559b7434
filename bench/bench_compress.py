"""Accuracy of each compression method against its source, on a held-out split.

Usage::

    nice -n 10 .venv/bin/python bench/bench_compress.py [--methods early-exit distill] \
        [--cache /tmp/longbert-compress] [--max-accuracy-loss 0.5] [--distill-epochs 3]

Held-out split: hyperpartisan CV fold 1 (``--fold``) of ``bench_train.py`` (``official_train`` in 5
stratified folds, seed 0; fold 1's 129 articles are the test set). The source model is
head+tail (128 + 382 tokens), 3 epochs, batch 8, lr 5e-5, seed 42, bf16 autocast: the
``bench_train.py`` recipe, trained once with :func:`longbert.training.train` and cached under
``--cache`` (training takes ~6 minutes on an idle 2-core CPU). Its dev split is what training
carves from fold 1's training rows (10%, stratified, seed 42): the source never trained on it.

Each method then runs ``python -m longbert.compress``'s :func:`~longbert.compress.compress`
with ``--dev`` = the test set, so the manifest records accuracy before (the source as it runs
by default here) and after:

* ``early-exit`` distils its exits on fold 1's training texts and chooses its threshold on the
  source's dev split (``--calibration``: the largest threshold whose labels differ from the full
  model's on at most ``--max-accuracy-loss`` percent of it), so the test accuracy is not
  optimistic; the record holds the calibration curve and the test curve (accuracy, macro-F1,
  mean layers run per document, docs/s at every threshold of
  :data:`~longbert.compression.exit_calibration.GRID`).
  ``--calibration-held-out N`` instead holds N training texts out of the exits' distillation
  and calibrates on them unlabelled (the threshold whose labels differ from the full model's on
  at most the budget's share of them).
* ``distill`` trains the student (every other layer) on fold 1's training texts and the
  teacher's soft labels for ``--distill-epochs`` epochs, plus the unlabelled texts of
  ``--unlabelled`` (e.g. ``bbc_news/train:1000 20newsgroups/train:1000``: N texts of each
  ../shared/data file drawn at random, seed 0, news of another kind; 20newsgroups' headers are
  dropped; ``early-exit`` distils its exits on them too, beside the fold's training texts).
  ``--distill-hidden`` picks the hidden-state loss: ``cls`` (the final [CLS] vector; written
  to ``distill/``) or ``layers`` (TinyBERT's, every student layer against its teacher layer at
  every token; written to ``distill-layers/``).

``--strategy-param KEY=VALUE`` makes the compressed model read with a parameter of the source's
strategy replaced (``stride=510`` for a chunk source: windows without overlap), while its method
trains and calibrates too; ``--tag`` names its cache folder apart (``early-exit-TAG``).

Results are appended to bench/results/bench_compress.json (``--results``). ``--source`` compresses
a given checkpoint instead of training the recipe (chunk sources: ``bench_train.py --keep-models``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_train import piece_data
from common import DATA_DIR, PROJECT_ROOT, read_jsonl

from longbert.cli_common import add_strategy_param
from longbert.compress import compress
from longbert.compression import HIDDEN_TARGETS, METHODS

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_compress.json"
#: The recipe's seed: training carves its dev split with it.
SEED = 42


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows))
    return path


def source_dev_rows(train_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dev split training carves from ``train_rows`` (as ``train`` does without dev data)."""
    from longbert.data import from_records, split_train_dev

    dataset = from_records(train_rows, name="training records")
    _, dev = split_train_dev(dataset, 0.1, seed=SEED)
    return [{"text": e.text, "label": e.label} for e in dev.examples]


def source_model(cache: Path, given: Path | None, fold: int = 1) -> tuple[Path, Path, Path]:
    """The source checkpoint (``given``, else the cached recipe, trained when missing), the
    calibration file (its dev split) and the test file of ``fold`` (the recipe is fold 1's)."""
    from longbert.training import TrainConfig, train

    cache.mkdir(parents=True, exist_ok=True)
    if given is None and fold != 1:
        raise SystemExit(
            "--fold other than 1 needs --source: that fold's model (bench_train.py --keep-models)"
        )
    train_rows, dev_rows, test_rows = piece_data("cv", fold, 5)
    test_file = write_rows(cache / f"fold{fold}_test.jsonl", test_rows)
    calibration_file = write_rows(cache / f"fold{fold}_calibration.jsonl", source_dev_rows(train_rows))
    model = given or cache / "source"
    if given is None and not (model / "longbert.json").is_file():
        config = TrainConfig(
            name="compress-source-headtail-fold1",
            output_dir=str(model),
            strategy="truncate",
            strategy_params={"mode": "head+tail"},
            epochs=3,
            batch_size=8,
            learning_rate=5e-5,
            seed=SEED,
            record=False,
            threads=2,
            precision="bf16",
            patience=0,
            overwrite=True,
        )
        train(config, train_data=train_rows, dev_data=dev_rows, test_data=test_rows)
    return model, calibration_file, test_file


def exit_curve(folder: Path, test_file: Path) -> list[dict[str, float]]:
    """The early-exit model on the test set at every threshold of the calibration grid
    (0 = the full model): accuracy, macro-F1, mean layers run per document, docs/s."""
    from longbert import load_classifier
    from longbert.compression.exit_calibration import GRID, exit_logits, threshold_curve
    from longbert.evaluate import evaluate

    model = load_classifier(folder, precision="auto")  # as evaluate and the app run it
    rows = [json.loads(line) for line in test_file.read_text().splitlines()]
    logits = exit_logits(model, [r["text"] for r in rows])
    truth = np.asarray([model.labels.index(rows[i]["label"]) for i in logits.kept])
    points = threshold_curve(model, logits, truth, GRID)
    curve = []
    for point in points:
        model.early_exit.threshold = point.threshold
        report = evaluate(model, test_file)  # the real exit path: its speed, and its labels
        curve.append(
            {
                "threshold": point.threshold,
                "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"],
                "mean_layers": point.mean_layers,
                "docs_per_second": report["docs_per_second"],
            }
        )
        print(
            f"  threshold {point.threshold:<4g}: accuracy {100 * report['accuracy']:.2f}, "
            f"{point.mean_layers:.2f} layers/doc, {report['docs_per_second']:.1f} docs/s"
        )
    return curve


def agreement(source: Path, compressed: Path, test_file: Path) -> dict[str, float]:
    """How closely the compressed model follows its source on the test texts, over the texts
    both predicted (``agreement_docs``): the share given the same label (the same label set for
    multi-label models), and the mean absolute difference of the probability of the source's
    label. Less noisy than accuracy for telling compression methods apart (on 129 articles one
    article is 0.78 points of accuracy; a changed probability shows before a changed label)."""
    from longbert import Prediction, load_classifier

    texts = [row["text"] for row in read_jsonl(test_file)]
    runs = [
        load_classifier(f, precision="auto").predict(texts, attention="none") for f in (source, compressed)
    ]
    pairs = [
        (a, b) for a, b in zip(*runs, strict=True) if isinstance(a, Prediction) and isinstance(b, Prediction)
    ]
    if not pairs:
        return {"agreement_docs": 0}
    same = [sorted(a.labels) == sorted(b.labels) for a, b in pairs]
    gaps = [abs(a.probabilities[a.label] - b.probabilities[a.label]) for a, b in pairs]
    return {
        "agreement_docs": len(pairs),
        "label_agreement": sum(same) / len(pairs),
        "mean_probability_gap": sum(gaps) / len(pairs),
    }


def unlabelled_texts(specs: list[str], seed: int = 0) -> list[str]:
    """The texts of ``set/split:N`` specs: N rows of ../shared/data/set/split.jsonl.gz drawn at
    random (seeded; the files are sorted by label, so their first rows hold few topics), all
    rows without ``:N``; labels are not read."""
    import random

    texts: list[str] = []
    for spec in specs:
        name, _, count = spec.partition(":")
        path = DATA_DIR / f"{name}.jsonl.gz"
        if not path.exists():
            raise SystemExit(f"--unlabelled {spec}: {path} not found")
        if count and not count.isdigit():
            raise SystemExit(f"--unlabelled {spec}: N must be a whole number (set/split:N)")
        rows = list(read_jsonl(path))
        if count and int(count) < len(rows):
            rows = random.Random(seed).sample(rows, int(count))
        for row in rows:
            text = row["text"]
            if name.startswith("20newsgroups"):  # a message's body starts after its first blank line
                text = text.partition("\n\n")[2] or text
            if text.strip():
                texts.append(text)
    return texts


def run_method(method: str, args: argparse.Namespace, files: tuple[Path, Path, Path]) -> dict[str, Any]:
    model, calibration_file, test_file = files
    train_texts = [r["text"] for r in piece_data("cv", args.fold, 5)[0]]
    held_out: list[str] = []
    if not 0 <= args.calibration_held_out < len(train_texts):
        raise SystemExit(
            f"--calibration-held-out must be 0 or more and below the fold's {len(train_texts)} "
            "training texts."
        )
    if method == "early-exit" and args.calibration_held_out:
        # Unlabelled calibration on training texts the exits are not distilled on.
        order = np.random.default_rng(SEED).permutation(len(train_texts))
        held_out = [train_texts[i] for i in order[: args.calibration_held_out]]
        train_texts = [train_texts[i] for i in order[args.calibration_held_out :]]
    extra = args.unlabelled_texts if method in ("distill", "early-exit") else []
    folder_name = "distill-layers" if method == "distill" and args.distill_hidden == "layers" else method
    folder_name += f"-{args.tag}" if args.tag else ""
    started = time.perf_counter()
    folder, provenance = compress(
        model,
        method,
        f"source-{method}",
        dev=test_file,
        output_dir=args.cache / folder_name,  # a layer-wise student beside the [CLS]-only one
        overwrite=True,
        texts=train_texts + extra,
        calibration=calibration_file if method == "early-exit" and not held_out else None,
        calibration_texts=held_out or None,
        calibration_source=f"{len(held_out)} of fold {args.fold}'s training texts held out"
        if held_out
        else "",
        max_accuracy_loss=args.max_accuracy_loss,
        distill_epochs=args.distill_epochs,
        distill_hidden=args.distill_hidden,
        strategy_params=dict(args.strategy_param),
    )
    seconds = time.perf_counter() - started
    from longbert.checkpoints import read_manifest

    details = read_manifest(folder).metadata.get("compression", {})
    before, after = provenance.accuracy_before or 0.0, provenance.accuracy_after or 0.0
    print(
        f"{method}: accuracy {100 * before:.2f} -> {100 * after:.2f} ({100 * (after - before):+.2f} points)"
    )
    if "calibration" in details:
        print(f"  {details['calibration']['reason']}")
    fidelity = agreement(model, folder, test_file)
    if fidelity["agreement_docs"]:
        print(
            f"  same label as the source on {100 * fidelity['label_agreement']:.2f}% of the test "
            f"texts; mean gap in the source label's probability {fidelity['mean_probability_gap']:.4f}"
        )
    record: dict[str, Any] = {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "method": method,
        "split": f"hyperpartisan cv fold {args.fold} (bench_train folds)",
        "source": str(args.source) if args.source else "head+tail, 3 epochs, bench_train recipe",
        "accuracy_before": before,
        "accuracy_after": after,
        "macro_f1_before": provenance.macro_f1_before,
        "macro_f1_after": provenance.macro_f1_after,
        "docs_per_second_before": provenance.docs_per_second_before,
        "docs_per_second_after": provenance.docs_per_second_after,
        "seconds": seconds,
        "folder": str(folder),
        "strategy_params": dict(args.strategy_param) or None,
        "calibration_held_out": len(held_out) or None,
        **fidelity,
    }
    if method == "early-exit":
        record["threshold"] = details.get("threshold")
        record["calibration"] = details.get("calibration")  # chosen on the dev split or held-out texts
        record["threshold_curve"] = exit_curve(folder, test_file)  # measured on the test fold
    if method == "distill":
        record["distill_epochs"] = args.distill_epochs
        record["distill_hidden"] = args.distill_hidden
    if method == "distill" or extra:  # what the student or the exits were distilled on
        record["distill_texts"] = len(train_texts) + len(extra)
        record["unlabelled"] = args.unlabelled
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/longbert-compress"))
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file records are appended to")
    parser.add_argument("--source", type=Path, help="compress this checkpoint instead of the recipe's")
    parser.add_argument("--max-accuracy-loss", type=float, default=0.5, help="early-exit budget, points")
    parser.add_argument("--distill-epochs", type=int, default=3, help="distill: epochs over the texts")
    parser.add_argument(
        "--distill-hidden",
        choices=HIDDEN_TARGETS,
        default=HIDDEN_TARGETS[0],
        help="distill: the final [CLS] hidden-state loss (default) or TinyBERT's layer-wise one",
    )
    parser.add_argument(
        "--unlabelled",
        nargs="*",
        default=[],
        metavar="SET/SPLIT:N",
        help="distill and early-exit: also these unlabelled texts (the student's or the exits' "
        "distillation), e.g. bbc_news/train:1000 20newsgroups/train:1000",
    )
    add_strategy_param(
        parser,
        "the compressed model reads with this parameter of the source's strategy replaced, "
        "e.g. stride=510 for a chunk source",
    )
    parser.add_argument(
        "--calibration-held-out",
        type=int,
        default=0,
        metavar="N",
        help="early-exit: hold N of the fold's training texts out of the exits' distillation and "
        "choose the threshold on them, unlabelled (by agreement with the full model), instead of "
        "on the source's 51 labelled dev articles",
    )
    parser.add_argument("--fold", type=int, default=1, choices=range(1, 6), help="CV fold (not 1: --source)")
    parser.add_argument("--tag", default="", help="cache folder suffix, so variants do not overwrite")
    args = parser.parse_args()
    if args.distill_epochs < 1:
        parser.error("--distill-epochs must be 1 or more")
    args.unlabelled_texts = unlabelled_texts(args.unlabelled)  # a bad spec fails before any training
    files = source_model(args.cache, args.source, args.fold)
    records = []
    for method in args.methods:
        records.append(run_method(method, args, files))
        # Written after each method: a long run that stops keeps what it measured.
        previous = json.loads(args.results.read_text()) if args.results.exists() else []
        args.results.write_text(json.dumps([*previous, records[-1]], indent=2) + "\n")


if __name__ == "__main__":
    main()
