"""Active learning and few-shot training on real data (issue 21).

    # mode "active": a simulated annotator, 20 documents per round up to 200 labels
    python bench/bench_active.py active --datasets bbc_news,20newsgroups --seeds 0,1,2 \\
        --samplers random,margin,cluster_uncertainty
    # mode "fewshot": few-shot vs plain fine-tuning vs zero-shot at 8/16/32/64 labels per class
    python bench/bench_active.py fewshot --datasets bbc_news,hyperpartisan --per-class 8,16,32,64 \\
        --seeds 0,1,2
    python bench/bench_active.py table                  # tables (+ figures) of what is done

Protocol, mode ``active``. The pool is the data set's train split (``--pool-limit``: a stratified
subset), scored on its test split (``--test-limit``: a stratified subset, the same for every
run). Round 0 is the start: zero-shot (the label descriptions below; nothing labelled) or
``--start random`` (10 random labels, then a model). Each round the current model scores the
pool (probabilities and embeddings in one pass), the sampler picks ``--query`` unlabelled
documents, the simulated annotator gives their true labels, a model is trained afresh on all
labels so far (``--learner``: few-shot, the default, or plain fine-tuning), and test accuracy and
macro-F1 are recorded; until ``--max-labels``. Mode ``fewshot``: ``n`` labels per class drawn at
random (seeded) from the train split; zero-shot, few-shot (SetFit recipe, descriptions as extra
examples; ``fewshot-prior``: the zero-shot model corrected by the labels) and plain fine-tuning
(``longbert.training.train``, ``--ft-epochs``, the epoch picked on the training examples
themselves: no dev set is left at 8 per class) scored on the test split.
hyperpartisan has no clean test split (see ../shared/data/README.md): ``official_train`` is split
80/20, stratified, seed 0.

Every piece -- one round of one curve, one (method, labels per class, seed) -- appends a record to
``bench/results/bench_active.json`` and is skipped when it is there with the same settings; an
interrupted curve resumes from its last round (the labelled ids are in the record; the model is
retrained on them). So runs of any size add up: ``--seeds``, ``--datasets``, ``--samplers``,
``--max-labels``, ``--test-limit`` fit a run to a budget.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DATA_DIR, PROJECT_ROOT, print_table, read_jsonl

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_active.json"
FIGURES = PROJECT_ROOT / "bench" / "results"

#: Zero-shot label descriptions (and few-shot's extra examples).
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "bbc_news": {
        "business": "business news: companies, markets, the economy, profits and trade",
        "entertainment": "entertainment news: films, music, television, celebrities and awards",
        "politics": "political news: the government, elections, parties, ministers and parliament",
        "sport": "sport news: football, matches, teams, players and championships",
        "tech": "technology news: computers, the internet, software, phones and gadgets",
    },
    "hyperpartisan": {
        "true": "a hyperpartisan opinion piece: one-sided, inflammatory, extreme political rhetoric",
        "false": "a balanced news report: neutral, factual reporting of events",
    },
    "20newsgroups": {
        "alt.atheism": "atheism, arguments about god and religion",
        "comp.graphics": "computer graphics, images, rendering and file formats",
        "comp.os.ms-windows.misc": "Microsoft Windows, drivers and Windows software",
        "comp.sys.ibm.pc.hardware": "PC hardware, IDE and SCSI drives, motherboards",
        "comp.sys.mac.hardware": "Apple Macintosh hardware",
        "comp.windows.x": "the X Window System, X11 and window managers",
        "misc.forsale": "items for sale, prices and shipping",
        "rec.autos": "cars, engines and driving",
        "rec.motorcycles": "motorcycles, bikes and riding",
        "rec.sport.baseball": "baseball, teams, pitchers and games",
        "rec.sport.hockey": "ice hockey, the NHL, teams and games",
        "sci.crypt": "cryptography, encryption, keys and privacy",
        "sci.electronics": "electronics, circuits and components",
        "sci.med": "medicine, diseases, doctors and treatment",
        "sci.space": "space, NASA, orbits and launches",
        "soc.religion.christian": "Christianity, the church, Jesus and the Bible",
        "talk.politics.guns": "guns, firearms and gun control",
        "talk.politics.mideast": "the Middle East, Israel, Palestinians and Arabs",
        "talk.politics.misc": "politics, government, taxes and the president",
        "talk.religion.misc": "religion, morality and beliefs",
    },
}
DATASETS = tuple(DESCRIPTIONS)
SAMPLER_NAMES = ("random", "least_confident", "margin", "entropy", "kcenter", "cluster_uncertainty")
#: fewshot-prior: the zero-shot model (DESCRIPTIONS) corrected by the labels, longbert.fewshot.prior
#: (lam 0.01, encoder frozen), reading documents as the zero-shot model does (every 256-token
#: window, ZERO_SHOT_STRATEGY: it corrects that model, so it keeps its reading);
#: fewshot-prior-head: the same under the benchmark's --strategy (the first 256 tokens).
METHODS = (
    "zeroshot",
    "fewshot",
    "fewshot-clshead",
    "fewshot-nodesc",
    "fewshot-prior",
    "fewshot-prior-head",
    "finetune",
)
#: What the encoder reads in every run of this benchmark: the first 256 tokens (the length the
#: default sentence encoder was trained at), a quarter of head+tail's cost per document.
DEFAULT_STRATEGY = '{"name": "truncate", "params": {"mode": "head", "max_tokens": 256}}'


# -- data --------------------------------------------------------------------------------------


def stratified_subset(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """At most ``n`` rows keeping label proportions (seeded); all rows when ``n`` is None."""
    if n is None or n >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in sorted({r["label"] for r in rows}):
        members = [i for i, r in enumerate(rows) if r["label"] == label]
        keep += rng.permutation(members)[: max(1, round(n * len(members) / len(rows)))].tolist()
    return [rows[i] for i in sorted(keep)]


def load_splits(dataset: str) -> tuple[list[dict], list[dict]]:
    """(train, test) rows of a data set in ../shared/data."""
    folder = DATA_DIR / dataset
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: benchmarks read ../shared/data (see its README).")
    if dataset == "hyperpartisan":
        from sklearn.model_selection import train_test_split

        rows = list(read_jsonl(folder / "official_train.jsonl.gz"))
        train, test = train_test_split(
            rows, test_size=0.2, random_state=0, stratify=[r["label"] for r in rows]
        )
        return train, test
    return list(read_jsonl(folder / "train.jsonl.gz")), list(read_jsonl(folder / "test.jsonl.gz"))


# -- models ------------------------------------------------------------------------------------


def evaluate(model: Any, rows: list[dict], batch_size: int) -> tuple[dict[str, float], Any]:
    """Test accuracy and macro-F1 of ``model`` on ``rows``, plus its DocumentScores."""
    from sklearn.metrics import accuracy_score, f1_score

    from longbert.active import score_documents

    scores = score_documents(model, [r["text"] for r in rows], batch_size=batch_size)
    predicted = [scores.labels[i] for i in np.nan_to_num(scores.probabilities, nan=-1).argmax(axis=1)]
    truth = [r["label"] for r in rows]
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", labels=sorted(set(truth)))),
    }
    return metrics, scores


def zero_shot(dataset: str) -> Any:
    from longbert import ZeroShotClassifier

    return ZeroShotClassifier(DESCRIPTIONS[dataset])


def train_model(method: str, dataset: str, rows: list[dict], seed: int, args: argparse.Namespace) -> Any:
    """A model of ``method`` trained on ``rows`` (labels = the data set's full label set)."""
    labels = sorted(DESCRIPTIONS[dataset])
    strategy = json.loads(args.strategy)
    if method == "fewshot-prior":
        from longbert.zero_shot import ZERO_SHOT_STRATEGY

        strategy = ZERO_SHOT_STRATEGY
    if method.startswith("fewshot"):
        from longbert.fewshot import FewShotConfig, train_few_shot

        config = FewShotConfig(
            method="zero-shot-prior" if method.startswith("fewshot-prior") else "setfit",
            iterations=args.iterations,
            max_steps=args.max_steps,
            head="cls_head" if method == "fewshot-clshead" else "logistic",
            use_descriptions=method != "fewshot-nodesc",
        )
        return train_few_shot(
            [r["text"] for r in rows],
            [r["label"] for r in rows],
            strategy=strategy,
            label_names=labels,
            descriptions=DESCRIPTIONS[dataset],
            seed=seed,
            config=config,
        )
    if method == "finetune":
        from longbert import load_classifier
        from longbert.training import TrainConfig, train

        workdir = Path(tempfile.mkdtemp(prefix="bench-active-"))
        config = TrainConfig(
            name="bench-active",
            output_dir=str(workdir / "model"),
            strategy=strategy["name"],
            strategy_params=strategy["params"],
            epochs=args.ft_epochs,
            seed=seed,
            record=False,
            quiet=True,
            patience=0,
        )
        try:
            # Few labels leave no dev set: the epoch is picked on the training examples themselves.
            train(config, train_data=rows, dev_data=rows)
            return load_classifier(workdir / "model")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    raise ValueError(f"unknown method {method!r}")


# -- records -----------------------------------------------------------------------------------


def load_results(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or RESULTS
    return json.loads(path.read_text()) if path.exists() else []


def append_result(record: dict[str, Any], path: Path | None = None) -> None:
    """Re-read, append, write atomically: two runs appending in turn both keep their records."""
    path = path or RESULTS
    records = load_results(path)
    records.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)


def settings(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """What makes two records comparable (a piece is redone when these differ)."""
    common = {"strategy": json.loads(args.strategy), "test_limit": args.test_limit}
    if mode == "active":
        return {
            **common,
            "start": args.start,
            "learner": args.learner,
            "query": args.query,
            "pool_limit": args.pool_limit,
            "iterations": args.iterations,
            "max_steps": args.max_steps,
            "ft_epochs": args.ft_epochs,
        }
    return {**common, "iterations": args.iterations, "max_steps": args.max_steps, "ft_epochs": args.ft_epochs}


def find(records: list[dict[str, Any]], **key: Any) -> list[dict[str, Any]]:
    return [r for r in records if all(r.get(k) == v for k, v in key.items())]


# -- mode: active ------------------------------------------------------------------------------


def run_curve(dataset: str, sampler: str, seed: int, args: argparse.Namespace) -> None:
    from longbert.active import rank

    setting = settings(args, "active")
    key = {"mode": "active", "dataset": dataset, "sampler": sampler, "seed": seed, "settings": setting}
    done = sorted(find(load_results(), **key), key=lambda r: r["round"])
    train_rows, test_rows = load_splits(dataset)
    pool = stratified_subset(train_rows, args.pool_limit, seed=0)
    test = stratified_subset(test_rows, args.test_limit, seed=0)
    rng = np.random.default_rng(seed)
    learner = args.learner

    def trained(ids: list[int]) -> Any:
        return (
            train_model(learner, dataset, [pool[i] for i in ids], seed, args) if ids else zero_shot(dataset)
        )

    if done:
        labelled = list(done[-1]["labelled_ids"])
        if len(labelled) >= args.max_labels:
            print(f"  {dataset} {sampler} seed {seed}: done ({len(labelled)} labels)")
            return
        started = time.perf_counter()
        model = trained(labelled)
        print(
            f"  resumed at {len(labelled)} labels (model retrained in {time.perf_counter() - started:.0f} s)"
        )
        round_index = done[-1]["round"]
    else:
        labelled = [] if args.start == "zero-shot" else rng.permutation(len(pool))[:10].tolist()
        started = time.perf_counter()
        model = trained(labelled)
        train_seconds = time.perf_counter() - started
        metrics, _ = evaluate(model, test, args.batch_size)
        record_round(key, 0, labelled, metrics, train_seconds, 0.0, time.perf_counter() - started)
        round_index = 0
    while len(labelled) < args.max_labels:
        round_index += 1
        started = time.perf_counter()
        scores = pool_scores(model, pool, args)
        picks = rank(
            scores.probabilities,
            sampler=sampler,
            embeddings=scores.embeddings,
            k=min(args.query, args.max_labels - len(labelled)),
            already_labelled=labelled,
            seed=seed * 1000 + round_index,
            labels=scores.labels,
        )
        query_seconds = time.perf_counter() - started
        labelled += picks.tolist()
        model = trained(labelled)
        train_seconds = time.perf_counter() - started - query_seconds
        metrics, _ = evaluate(model, test, args.batch_size)
        record_round(
            key, round_index, labelled, metrics, train_seconds, query_seconds, time.perf_counter() - started
        )


def pool_scores(model: Any, pool: list[dict], args: argparse.Namespace) -> Any:
    """The current model's probabilities and embeddings of every pool document (labelled ones too:
    k-center measures distances to them)."""
    from longbert.active import score_documents

    return score_documents(model, [r["text"] for r in pool], batch_size=args.batch_size)


def record_round(
    key: dict[str, Any],
    round_index: int,
    labelled: list[int],
    metrics: dict[str, float],
    train_seconds: float,
    query_seconds: float,
    seconds: float,
) -> None:
    record = {
        **key,
        "round": round_index,
        "labels": len(labelled),
        **metrics,
        "labelled_ids": list(map(int, labelled)),
        "train_seconds": round(train_seconds, 1),
        "query_seconds": round(query_seconds, 1),
        "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    append_result(record)
    print(
        f"  {key['dataset']} {key['sampler']} seed {key['seed']} round {round_index}: "
        f"{len(labelled)} labels, "
        f"accuracy {100 * metrics['accuracy']:.2f}, macro-F1 {100 * metrics['macro_f1']:.2f} "
        f"({seconds:.0f} s: query {query_seconds:.0f}, train {train_seconds:.0f})",
        flush=True,
    )


# -- mode: fewshot -----------------------------------------------------------------------------


def per_class_sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for label in sorted({r["label"] for r in rows}):
        members = [i for i, r in enumerate(rows) if r["label"] == label]
        picked += rng.permutation(members)[:n].tolist()
    return [rows[i] for i in sorted(picked)]


def run_fewshot_piece(dataset: str, method: str, per_class: int, seed: int, args: argparse.Namespace) -> None:
    setting = settings(args, "fewshot")
    if method == "zeroshot":
        per_class, seed = 0, 0  # needs no labels: one piece per data set
    key = {
        "mode": "fewshot",
        "dataset": dataset,
        "method": method,
        "per_class": per_class,
        "seed": seed,
        "settings": setting,
    }
    if find(load_results(), **key):
        print(f"  {dataset} {method} {per_class}/class seed {seed}: done")
        return
    train_rows, test_rows = load_splits(dataset)
    test = stratified_subset(test_rows, args.test_limit, seed=0)
    rows = per_class_sample(train_rows, per_class, seed) if per_class else []
    started = time.perf_counter()
    model = zero_shot(dataset) if method == "zeroshot" else train_model(method, dataset, rows, seed, args)
    train_seconds = time.perf_counter() - started
    metrics, _ = evaluate(model, test, args.batch_size)
    seconds = time.perf_counter() - started
    extra = {}
    if method == "fewshot":  # the other head on the same tuned encoder: which head is better
        extra["cls_head"] = other_head(model, dataset, rows, seed, test, args)
    append_result(
        {
            **key,
            "labels": len(rows),
            **metrics,
            **extra,
            "test_docs": len(test),
            "train_seconds": round(train_seconds, 1),
            "test_seconds": round(seconds - train_seconds, 1),
            "seconds": round(seconds, 1),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    print(
        f"  {dataset} {method} {per_class}/class seed {seed}: accuracy {100 * metrics['accuracy']:.2f}, "
        f"macro-F1 {100 * metrics['macro_f1']:.2f} (train {train_seconds:.0f} s, test "
        f"{seconds - train_seconds:.0f} s on {len(test)} docs)",
        flush=True,
    )


def other_head(
    model: Any, dataset: str, rows: list[dict], seed: int, test: list[dict], args: argparse.Namespace
) -> dict[str, float]:
    """Test metrics of the ClsHead fit on the few-shot model's frozen vectors (it keeps its own head)."""
    from longbert.active.embeddings import prepare_documents
    from longbert.fewshot import fit_cls_head
    from longbert.fewshot.trainer import head_inputs
    from longbert.modeling.modules import ClsHead

    labels = sorted(DESCRIPTIONS[dataset])
    texts = [r["text"] for r in rows] + [DESCRIPTIONS[dataset][label] for label in labels]
    targets = np.array([labels.index(r["label"]) for r in rows] + list(range(len(labels))))
    vectors = head_inputs(model, prepare_documents(model, texts, model.strategy), model.strategy, 16)
    logistic = model.head
    model.head = ClsHead(logistic.hidden_size, logistic.num_labels, logistic.dropout_p).to(model.device)
    model.head.init_pooler(getattr(model.encoder, "bert_pooler_state", None))
    fit_cls_head(model.head, vectors, targets, multi_label=False, seed=seed)
    metrics, _ = evaluate(model, test, args.batch_size)
    model.head = logistic
    return metrics


# -- tables and figures ------------------------------------------------------------------------


def mean_spread(values: list[float]) -> str:
    a = 100 * np.asarray(values)
    return f"{a.mean():.2f}" + (f" ± {a.std(ddof=1):.2f}" if len(a) > 1 else "")


def tables(records: list[dict[str, Any]], figures: bool) -> None:
    active = [r for r in records if r["mode"] == "active"]
    if active:
        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for r in active:
            learner = r["settings"].get("learner", "fewshot")
            groups.setdefault((f"{r['dataset']} ({learner})", r["sampler"], r["labels"]), []).append(r)
        rows = [
            {
                "dataset": d,
                "sampler": s,
                "labels": n,
                "seeds": len(m),
                "accuracy": mean_spread([x["accuracy"] for x in m]),
                "macro-F1": mean_spread([x["macro_f1"] for x in m]),
            }
            for (d, s, n), m in sorted(groups.items())
        ]
        print("Active learning (test split after each round; mean ± sd over seeds):")
        print_table(rows, ["dataset", "sampler", "labels", "seeds", "accuracy", "macro-F1"])
        if figures:
            curve_figure(groups, "active", "labels", FIGURES / "bench_active_curves")
    few = [r for r in records if r["mode"] == "fewshot"]
    if few:
        groups2: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for r in few:
            groups2.setdefault((r["dataset"], r["method"], r["per_class"]), []).append(r)
        rows = [
            {
                "dataset": d,
                "method": m,
                "per class": n or "-",
                "seeds": len(g),
                "accuracy": mean_spread([x["accuracy"] for x in g]),
                "macro-F1": mean_spread([x["macro_f1"] for x in g]),
                "train s": f"{np.mean([x['train_seconds'] for x in g]):.0f}",
                "ClsHead acc": mean_spread([x["cls_head"]["accuracy"] for x in g])
                if "cls_head" in g[0]
                else "",
                "test docs": g[0]["test_docs"],
            }
            for (d, m, n), g in sorted(groups2.items())
        ]
        print("\nFew-shot vs fine-tuning vs zero-shot (test split; mean ± sd over seeds):")
        print_table(
            rows,
            [
                "dataset",
                "method",
                "per class",
                "seeds",
                "accuracy",
                "macro-F1",
                "ClsHead acc",
                "train s",
                "test docs",
            ],
        )
        if figures:
            curve_figure(groups2, "fewshot", "labels per class", FIGURES / "bench_active_fewshot")


def curve_figure(
    groups: dict[tuple[str, str, int], list[dict[str, Any]]], mode: str, x_title: str, stem: Path
) -> None:
    """One panel per data set, one line per sampler/method (mean accuracy, ± sd band as error bars)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    datasets = sorted({d for d, _, _ in groups})
    fig = make_subplots(rows=1, cols=len(datasets), subplot_titles=datasets)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    names = sorted({s for _, s, _ in groups})
    for col, dataset in enumerate(datasets, start=1):
        for index, name in enumerate(names):
            points = sorted((n, g) for (d, s, n), g in groups.items() if d == dataset and s == name)
            if not points:
                continue
            xs = [n for n, _ in points]
            means = [100 * np.mean([r["accuracy"] for r in g]) for _, g in points]
            sds = [100 * np.std([r["accuracy"] for r in g], ddof=1) if len(g) > 1 else 0.0 for _, g in points]
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=means,
                    error_y={"type": "data", "array": sds},
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": colours[index % len(colours)]},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=x_title, row=1, col=col, type="log" if mode == "fewshot" else "linear")
        fig.update_yaxes(title_text="test accuracy (%)", row=1, col=col)
    fig.update_layout(width=520 * len(datasets), height=440, template="plotly_white")
    try:
        fig.write_image(str(stem.with_suffix(".png")), scale=2)
        print(f"figure: {stem.with_suffix('.png')}")
    except Exception as error:  # kaleido missing or no browser: keep the interactive file
        fig.write_html(str(stem.with_suffix(".html")), include_plotlyjs="cdn")
        print(f"figure: {stem.with_suffix('.html')} (PNG export failed: {type(error).__name__}: {error})")


# -- command line ------------------------------------------------------------------------------


def comma(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if allowed is not None and x not in allowed]
    if bad:
        raise SystemExit(f"unknown: {', '.join(bad)} (choose from {', '.join(allowed or ())})")
    return items


def main() -> None:
    global RESULTS, FIGURES
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("active", "fewshot", "table"))
    parser.add_argument("--datasets", default="bbc_news", help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--samplers",
        default="random,margin,cluster_uncertainty",
        help=f"active: comma list of {', '.join(SAMPLER_NAMES)}",
    )
    parser.add_argument(
        "--methods", default="zeroshot,fewshot,finetune", help=f"fewshot: {', '.join(METHODS)}"
    )
    parser.add_argument("--per-class", default="8,16,32,64", help="fewshot: labels per class")
    parser.add_argument("--max-labels", type=int, default=200, help="active: stop at this many labels")
    parser.add_argument("--query", type=int, default=20, help="active: documents asked per round")
    parser.add_argument("--start", choices=("zero-shot", "random"), default="zero-shot")
    parser.add_argument(
        "--learner",
        choices=("fewshot", "finetune", "frozen", "frozen-prior"),
        default="fewshot",
        help="active: who learns from the labels each round (frozen: logistic regression on the "
        "zero-shot model's document embeddings, computed once; frozen-prior: a correction of "
        "the zero-shot model learnt on them; see active_frozen.py)",
    )
    parser.add_argument("--pool-limit", type=int, default=None, help="active: stratified subset of the pool")
    parser.add_argument("--test-limit", type=int, default=None, help="stratified subset of the test split")
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY, help="strategy JSON for every model")
    parser.add_argument("--iterations", type=int, default=20, help="few-shot pair-generation rounds R")
    parser.add_argument("--max-steps", type=int, default=None, help="few-shot: cap on contrastive steps")
    parser.add_argument("--ft-epochs", type=int, default=10, help="plain fine-tuning epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per scoring pass")
    parser.add_argument("--no-figures", action="store_true", help="table: skip the figures")
    parser.add_argument("--results", type=Path, default=RESULTS, help="records file (smoke runs: elsewhere)")
    args = parser.parse_args()
    RESULTS, FIGURES = args.results, args.results.parent
    if args.mode == "table":
        tables(load_results(), figures=not args.no_figures)
        return
    datasets = comma(args.datasets, DATASETS)
    seeds = [int(s) for s in comma(args.seeds)]
    if args.mode == "active":
        for dataset in datasets:
            if args.learner.startswith("frozen"):
                from active_frozen import run_frozen_curve

                train_rows, test_rows = load_splits(dataset)
                pool = stratified_subset(train_rows, args.pool_limit, seed=0)
                test = stratified_subset(test_rows, args.test_limit, seed=0)
            for sampler in comma(args.samplers, SAMPLER_NAMES):
                for seed in seeds:
                    if args.learner.startswith("frozen"):
                        key = {
                            "mode": "active",
                            "dataset": dataset,
                            "sampler": sampler,
                            "seed": seed,
                            "settings": settings(args, "active"),
                        }
                        done = sorted(find(load_results(), **key), key=lambda r: r["round"])
                        run_frozen_curve(dataset, sampler, seed, args, pool, test, key, done, record_round)
                    else:
                        run_curve(dataset, sampler, seed, args)
    else:
        for dataset in datasets:
            for method in comma(args.methods, METHODS):
                for per_class in [int(n) for n in comma(args.per_class)]:
                    for seed in seeds:
                        run_fewshot_piece(dataset, method, per_class, seed, args)


if __name__ == "__main__":
    main()
