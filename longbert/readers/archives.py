"""Archives: zip (members read by their own names) and gzip, with zip-bomb guards.

The archive readers do not know the formats inside; they call back into the dispatcher
(``dispatch(ctx, display, inner_name, data, member, depth)``) for each member.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator

from longbert.readers.base import (
    FileError,
    ReadItem,
    ReadLimits,
    human_bytes,
    is_junk,
    sanitize_member_name,
)
from longbert.readers.items import Context

#: ``dispatch(ctx, display, inner_name, data, member, depth)``: read one file's bytes.
Dispatch = Callable[[Context, str, str, bytes, "str | None", int], Iterator[ReadItem]]
_LIMIT_HINT = "(Streamlit's own upload limit, server.maxUploadSize, is 200 MB by default.)"


def read_zip(
    dispatch: Dispatch,
    ctx: Context,
    display: str,
    inner_name: str,
    data: bytes,
    member: str | None,
    depth: int,
) -> Iterator[ReadItem]:
    """Every file in a zip archive, read by its own (sanitised) name, named ``a.zip/dir/f.txt``.

    Directories and debris (``__MACOSX/``, ``.DS_Store``) are skipped. The member count and the
    total declared expansion are checked before anything is decompressed.
    """
    limits = ctx.limits
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        yield FileError(display, f"it is not a valid zip archive ({exc}).", kind="corrupt")
        return
    with archive:
        entries = []
        for info in infos:
            if info.is_dir():
                continue
            clean = sanitize_member_name(info.filename)
            if clean and not is_junk(clean):
                entries.append((info, clean))
        names = distinct_member_names([clean for _, clean in entries])
        if not entries:
            yield FileError(display, "the archive holds no files.", kind="empty")
            return
        if len(entries) > limits.max_archive_members:
            yield FileError(
                display,
                f"the archive holds {len(entries):,} files, more than the "
                f"{limits.max_archive_members:,} allowed. Split it.",
                kind="limit",
            )
            return
        # zipfile never returns more than a member's declared size, so declared sizes bound
        # the expansion; refusing up front means a zip bomb is never decompressed at all.
        declared = sum(info.file_size for info, _ in entries)
        if declared > ctx.budget.archive_bytes_left():
            yield FileError(
                display,
                f"the archive would expand to {human_bytes(declared)}, more than the "
                f"{human_bytes(limits.max_archive_bytes)} allowed for archives per upload "
                "(a guard against zip bombs). Split it.",
                kind="limit",
            )
            return
        for (info, clean), name in zip(entries, names, strict=True):
            if ctx.budget.exhausted:
                return
            child = f"{display}/{name}"
            child_member = f"{member}/{name}" if member else name
            if info.flag_bits & 0x1:
                yield FileError(
                    child, "it is encrypted in the archive. Zip it without a password.", kind="encrypted"
                )
                continue
            if info.file_size > limits.max_file_bytes:
                yield too_large(child, info.file_size, limits)
                continue
            try:
                with archive.open(info) as handle:
                    content = handle.read(limits.max_file_bytes + 1)
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                OSError,
                NotImplementedError,
                RuntimeError,
            ) as exc:
                yield FileError(child, f"it cannot be extracted from the archive ({exc}).", kind="corrupt")
                continue
            ctx.budget.archive_bytes += len(content)
            yield from dispatch(ctx, child, clean, content, child_member, depth)
            del content


def distinct_member_names(names: list[str]) -> list[str]:
    """``names`` (sanitised member names, in archive order) made distinct: the first of a name
    keeps it, later ones become ``report.txt#2``, ``report.txt#3``... A zip may hold two
    ``report.txt`` entries, and ``a/b.txt`` and ``a\\b.txt`` sanitise to one name; each is its
    own document, and results are keyed by name, so one must not replace the other. Archive order
    makes the names the same on every read (a re-run finds its earlier rows)."""
    taken = set(names)  # a member really called "report.txt#2" keeps that name
    seen: set[str] = set()
    distinct = []
    for name in names:
        unique, copy = name, 1
        while unique in seen or (unique != name and unique in taken):
            copy += 1
            unique = f"{name}#{copy}"
        seen.add(unique)
        distinct.append(unique)
    return distinct


def read_gzip(
    dispatch: Dispatch,
    ctx: Context,
    display: str,
    inner_name: str,
    data: bytes,
    member: str | None,
    depth: int,
) -> Iterator[ReadItem]:
    """A gzip file, decompressed up to a cap, then read by its name without ``.gz``."""
    limits = ctx.limits
    cap = min(limits.max_file_bytes, ctx.budget.archive_bytes_left())
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            content = handle.read(cap + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        yield FileError(display, f"it is not a valid gzip file ({exc}).", kind="corrupt")
        return
    if len(content) > cap:
        yield FileError(
            display,
            f"it expands to more than {human_bytes(cap)}, the most allowed "
            "(a guard against gzip bombs). Split it.",
            kind="limit" if cap < limits.max_file_bytes else "too_large",
        )
        return
    ctx.budget.archive_bytes += len(content)
    base = inner_name.replace("\\", "/").rsplit("/", 1)[-1]
    unpacked = base[: -len(".gz")] if base.lower().endswith(".gz") else base
    # The results keep the name the user knows (notes.txt.gz); the inner name picks the reader.
    yield from dispatch(ctx, display, unpacked, content, member, depth)


def too_large(display: str, size: int, limits: ReadLimits) -> FileError:
    return FileError(
        display,
        f"it is {human_bytes(size)}, over the limit of {human_bytes(limits.max_file_bytes)} per "
        f"file. {_LIMIT_HINT} Split it into smaller files.",
        kind="too_large",
    )
