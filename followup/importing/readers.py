"""Reading export files as rows of cells: CSV in any of the usual encodings, and .xlsx.

A reader streams: it holds one row at a time, so a file's size does not raise
memory. Structural problems (unreadable file, undecodable text, mojibake) are
``DataError``; problems with one row are left to the importer.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from dataclasses import dataclass
from pathlib import Path

from followup.errors import DataError
from followup.i18n import N_
from followup.importing.values import cell_text

CHUNK = 1 << 20
_CYRILLIC_WORD = re.compile(r"[А-Яа-яЁё]{4,}")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_ASCII = re.compile(r"[\x00-\x7f]+")
_CASE_CHAOS = re.compile(r"[а-яё][А-ЯЁ]")  # a capital inside a word: KOI8-R or cp866 read as cp1251


@dataclass
class Opened:
    """One file opened for reading: what it is, and its rows."""

    path: Path
    sha256: str
    size: int
    format: str            # "csv" or "xlsx"
    encoding: str | None   # for CSV
    delimiter: str | None  # for CSV
    headers: list[str]
    batches: Callable[[int], Iterator[tuple[list[int], list[list[str]]]]]  # n -> (line numbers, rows)
    close: Callable[[], None]


def file_digest(path: Path) -> tuple[str, int, bool]:
    """SHA-256, size, and whether the bytes are strict UTF-8 — in one pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8 = True
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                size += len(chunk)
                digest.update(chunk)
                if utf8:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    except FileNotFoundError:
        raise DataError(N_("{path}: no such file"), path=path) from None
    except IsADirectoryError:
        raise DataError(N_("{path}: is a directory"), path=path) from None
    except PermissionError:
        raise DataError(N_("{path}: permission denied"), path=path) from None
    except OSError as exc:
        raise DataError(N_("{path}: cannot be read ({reason})"), path=path, reason=exc.strerror) from None
    return digest.hexdigest(), size, utf8


def looks_like_mojibake(text: str, *, decoded_as_fallback: bool) -> bool:
    """True when the text is Cyrillic garbled by a wrong encoding somewhere on its way.

    Catches UTF-8 read as cp1251/cp1252 and saved again ("Р˜РІР°РЅ"), text that
    already lost characters (U+FFFD), and (for a cp1251 fallback) KOI8-R or
    cp866 bytes read as cp1251.
    """
    if "\ufffd" in text:
        return True
    high = _ASCII.sub("", text)
    if not high:
        return False
    for enc in ("cp1251", "cp1252"):
        try:
            repaired = high.encode(enc).decode("utf-8")
        except UnicodeError:
            continue
        if len(repaired) < len(high):
            return True
    # Each Cyrillic letter of UTF-8 read as cp1251 starts with "Р" or "С" (as cp1252: "Ð" or "Ñ");
    # in real Russian text those two capitals are a few per cent of the letters.
    leads = sum(high.count(ch) for ch in "РСÐÑ")
    if len(high) >= 8 and leads > 0.35 * len(high):
        return True
    if decoded_as_fallback:
        if len(_CYRILLIC.findall(high)) < 0.6 * len(high):
            return True
        words = len(_CYRILLIC_WORD.findall(text))
        if words and len(_CASE_CHAOS.findall(text)) > 0.3 * words:
            return True
    return False


def _pick_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ";"


def open_csv(path: Path, *, encoding: str | None, fallback: str, delimiter: str | None,
             sha256: str, size: int, is_utf8: bool) -> Opened:
    if encoding:
        chosen = encoding
    elif is_utf8:
        chosen = "utf-8-sig"
    else:
        chosen = fallback
    used_fallback = not encoding and not is_utf8
    try:
        with open(path, encoding=chosen, errors="strict", newline="") as fh:
            sample = fh.read(256 * 1024)
    except UnicodeDecodeError:
        raise DataError(N_("{path}: the text is not valid {encoding}"), path=path, encoding=chosen) from None
    except LookupError:
        raise DataError(N_("unknown encoding {encoding!r}"), encoding=chosen) from None
    if "\x00" in sample:
        raise DataError(N_("{path}: binary data (NUL bytes) - not a text export"), path=path)
    if not sample.strip():
        raise DataError(N_("{path}: the file is empty"), path=path)
    if looks_like_mojibake(sample, decoded_as_fallback=used_fallback):
        raise DataError(N_("{path}: the text looks garbled (mojibake) when read as {encoding}; re-export it, or "
                           "name its encoding in a mapping file"), path=path, encoding=chosen)
    header_line = sample.splitlines()[0] if sample.splitlines() else ""
    delim = delimiter or _pick_delimiter(header_line)

    fh = open(path, encoding=chosen, errors="strict", newline="")
    reader = csv.reader(fh, delimiter=delim, strict=True)  # a quote left open is an error, not glued text
    try:
        headers = next(reader)
    except StopIteration:
        fh.close()
        raise DataError(N_("{path}: the file is empty"), path=path) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        fh.close()
        raise DataError(N_("{path}: line 1: cannot be read as CSV ({reason})"), path=path, reason=exc) from None
    headers = [h.strip() for h in headers]

    def batches(n: int) -> Iterator[tuple[Sequence[int], list[list[str]]]]:
        """Rows n at a time, read in C; line numbers are worked out only where a quoted
        value spans lines (otherwise row k of a batch is simply line start + k)."""
        end = reader.line_num
        try:
            while rows := list(islice(reader, n)):
                start, end = end, reader.line_num
                if end - start == len(rows):
                    yield range(start + 1, end + 1), rows
                    continue
                lines, line = [], end + 1
                for row in reversed(rows):  # walk back from the last row's end to each row's first line
                    line -= 1 + sum(c.count("\n") for c in row)
                    lines.append(line)
                lines.reverse()
                yield lines, rows
        except csv.Error as exc:
            raise DataError(N_("{path}: line {line}: broken CSV ({reason})"), path=path, line=reader.line_num,
                               reason=exc) from None
        except UnicodeDecodeError:
            raise DataError(N_("{path}: near line {line}: the text is not valid {encoding}"), path=path,
                               line=reader.line_num, encoding=chosen) from None

    return Opened(path, sha256, size, "csv", chosen.replace("-sig", ""), delim, headers, batches,
                  fh.close)


def open_xlsx(path: Path, *, sha256: str, size: int) -> Opened:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DataError(N_("{path}: not a readable .xlsx workbook ({reason})"), path=path,
                           reason=type(exc).__name__) from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    headers = None
    line = 0
    for values in it:
        line += 1
        if values and any(v not in (None, "") for v in values):
            headers = ["" if v is None else str(v).strip() for v in values]
            break
    if headers is None:
        wb.close()
        raise DataError(N_("{path}: the workbook's first sheet is empty"), path=path)
    start = line

    def batches(n: int) -> Iterator[tuple[list[int], list[list[str]]]]:
        line = start
        lines: list[int] = []
        rows: list[list[str]] = []
        for values in it:
            line += 1
            lines.append(line)
            rows.append([cell_text(v) for v in values])
            if len(rows) >= n:
                yield lines, rows
                lines, rows = [], []
        if rows:
            yield lines, rows

    return Opened(path, sha256, size, "xlsx", None, None, headers, batches, wb.close)


def open_export(path: Path, *, encoding: str | None = None, fallback: str = "cp1251",
                delimiter: str | None = None) -> Opened:
    """Open a CSV or .xlsx export for streaming its rows."""
    path = Path(path)
    sha256, size, is_utf8 = file_digest(path)
    if size == 0:
        raise DataError(N_("{path}: the file is empty"), path=path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.suffix.lower() in (".xlsx", ".xlsm") or magic == b"PK\x03\x04":
        return open_xlsx(path, sha256=sha256, size=size)
    return open_csv(path, encoding=encoding, fallback=fallback, delimiter=delimiter,
                    sha256=sha256, size=size, is_utf8=is_utf8)
