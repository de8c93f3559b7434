"""Sentence splitting speed: the step every key-sentence, attention and highlight view starts from.

Usage: .venv/bin/python bench/bench_sentences.py [--repeats 3] [--limit 645]

Prints seconds and words per second for a synthetic 50,000-word text (2,900 sentences of random
words, the unit test's text) and for hyperpartisan's ``official_train`` articles (when
../shared/data is there), best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import random
import time

from common import hyperpartisan, print_table

from longbert.sentences import split_sentences

WORDS = [
    "the", "budget", "vote", "was", "delayed", "again", "after", "members", "of", "the",
    "committee", "asked", "for", "more", "time",
]  # fmt: skip


def synthetic_text(sentences: int = 2900, seed: int = 5) -> str:
    rng = random.Random(seed)
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))).capitalize() + "."
        for _ in range(sentences)
    )


def best_time(texts: list[str], repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        count = sum(len(split_sentences(text)) for text in texts)
        best = min(best, time.perf_counter() - started)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="hyperpartisan articles to split")
    args = parser.parse_args()
    inputs = {"synthetic 50k words": [synthetic_text()]}
    try:
        inputs["hyperpartisan official_train"] = [row["text"] for row in hyperpartisan(limit=args.limit)]
    except SystemExit as error:  # common.hyperpartisan exits when ../shared/data is missing
        print(f"(hyperpartisan skipped: {error})")
    split_sentences("Warm up. The punkt model loads once.")
    rows = []
    for name, texts in inputs.items():
        seconds, count = best_time(texts, args.repeats)
        words = sum(len(text.split()) for text in texts)
        rows.append(
            {
                "input": name,
                "texts": len(texts),
                "words": words,
                "sentences": count,
                "seconds": f"{seconds:.3f}",
                "words/s": f"{words / seconds:,.0f}",
            }
        )
    print_table(rows, ["input", "texts", "words", "sentences", "seconds", "words/s"])


if __name__ == "__main__":
    main()
