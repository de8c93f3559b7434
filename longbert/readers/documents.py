"""Formats that hold one document each: plain text, HTML, PDF and DOCX → plain text.

Each function takes the file's bytes and returns its text (not yet cleaned), or raises
:class:`ReadFailure` with a reason a user can act on.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass

from longbert.readers.base import ReadFailure, ReadLimits, human_bytes
from longbert.text.decoding import decode_text

#: Elements whose content is never visible text.
_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    # <head> itself is kept: html.parser does not close it implicitly, so on pages without
    # </head> the whole body sits inside it. Its non-text children go by name instead.
    "title",
    "meta",
    "link",
    "base",
)
#: Elements that start a paragraph (a blank line around them).
_PARAGRAPH_TAGS = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "figure",
        "figcaption",
        "address",
        "form",
        "fieldset",
        "details",
        "summary",
        "hr",
    }
)
#: Elements that start a line.
_LINE_TAGS = frozenset({"div", "li", "tr", "dt", "dd", "caption", "option", "legend"})
#: Elements whose whitespace is meaningful.
_PREFORMATTED = frozenset({"pre", "textarea"})
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_PARAGRAPH_MARK = "\ue000"
_LINE_MARK = "\ue001"
#: A run of breaks and markers, with the spaces around them.
_BREAK_RUN_RE = re.compile("[ \t]*(?:[\n\ue000\ue001][ \t]*)+")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_plain_text(data: bytes) -> str:
    """A plain-text file (.txt, .md, or anything unknown that turns out to be text)."""
    return decode_text(data)


#: Main text shorter than this is not trusted as "the article": on a short page there is too
#: little for trafilatura to tell content from boilerplate, and it may keep one paragraph of a
#: page that is all content. The page's whole visible text is kept instead. (trafilatura's own
#: ``min_extracted_size`` default is the same figure.)
MIN_MAIN_TEXT_CHARS = 250
#: Deeper element nesting than any real page has. Tree-building parsers take time quadratic in
#: the depth (a page of 50,000 nested <div>s took 144 s), so such markup is read by a linear
#: tag stripper instead (bench/bench_robustness.py, "deeply nested HTML").
MAX_NESTING_DEPTH = 1_000
DEEP_NESTING_NOTE = (
    f"HTML: elements nested more than {MAX_NESTING_DEPTH:,} deep; markup stripped without a parser"
)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^>]*?(/?)>")
#: Elements that never nest (void) or whose end tag HTML lets a page leave out (a page of 2,000
#: unclosed <p>s is not 2,000 deep): neither counts towards the depth.
_FLAT_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
     "wbr", "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup", "thead", "tbody", "tfoot",
     "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body"}
)
_HIDDEN_BLOCK_RE = re.compile(
    r"<(script|style|noscript|template|svg|title)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
MAIN_TEXT_NOTE = "HTML: main content only (trafilatura); navigation, sidebars and footer left out"
FALLBACK_NOTE = (
    "HTML: no main article found (trafilatura); kept all the page's visible text, "
    "navigation and footer included"
)


@dataclass(frozen=True)
class HtmlText:
    """An HTML page's text and how it was obtained (a note for :attr:`Document.notes`)."""

    text: str
    note: str


def read_html_page(data: bytes) -> HtmlText:
    """An HTML page's main content: the article without navigation, header, cookie banner,
    sidebars and footer, found by trafilatura.

    When trafilatura finds no main text (or under :data:`MIN_MAIN_TEXT_CHARS`, or fails), the
    page's whole visible text (:func:`read_html`) is kept and the note says so. Either way the
    text is rendered the same way: entities decoded, markup stripped, one block per line, the
    page title first.
    """
    markup = _decode_html(data)
    if _nesting_depth(markup) > MAX_NESTING_DEPTH:
        return HtmlText(_stripped_text(markup), DEEP_NESTING_NOTE)
    main = _main_content_markup(markup)
    if main is None:
        return HtmlText(_visible_text(markup), FALLBACK_NOTE)
    body = _visible_text(main)
    title = _page_title(markup)
    if title and not body.startswith(title):
        body = f"{title}\n\n{body}"
    return HtmlText(body, MAIN_TEXT_NOTE)


def _main_content_markup(markup: str) -> str | None:
    """trafilatura's main content as HTML (``<p>``, ``<h1>``, ``<ul>``, ``<table>`` kept), or
    ``None`` when it finds none worth trusting."""
    try:
        import trafilatura

        main = trafilatura.extract(
            markup,
            output_format="html",
            favor_precision=True,  # no whole-page "baseline" dump when the article is not found
            include_comments=False,  # readers' comments are not the document
            include_tables=True,
            include_images=False,
            include_links=False,
            deduplicate=False,
            with_metadata=False,
        )
    except Exception as error:  # any failure inside the extractor: the plain reader still works
        logging.getLogger(__name__).warning("trafilatura failed, keeping all visible text: %s", error)
        return None
    if not main:
        return None
    from bs4 import BeautifulSoup

    if len(BeautifulSoup(main, "html.parser").get_text(" ", strip=True)) < MIN_MAIN_TEXT_CHARS:
        return None
    return main


def read_html(data: bytes) -> str:
    """Visible text of a whole HTML page: no markup, no scripts or styles, one block per line.

    Entities are decoded (``&amp;`` → ``&``); text that looks like markup after decoding
    (``&lt;b&gt;``) is kept as the literal characters a reader of the page would see.
    """
    return _visible_text(_decode_html(data))


def _decode_html(data: bytes) -> str:
    declared = _META_CHARSET_RE.search(data[:4096])
    text = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    return text.replace(_PARAGRAPH_MARK, "").replace(_LINE_MARK, "")


def _page_title(markup: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    return soup.title.get_text(" ", strip=True) if soup.title else ""


def _nesting_depth(markup: str) -> int:
    """The deepest element nesting in ``markup`` (one linear pass over its tags)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG_RE.findall(markup):
        if closing:
            if name.lower() not in _FLAT_TAGS:
                depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _FLAT_TAGS:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _stripped_text(markup: str) -> str:
    """Visible text without a parser, linear in the markup: hidden blocks and comments dropped,
    block tags become line breaks, other tags go, entities decoded (the page title first)."""
    import html

    title = re.search(r"<title\b[^>]*>(.*?)</title\s*>", markup, re.IGNORECASE | re.DOTALL)
    body = _HIDDEN_BLOCK_RE.sub(" ", markup)
    blocks = "|".join(sorted(_LINE_TAGS | _PARAGRAPH_TAGS | {"br"}))
    body = re.sub(rf"</?(?:{blocks})\b[^>]*>", "\n", body, flags=re.IGNORECASE)
    body = html.unescape(re.sub(r"<[^>]*>", " ", body))
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in body.splitlines())
    text = "\n".join(line for line in lines if line)
    heading = html.unescape(re.sub(r"<[^>]*>", " ", title.group(1))).strip() if title else ""
    return f"{heading}\n\n{text}" if heading and not text.startswith(heading) else text


def _visible_text(markup: str) -> str:
    """The text a reader of ``markup`` sees, the page title first."""
    if _nesting_depth(markup) > MAX_NESTING_DEPTH:
        return _stripped_text(markup)
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(markup, "html.parser")
    # The page title is the one thing in <head> a reader sees; keep it as the first line.
    title = soup.title.get_text(" ", strip=True) if soup.title else ""  # before <title> goes
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, Comment | Declaration | Doctype | ProcessingInstruction):
            node.extract()
        elif not any(parent.name in _PREFORMATTED for parent in node.parents):
            # Source line breaks inside a paragraph are just spaces once rendered.
            node.replace_with(re.sub(r"\s+", " ", str(node)))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(["td", "th"]):
        tag.insert_after(" ")
    # Block boundaries are marked, not spaced: nested blocks (<li> in <ul>) must give one break,
    # not the sum of their breaks. The markers are private-use characters removed below.
    for tag in soup.find_all(sorted(_LINE_TAGS | _PARAGRAPH_TAGS)):
        mark = _PARAGRAPH_MARK if tag.name in _PARAGRAPH_TAGS else _LINE_MARK
        tag.insert_before(mark)
        tag.insert_after(mark)
    body = _BREAK_RUN_RE.sub(_break_for, soup.get_text())
    body = re.sub(r"[ \t]+", " ", body).strip()
    if title and not body.startswith(title):
        body = f"{title}\n\n{body}"
    return body


def _break_for(run: re.Match[str]) -> str:
    """A paragraph mark or two explicit line breaks (``<br><br>``) → blank line; else newline."""
    text = run.group(0)
    return "\n\n" if _PARAGRAPH_MARK in text or text.count("\n") >= 2 else "\n"


def read_pdf(data: bytes, limits: ReadLimits) -> str:
    """Text of every page of a PDF, pages separated by a blank line.

    Encrypted PDFs are opened only when the empty password works (PDFs that merely restrict
    printing or copying); scanned PDFs without a text layer are refused with an OCR hint.
    """
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if b"%PDF-" not in data[:1024]:
        raise ReadFailure("corrupt", "it is not a PDF file (no %PDF header). Check the file.")
    # pypdf logs every recoverable oddity of real-world PDFs; they are not the user's business.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise ReadFailure("encrypted", _encrypted_reason()) from exc
            if not opened:
                raise ReadFailure("encrypted", _encrypted_reason())
        pages = reader.pages
        page_count = len(pages)
    except ReadFailure:
        raise
    except FileNotDecryptedError as exc:
        raise ReadFailure("encrypted", _encrypted_reason()) from exc
    except Exception as exc:  # pypdf raises many types on broken files; all mean "corrupt"
        raise ReadFailure("corrupt", _broken_pdf_reason(exc)) from exc
    texts: list[str] = []
    total = 0
    failed = 0
    for index in range(page_count):
        try:
            page_text = pages[index].extract_text() or ""
        except Exception:  # one broken page should not cost the others
            failed += 1
            continue
        total += len(page_text)
        if total > limits.max_chars:
            raise ReadFailure(
                "too_large",
                f"its text is longer than {limits.max_chars:,} characters, the limit per "
                "document. Split it into smaller files.",
            )
        texts.append(page_text.strip())
    text = "\n\n".join(t for t in texts if t)
    if not text.strip():
        if failed:
            raise ReadFailure(
                "corrupt",
                f"the text of its pages could not be extracted ({failed} of {page_count} "
                "pages are damaged). Re-save or re-export the PDF.",
            )
        raise ReadFailure(
            "no_text",
            f"the PDF has {page_count} page(s) but no extractable text; it is probably a "
            "scanned image. Run OCR on it (e.g. ocrmypdf) or upload the text instead.",
        )
    return text


def read_docx(data: bytes, limits: ReadLimits) -> str:
    """Text of a Word .docx file: its paragraphs and table cells, in document order.

    Each table row becomes one line with its cells separated by tabs. Headers, footers,
    comments and text boxes are not read.
    """
    import docx
    from docx.table import Table

    if data.startswith(_OLE_MAGIC):
        raise ReadFailure(
            "unsupported",
            "it is an old binary Word (.doc) file renamed .docx. Save it as .docx or PDF in Word.",
        )
    _check_zip_container(data, limits, "Word .docx")
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_lines(block))
            else:
                lines.append(block.text)
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
        raise ReadFailure(
            "corrupt",
            f"it is not a valid Word .docx file ({type(exc).__name__}). Open it in Word and save it again.",
        ) from exc
    return "\n".join(lines)


def _table_lines(table: object) -> list[str]:
    lines = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell appears once per grid column it spans; keep it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        lines.append("\t".join(cells))
    return lines


def _check_zip_container(data: bytes, limits: ReadLimits, what: str) -> None:
    """DOCX files are zips: refuse one that would expand past the archive limit (a zip bomb).

    zipfile never returns more than a member's declared size, so the declared sizes bound
    what python-docx can decompress.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReadFailure(
            "corrupt", f"it is not a valid {what} file (damaged or truncated). Save it again."
        ) from exc
    if expanded > limits.max_archive_bytes:
        raise ReadFailure(
            "limit",
            f"it would expand to {human_bytes(expanded)}, more than the "
            f"{human_bytes(limits.max_archive_bytes)} allowed (a guard against zip bombs).",
        )


def _encrypted_reason() -> str:
    return "it is an encrypted PDF. Remove the password (e.g. print it to a new PDF) and retry."


def _broken_pdf_reason(exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return f"the PDF is damaged or truncated ({detail}). Re-save or re-export it and retry."
