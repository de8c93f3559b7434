"""Short human-readable strings the pages show: token budgets, durations, probabilities."""

from __future__ import annotations

import hashlib
import html
import math
import re


def token_budget_text(used: int, total: int) -> str:
    """``"510 of 3,214 tokens used"`` (the whole document when ``used == total``)."""
    if total <= 0:
        return "0 tokens (empty document)"
    if used >= total:
        return f"all {total:,} tokens used"
    return f"{used:,} of {total:,} tokens used"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``"1 document"``, ``"2 documents"``, ``"1,200 documents"``."""
    word = singular if count == 1 else (many or singular + "s")
    return f"{count:,} {word}"


def files_to_documents(files: int | None, documents: int) -> str:
    """``"19 files → 23 documents"`` (a table row or an archive member is a document of its
    own); just ``"3 documents"`` when the counts agree or the file count is unknown."""
    if files is None or files == documents:
        return plural(documents, "document")
    return f"{plural(files, 'file')} → {plural(documents, 'document')}"


def classified_message(name: str, seconds: float, load_seconds: float = 0.0) -> str:
    """The Classify page's success line. Wall time includes loading the model on first use,
    which the prediction's own latency (model time, in ms) leaves out; say so when it counted."""
    message = f"Classified '{md(name)}' in {seconds:.1f} s"
    if load_seconds >= 0.5:
        message += f", including {load_seconds:.1f} s loading the model (first use)"
    return message + ", and saved it to History."


def input_signature(source: str, text: str | None, name: str | None = None,
                    data: bytes | None = None) -> str:
    """A fingerprint of what is to be classified: a result is shown only while it matches."""
    digest = hashlib.sha256()
    for part in (source, name or "", text or ""):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(data or b"")
    return digest.hexdigest()


def token_budget_fraction(used: int, total: int) -> float:
    """The share of the document the model read, in [0, 1]."""
    if total <= 0:
        return 0.0
    return max(0.0, min(1.0, used / total))


def format_duration(seconds: float | None, *, compact: bool = False) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``; ``"—"`` when unknown. ``compact`` (for a
    terminal progress line): ``"42s"``, ``"3m05s"``, ``"1h02m"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    h, m, s = ("h", "m", "s") if compact else (" h ", " min ", " s")
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}{s}".rstrip()
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}{m}{secs:02d}{s}".rstrip()
    hours, minutes = divmod(minutes, 60)
    return f"{hours}{h}{minutes:02d}{m}".rstrip()


def format_bytes(size: int) -> str:
    """``"512 B"``, ``"1.5 MB"`` (decimal units, as browsers and Streamlit show upload limits)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - loop always returns


def progress_text(done: int, total: int, eta_seconds: float | None, errors: int = 0) -> str:
    """``"12 of 40 documents · 2 errors · about 1 min 10 s left"`` for progress bars."""
    parts = [f"{done:,} of {total:,} documents"]
    if errors:
        parts.append(f"{errors:,} error{'s' if errors != 1 else ''}")
    if done < total and eta_seconds is not None:
        parts.append(f"about {format_duration(eta_seconds)} left")
    return " · ".join(parts)


def snippet(text: str, limit: int = 120) -> str:
    """The start of ``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def plain(text: object) -> str:
    """``text`` escaped for plotly, which renders a subset of HTML (``<b>``, ``<i>``, ``<a>``,
    ``<br>``) in hover texts, tick labels, legends and titles: markup shows as typed.

    Only ``&``, ``<`` and ``>`` are escaped; plotly decodes those entities (not ``&quot;``).
    """
    return html.escape(str(text), quote=False)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md(text: object) -> str:
    """``text`` with Markdown's special characters backslash-escaped, for names and labels put
    into ``st.markdown``/``st.caption``/``st.success`` messages: shown as typed, never styled
    (``*x*``, ``[link](…)``, ``:red[…]``). Newlines become spaces."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code_span(text: object) -> str:
    """``text`` as a Markdown inline code span that shows it whole, as typed, for a name a
    person chose (a model's name may hold a backtick: a Label Studio import takes any model
    version, a model folder any character but ``/``). A plain `` `x` `` ends at the first
    backtick inside and renders the rest as Markdown; CommonMark's rule is used instead: a fence
    one backtick longer than the longest run of backticks inside, and a space inside each fence
    when the text starts or ends with a backtick (one such space is dropped from each side when
    drawn). Newlines become spaces (a code span draws them so)."""
    flat = " ".join(str(text).split()) or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
