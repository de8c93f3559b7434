"""Build ``longbert/text/letter_pairs.txt``: which letter pairs each language writes around its accents.

The decoder (:mod:`longbert.text.charsets`) tells "pokračuje" (Czech, cp1250) from "pokraèuje"
(the same bytes read as cp1252) by the letter pairs: Czech writes "ač" and "ču", no language
writes "aè" before "u". The pairs come from real text in each language: the message catalogues
(``.mo`` translations) that Debian installs under /usr/share/locale. Only pairs with at least one
non-ASCII letter are kept, with ``_`` marking a word boundary, and only those seen
``--min-count`` times (and at least once in 50,000 pairs of that language, so that a big
catalogue's typos and foreign names do not count). The catalogues used for the mojibake grid of
``bench/bench_robustness.py`` are left out (``EVAL_CATALOGUES``): the grid measures unseen text.

    .venv/bin/python scripts/build_letter_pairs.py     # rewrites longbert/text/letter_pairs.txt
"""

from __future__ import annotations

import argparse
import gettext
import itertools
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from longbert.text.charsets import LANGUAGE_LETTERS, script_of  # noqa: E402

#: Locale folder of each language in LANGUAGE_LETTERS.
LOCALES = {
    "french": "fr", "german": "de", "spanish": "es", "portuguese": "pt", "italian": "it",
    "catalan": "ca", "dutch": "nl", "danish": "da", "norwegian": "nb", "swedish": "sv",
    "finnish": "fi", "icelandic": "is", "polish": "pl", "czech": "cs", "slovak": "sk",
    "slovene": "sl", "croatian": "hr", "hungarian": "hu", "romanian": "ro", "turkish": "tr",
    "lithuanian": "lt", "latvian": "lv", "estonian": "et",
    # Other scripts: every letter of the script counts (their readings compete too: KOI8-R
    # bytes read as cp1256 make Arabic, Russian cp1251 bytes read as cp1255 make Hebrew).
    "russian": "ru", "ukrainian": "uk", "bulgarian": "bg", "greek": "el", "arabic": "ar",
    "hebrew": "he",
}
SCRIPTS = {"russian": "cyrillic", "ukrainian": "cyrillic", "bulgarian": "cyrillic", "greek": "greek",
           "arabic": "arabic", "hebrew": "hebrew"}
#: Catalogues kept for evaluation (the mojibake grid), never used to build the table.
EVAL_CATALOGUES = frozenset(
    {"coreutils", "apt", "dpkg", "gnupg2", "bash", "tar", "wget", "findutils", "grep", "sed"}
)
_FORMAT_RE = re.compile(r"%[-+ #0-9.$]*[a-zA-Z]|\{[^}]*\}|_|&")
_WORD_RE = re.compile(r"[^\W\d_]+")


def catalogue_texts(locale: str, *, evaluation: bool, root: Path = Path("/usr/share/locale")) -> list[str]:
    """Translated messages of one locale: the evaluation catalogues, or all the others."""
    texts = []
    for path in sorted((root / locale / "LC_MESSAGES").glob("*.mo")):
        if (path.stem in EVAL_CATALOGUES) != evaluation:
            continue
        try:
            with path.open("rb") as handle:
                catalogue = gettext.GNUTranslations(handle)
        except Exception:  # a damaged or oddly encoded catalogue: skip it
            continue
        for message in catalogue._catalog.values():  # type: ignore[attr-defined]
            if isinstance(message, str) and " " in message:
                texts.append(_FORMAT_RE.sub("", message).replace("\n", " "))
    return texts


def letter_pairs(texts: list[str]) -> Counter[str]:
    pairs: Counter[str] = Counter()
    for text in texts:
        for word in _WORD_RE.findall(text.lower()):
            padded = f"_{word}_"
            for a, b in itertools.pairwise(padded):
                if not (a.isascii() and b.isascii()):
                    pairs[a + b] += 1
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "longbert" / "text" / "letter_pairs.txt")
    args = parser.parse_args()
    lines = [
        "# Letter pairs (with at least one non-ASCII letter; _ = word boundary) seen in real text of",
        "# each language. Built by scripts/build_letter_pairs.py from Debian's message catalogues.",
    ]
    for language, locale in LOCALES.items():
        counts = letter_pairs(catalogue_texts(locale, evaluation=False))
        alphabet = set(LANGUAGE_LETTERS.get(language, ""))
        script = SCRIPTS.get(language, "latin")

        def belongs(ch: str, alphabet: set[str] = alphabet, script: str = script) -> bool:
            if ch.isascii():
                return True
            return ch in alphabet if script == "latin" else script_of(ch) == script

        floor = max(args.min_count, sum(counts.values()) / 50_000)
        kept = sorted(pair for pair, n in counts.items() if n >= floor and all(map(belongs, pair)))
        print(f"{language}: {len(kept)} pairs from {sum(counts.values()):,}", file=sys.stderr)
        lines.append(f"{language} {' '.join(kept)}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
