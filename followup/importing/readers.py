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
from followup.i18n import Msg, N_, msg
from followup.importing.fields import MAX_HEADER_ROW
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


# Cyrillic UTF-8 read as cp1251 always puts Р or С before a character that is neither ASCII nor a
# Cyrillic letter; lost characters leave U+FFFD. Text without either is never garbled that way.
MOJIBAKE_HINT = re.compile("[РСÐÑ][^\x00-\x7fА-Яа-яЁё]|\ufffd")


def garbled(value: str) -> bool:
    """Whether one value is garbled text: the cheap hint first, then the full judgement."""
    return (not value.isascii() and MOJIBAKE_HINT.search(value) is not None
            and looks_like_mojibake(value, decoded_as_fallback=False))


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


def _pick_delimiter(sample: str) -> str:
    """The delimiter that splits the first lines into a consistent number of columns (so a comma
    inside a header text, or title rows above the header, do not fool it); ';' when in doubt."""
    import io
    from collections import Counter

    lines = sample.splitlines()[:60]
    if len(sample) >= 256 * 1024 and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be cut too
    text = "\n".join(lines)
    best, best_score = ";", (0, 0)
    for delim in (";", "\t", ",", "|"):
        try:
            widths = [len(r) for r in csv.reader(io.StringIO(text), delimiter=delim) if any(c.strip() for c in r)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, rows = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = (rows, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _header_at(rows: list[list[str]], judge: Callable[[list[str]], bool] | None, header_row: int | None) -> int:
    """Which of a file's first rows is its header: the one a mapping names, else the first that
    tells what the file holds, else the first that is not blank."""
    if header_row:
        return header_row - 1
    filled = [i for i, r in enumerate(rows) if any(str(c).strip() for c in r if c is not None)]
    if judge:
        for i in filled:
            if judge(["" if c is None else str(c).strip() for c in rows[i]]):
                return i
    return filled[0] if filled else 0


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _bom_encoding(path: Path) -> str | None:
    """UTF-16 or UTF-32 by the byte-order mark (Excel's "Unicode text" is UTF-16 with one)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), None)


def open_csv(path: Path, *, encoding: str | None, fallback: str, delimiter: str | None,
             sha256: str, size: int, is_utf8: bool, judge=None, header_row: int | None = None) -> Opened:
    bom = None if encoding or is_utf8 else _bom_encoding(path)
    if encoding:
        chosen = encoding
    elif is_utf8:
        chosen = "utf-8-sig"
    else:
        chosen = bom or fallback
    used_fallback = not encoding and not is_utf8 and not bom
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
    delim = delimiter or _pick_delimiter(sample)
    import io

    try:
        first = list(islice(csv.reader(io.StringIO(sample), delimiter=delim), MAX_HEADER_ROW))
    except csv.Error:
        first = []
    skip = _header_at(first, judge, header_row) if first else 0

    fh = open(path, encoding=chosen, errors="strict", newline="")
    reader = csv.reader(fh, delimiter=delim, strict=True)  # a quote left open is an error, not glued text
    try:
        for _ in range(skip):  # title rows above the header
            next(reader)
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


def _workbook_problem(path: Path) -> Msg | None:
    """Why a workbook cannot be read, told before openpyxl tries: an encrypted one or an old .xls
    (not a zip at all), one saved as Strict Open XML, or a zip with no workbook in it."""
    import zipfile

    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        return msg(N_("{path}: an encrypted workbook or an old .xls file; save it as an .xlsx workbook without a "
                      "password"), path=path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "xl/workbook.xml" not in names:
                return msg(N_("{path}: not a readable .xlsx workbook ({reason})"), path=path, reason="no xl/workbook.xml")
            with z.open("xl/workbook.xml") as fh:
                head = fh.read(4096)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        return msg(N_("{path}: not a readable .xlsx workbook ({reason})"), path=path, reason=type(exc).__name__)
    if b"purl.oclc.org/ooxml" in head:
        return msg(N_("{path}: the workbook is saved as \"Strict Open XML\", which cannot be read; save it as an "
                      "ordinary Excel workbook (.xlsx)"), path=path)
    return None


_ZEROS = re.compile(r"^0+$")
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """Excel's escapes in cell text (``_x000D_`` is a carriage return) as the characters they are."""
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _shown(cell) -> str:
    """A cell as the spreadsheet shows it: a number formatted 000000 keeps its leading zeros."""
    v = cell.value
    if v is None:
        return ""
    if v.__class__ is str:
        if cell.data_type == "e":  # an error cell (#VALUE!: a date LibreOffice could not hold, 01.01.0001)
            return ""
        return _unescape(v.strip())
    if (v.__class__ is int or (v.__class__ is float and v.is_integer())) and _ZEROS.match(cell.number_format or ""):
        return str(int(v)).zfill(len(cell.number_format))
    return cell_text(v)


def open_xlsx(path: Path, *, sha256: str, size: int, judge=None, sheet: str | None = None,
              header_row: int | None = None) -> Opened:
    problem = _workbook_problem(path)
    if problem is not None:
        raise DataError(problem.msgid, **problem.params)
    import warnings

    from openpyxl import load_workbook

    # openpyxl warns on stderr about odd cells (a date out of range); the cell's value says enough
    warnings.filterwarnings("ignore", module="openpyxl")
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any damage inside the zip (malformed XML, odd parts)
        raise DataError(N_("{path}: not a readable .xlsx workbook ({reason})"), path=path,
                        reason=type(exc).__name__) from None
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise DataError(N_("{path}: no sheet named {sheet!r} (sheets: {sheets})"), path=path, sheet=sheet,
                                sheets=", ".join(wb.sheetnames))
            sheets = [wb[sheet]]
        else:
            sheets = wb.worksheets
        chosen = None
        for ws in sheets:
            first = [[_shown(c) for c in row] for row in islice(ws.iter_rows(), MAX_HEADER_ROW)]
            if not any(any(r) for r in first):
                continue
            at = _header_at(first, judge, header_row)
            if at >= len(first):
                continue
            if chosen is None:
                chosen = (ws, at, first[at])  # the first sheet with anything on it, if none fits
            if judge is None or judge(first[at]):
                chosen = (ws, at, first[at])
                break
        if chosen is None:
            raise DataError(N_("{path}: the workbook's first sheet is empty"), path=path)
    except DataError:
        wb.close()
        raise
    except Exception as exc:  # noqa: BLE001
        wb.close()
        raise DataError(N_("{path}: not a readable .xlsx workbook ({reason})"), path=path,
                        reason=type(exc).__name__) from None
    ws, at, headers = chosen
    headers = [h.strip() for h in headers]
    start = at + 1

    def batches(n: int) -> Iterator[tuple[list[int], list[list[str]]]]:
        line = start
        lines: list[int] = []
        rows: list[list[str]] = []
        try:
            for cells in ws.iter_rows(min_row=start + 1):
                line += 1
                lines.append(line)
                rows.append([_shown(c) for c in cells])
                if len(rows) >= n:
                    yield lines, rows
                    lines, rows = [], []
        except Exception as exc:  # noqa: BLE001 - damage further down the sheet
            raise DataError(N_("{path}: near row {line}: the workbook cannot be read ({reason})"), path=path,
                            line=line, reason=type(exc).__name__) from None
        if rows:
            yield lines, rows

    return Opened(path, sha256, size, "xlsx", None, None, headers, batches, wb.close)


def open_export(path: Path, *, encoding: str | None = None, fallback: str = "cp1251",
                delimiter: str | None = None, judge: Callable[[list[str]], bool] | None = None,
                sheet: str | None = None, header_row: int | None = None) -> Opened:
    """Open a CSV or .xlsx export for streaming its rows.

    The header is the row ``header_row`` names, else the first of the first rows that ``judge``
    accepts (title rows above it are skipped), else the first row that is not blank; in a workbook,
    the first sheet that has such a header is read, unless ``sheet`` names one.
    """
    path = Path(path)
    sha256, size, is_utf8 = file_digest(path)
    if size == 0:
        raise DataError(N_("{path}: the file is empty"), path=path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.suffix.lower() in (".xlsx", ".xlsm") or magic == b"PK\x03\x04":
        return open_xlsx(path, sha256=sha256, size=size, judge=judge, sheet=sheet, header_row=header_row)
    return open_csv(path, encoding=encoding, fallback=fallback, delimiter=delimiter,
                    sha256=sha256, size=size, is_utf8=is_utf8, judge=judge, header_row=header_row)
