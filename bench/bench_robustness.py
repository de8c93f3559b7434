"""Broken and hostile files through readers → the batch labelling path → the store.

Every case is generated here (nothing binary is committed). Each runs through
``longbert.ui.batch_jobs.stage_batch`` and ``classify_batch`` (the app's Batch page path) into a
fresh SQLite store, with a stand-in classifier (the model is not what is tested: what reaches it
is). Printed per case: outcome (documents saved / errors and the first reason), seconds and peak
Python memory (tracemalloc). ``--only mojibake`` runs the decoding grid on real translated text
(Debian's message catalogues, the ones left out of the letter-pair table). Results are appended
to bench/results/bench_robustness.json.

    nice .venv/bin/python bench/bench_robustness.py [--only cases|mojibake]
"""

from __future__ import annotations

import argparse
import binascii
import gzip
import io
import json
import random
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from longbert.document import Document  # noqa: E402
from longbert.results import Prediction, PredictionError  # noqa: E402
from longbert.store import Store  # noqa: E402
from longbert.ui.batch_jobs import BatchSettings, classify_batch, stage_batch  # noqa: E402
from longbert.ui.jobs import JobContext, JobManager  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bench_robustness.json"
PROSE = "The council approved the budget after a long debate about schools and roads. "


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _uuencoded(size: int) -> bytes:
    data = random.Random(0).randbytes(size)
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, size, 45)]
    return ("begin 644 a.zip\n" + "\n".join(lines) + "\n`\nend\n").encode()


def cases() -> dict[str, list[tuple[str, bytes]]]:
    rng = random.Random(1)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + rng.randbytes(2000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * (1100 * 1024 * 1024 // 8))  # declared 137 MB each
        for i in range(9):
            archive.writestr(f"z{i}.txt", b"0" * (1100 * 1024 * 1024 // 8))
    csv_rows = ["id,text,label"]
    csv_rows += [f"{i},document {i} {PROSE},{'a' if i % 2 else 'b'}" for i in range(1, 1001)]
    csv_rows[3] = '3,"a stray quote,a'
    return {
        "empty file": [("empty.txt", b"")],
        "binary junk": [("junk.txt", rng.randbytes(100_000))],
        "truncated PDF": [("cut.pdf", pdf)],
        "truncated DOCX": [("cut.docx", _zip({"word/document.xml": b"<w:document>"})[:300])],
        "zip slip": [("slip.zip", _zip({"../../etc/passwd.txt": PROSE.encode(), "/x.txt": PROSE.encode()}))],
        "zip bomb": [("bomb.zip", bomb.getvalue())],
        "1,000-file zip": [("many.zip", _zip({f"d/{i}.txt": f"{PROSE} {i}".encode() for i in range(1000)}))],
        "gzip bomb": [("bomb.txt.gz", gzip.compress(b"a" * (300 * 1024 * 1024)))],
        "mojibake: French latin-1": [("fr.txt", "Elle était naïve, déjà à l'école.".encode("latin-1"))],
        "mojibake: Swedish cp1252": [("sv.txt", "Det är en vacker dag, vi går till sjön.".encode("cp1252"))],
        "stray-quote CSV (1,000 rows)": [("rows.csv", "\n".join(csv_rows).encode())],
        "50 MB text": [("huge.txt", (PROSE * 700_000).encode())],
        "uuencoded attachment (2.5 M chars)": [("mail.txt", (PROSE * 20).encode() + _uuencoded(1_850_000))],
        "huge single line (10 MB, no spaces)": [("line.txt", b"x" * 10_000_000)],
        "NUL bytes in text": [("nul.txt", PROSE.encode() + b"\x00\x00" + PROSE.encode())],
        "UTF-16 without BOM": [("u16.txt", (PROSE * 50).encode("utf-16-le"))],
        "deeply nested HTML": [("deep.html", b"<div>" * 50_000 + PROSE.encode() + b"</div>" * 50_000)],
    }


def fake_classify(documents: Sequence[Document]) -> list[Prediction | PredictionError]:
    return [
        Prediction(
            document_name=d.name, document_sha256=d.sha256, label="a", probabilities={"a": 1.0},
            labels=["a"], model_name="stand-in", strategy="truncate", strategy_params={},
            total_tokens=1, used_tokens=1, spans=[(0, min(len(d.text), 10))], segment_scores=[],
            attention=None, latency_ms=0.0,
        )
        for d in documents
    ]


def run_case(files: list[tuple[str, bytes]], folder: Path) -> dict[str, object]:
    store = Store(f"sqlite:///{folder / 'bench.db'}")
    settings = BatchSettings(model="zero-shot", model_name="stand-in", labels={"a": "a"})

    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "bench", iter(files), settings, num_files=len(files))
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False)
        return batch_id

    tracemalloc.start()
    started = time.perf_counter()
    snap = JobManager().submit(work, title="bench", kind="batch").wait(600)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if snap.status != "done":
        outcome = f"job {snap.status}: {snap.error}"
    else:
        batch = store.get_batch(snap.result)
        first_error = next((r.get("error") for r in snap.rows if r.get("error")), "")
        outcome = f"{batch.total - batch.errors} saved, {batch.errors} errors" + (
            f" ({str(first_error)[:110]})" if first_error else ""
        )
    return {"outcome": outcome, "seconds": round(seconds, 2), "peak_mb": round(peak / 2**20, 1)}


def run_cases() -> dict[str, dict[str, object]]:
    results = {}
    for name, files in cases().items():
        with tempfile.TemporaryDirectory() as folder:
            results[name] = run_case(files, Path(folder))
        r = results[name]
        print(f"{name:38s} {r['seconds']:>7.2f} s {r['peak_mb']:>8.1f} MB  {r['outcome']}", flush=True)
    return results


def run_mojibake() -> dict[str, object]:
    from build_letter_pairs import catalogue_texts

    from longbert.text.decoding import decode_text

    grid = {lang: ("latin_1", "cp1252") for lang in ("fr", "de", "es", "pt", "it", "da", "nb", "sv")}
    grid.update(pl=("cp1250", "iso8859_2"), cs=("cp1250", "iso8859_2"), ru=("cp1251", "koi8_r"),
                el=("cp1253",), lt=("cp1257",), lv=("cp1257",), et=("cp1257",))
    rng = random.Random(0)
    table: dict[str, object] = {}
    total = good_total = 0
    for lang, encodings in grid.items():
        texts = catalogue_texts(lang, evaluation=True)
        held_out = bool(texts)
        texts = texts or catalogue_texts(lang, evaluation=False)  # lv has no held-out catalogue
        for encoding in encodings:
            usable = [t for t in texts if _encodes(t, encoding)]
            if not usable:
                continue
            samples: dict[str, list[str]] = {
                "sentence": rng.sample([t for t in usable if not t.isascii()], 40),
                "page": [" ".join(usable[i : i + 40])[:3000] for i in rng.sample(range(len(usable)), 10)],
                "book": [(" ".join(usable) * 10)[:300_000] for _ in range(1)],
            }
            for length, items in samples.items():
                good = sum(decode_text(t.encode(encoding)) == t for t in items)
                seen = "" if held_out else " (seen)"
                table[f"{lang} {encoding} {length}"] = f"{good}/{len(items)}{seen}"
                total += len(items)
                good_total += good
                print(f"{lang} {encoding:10s} {length:8s} {good}/{len(items)}", flush=True)
    print(f"TOTAL {good_total}/{total}")
    table["total"] = f"{good_total}/{total}"
    return table


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["cases", "mojibake"])
    args = parser.parse_args()
    record: dict[str, object] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    runs: dict[str, Callable[[], object]] = {"cases": run_cases, "mojibake": run_mojibake}
    for name, run in runs.items():
        if args.only in (None, name):
            record[name] = run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    history.append(record)
    RESULTS.write_text(json.dumps(history, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
