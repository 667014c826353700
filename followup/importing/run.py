"""One import run: the lock, the order of files, and each file's all-or-nothing transaction."""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
import json
import operator
import os
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from followup import db
from followup.errors import Busy, DatabaseError, DataError, ExitStatus, FollowupError, NotFound, UsageError
from followup.i18n import Msg, N_, msg, nmsg
from followup.importing.convert import Batch, Context, build_converter, two_digit_pivot
from followup.importing.fields import KINDS, Mapping, detect_kind, fits, resolve_columns, used_columns
from followup.importing.readers import open_export
from followup.text import fold

BATCH = 256  # rows; small batches stay in the CPU cache (measured: 2000 was ~15 % slower)
GROUP_ROWS = 8192  # rows a first import writes under one savepoint
BULK_BYTES = 1 << 20  # a first import of a file this large builds its table's indexes at the end
MAX_KEPT_REJECTS = 200
KNOWN_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}
KIND_ORDER = {k: i for i, k in enumerate(KINDS)}  # patients first
_first = operator.itemgetter(0)


@dataclass(frozen=True)
class ImportOptions:
    kind: str | None = None
    mappings: tuple[Mapping, ...] = ()
    full_export: bool = False
    dry_run: bool = False
    force: bool = False
    reject_threshold: float = 0.05
    deactivate_threshold: float = 0.10
    region: str = "RU"
    fallback_encoding: str = "cp1251"
    user: str = ""


@dataclass(frozen=True)
class Reject:
    line: int
    column: str
    reason: Msg              # shown in the reader's language; stored as data (i18n.Msg)


@dataclass
class FileResult:
    path: str
    kind: str | None = None
    sha256: str | None = None
    fingerprint: str | None = None
    size: int | None = None
    format: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deactivated: int = 0
    outcome: str = "running"   # imported | unchanged | dry-run | failed
    message: Msg | None = None
    rejects: list[Reject] = field(default_factory=list)
    notes: list[Msg] = field(default_factory=list)
    exit_code: int = 0

    def record(self) -> dict:
        """The file's record as stored: its messages as data, never in the language of the moment."""
        out = asdict(self)
        out["message"] = json.dumps(self.message.data(), ensure_ascii=False) if self.message else None
        out["rejects"] = [{"line": r.line, "column": r.column, "reason": r.reason.data()} for r in self.rejects]
        out.pop("notes")
        out.pop("exit_code")
        return out


@dataclass
class RunResult:
    run_id: int
    files: list[FileResult]
    duration_s: float

    @property
    def outcome(self) -> str:
        outcomes = {f.outcome for f in self.files}
        if "interrupted" in outcomes:
            return "interrupted"
        if "failed" in outcomes:
            return "failed" if outcomes == {"failed"} else "partial"
        return "ok"


def lock_path(db_path: Path) -> Path:
    return Path(str(db_path) + ".lock")


@contextlib.contextmanager
def import_lock(db_path: Path) -> Iterator[None]:
    """An exclusive lock in a separate file, so two imports never overlap."""
    with exclusive_lock(lock_path(db_path), N_("another import is running (lock held on {path}); try again later")):
        yield


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """An exclusive lock on a file beside the database (created 0600); ``busy`` (a message with
    {path}) when another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # made by another user of the machine: a lock needs no writing
        try:
            fd = os.open(path, os.O_RDONLY)
        except PermissionError:
            raise DatabaseError(N_("the lock file {path} belongs to {owner} and this user cannot open it: run the "
                                   "command as that user, or let this one read the file"),
                                path=path, owner=_owner(path)) from None
        except OSError:  # none, and none can be made: the directory is read-only here
            raise DatabaseError(N_("cannot create the lock file {path} ({reason}): the database's directory cannot "
                                   "be written here; nothing was written"), path=path,
                                reason=exc.strerror or type(exc).__name__) from None
    try:
        try:
            if os.name == "nt":  # pragma: no cover
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise Busy(busy, path=path) from None
        yield
    finally:
        os.close(fd)


def _owner(path: Path) -> str:
    """Who owns a file, by name where the system says (else its user id)."""
    try:
        uid = path.stat().st_uid
    except OSError:
        return "?"
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):  # Windows, or an id without a name
        return str(uid)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a directory gives every file in it with a known suffix, sorted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in KNOWN_SUFFIXES
                           and not q.name.startswith((".", "~$")))
            if not found:
                raise DataError(N_("{path}: no CSV or .xlsx files in this directory"), path=p)
            out.extend(found)
        elif not p.exists():
            raise NotFound(N_("{path}: no such file or directory"), path=p)
        else:
            out.append(p)
    return out


def _stamp(at: dt.datetime) -> str:
    return at.astimezone().isoformat(timespec="seconds")


def import_paths(conn: sqlite3.Connection, db_path: Path, paths: list[Path], options: ImportOptions,
                 *, today: dt.date, on_rows: Callable[[str, int], None] | None = None,
                 now: dt.datetime | None = None) -> RunResult:
    """Import files (patients first), each in its own transaction, and record the run (started at
    ``now``, the clock's by default)."""
    if options.kind and options.kind not in KINDS:
        raise UsageError(N_("unknown kind {value!r} (one of {allowed})"), value=options.kind, allowed=", ".join(KINDS))
    if options.full_export and options.kind not in (None, "patients"):
        raise UsageError(N_("--full-export applies to a patients file only"))
    for m in options.mappings:
        if options.kind and m.kind and m.kind != options.kind:
            raise UsageError(N_("mapping file {path} is for {kind}, not {other}"), path=m.source, kind=m.kind,
                             other=options.kind)
    files = expand_paths(paths)
    with import_lock(db_path):
        started = time.perf_counter()
        began = now or dt.datetime.now()
        run_id = db.start_run(conn, started_at=_stamp(began), user=options.user, options={
            "full_export": options.full_export, "dry_run": options.dry_run, "force": options.force,
            "kind": options.kind, "mapping": ", ".join(m.source or "" for m in options.mappings) or None})
        opened_first = []
        results: list[FileResult] = []
        run = _Run()
        try:
            for path in files:
                result = FileResult(path=str(path))
                try:
                    opened, mapping = _open(path, options)
                except FollowupError as exc:
                    result.outcome, result.message, result.exit_code = "failed", exc.message, exc.exit_code
                    _record_failed(conn, run_id, result)
                    results.append(result)
                    continue
                kind = options.kind or mapping.kind or detect_kind(opened.headers, mapping)
                if kind is None:
                    opened.close()
                    result.outcome, result.exit_code = "failed", DataError.exit_code
                    result.message = msg(N_("{path}: cannot tell what this file holds from its headers (pass --kind "
                                            "or a mapping file)"), path=path)
                    result.sha256, result.size, result.format = opened.sha256, opened.size, opened.format
                    _record_failed(conn, run_id, result)
                    results.append(result)
                    continue
                result.kind = kind
                opened_first.append((KIND_ORDER[kind], len(opened_first), opened, mapping, result))
            for _, _, opened, mapping, result in sorted(opened_first, key=lambda t: t[:2]):
                results.append(result)  # (its outcome is filled in: interrupted, too)
                _import_one(conn, run_id, opened, mapping, result, options, today, on_rows, run)
        finally:
            for _, _, opened, _, _ in opened_first:
                opened.close()
            duration = time.perf_counter() - started
            outcome = RunResult(run_id, results, duration).outcome if results else "failed"
            failures = [r.message for r in results if r.outcome == "failed"]
            db.finish_run(conn, run_id, finished_at=_stamp(began + dt.timedelta(seconds=duration)),
                          duration_s=duration, outcome=outcome,
                          message=json.dumps(failures[0].data(), ensure_ascii=False) if failures else None)
        return RunResult(run_id, results, duration)


def _record_failed(conn, run_id: int, result: FileResult) -> None:
    file_id = db.start_file(conn, run_id, result.path)
    with db.write_transaction(conn):
        db.finish_file(conn, file_id, result.record())


@dataclass
class _Run:
    """What the files of one run tell the files after them."""

    dry_patients: set[str] = field(default_factory=set)  # a dry run's patients, for its other files


def _open(path: Path, options: ImportOptions):
    """Open a file with the mapping that is for it: the one whose ``files`` pattern names it, else the
    one whose columns its headers have (a file two mappings claim is an error naming both); with one
    mapping and no pattern, that mapping."""
    import fnmatch

    named = [m for m in options.mappings if m.files and fnmatch.fnmatch(path.name.casefold(), m.files.casefold())]
    loose = [m for m in options.mappings if not m.files]
    if len(named) > 1:
        raise UsageError(N_("{path}: mapping files {first} and {second} are both for this file"), path=path,
                         first=named[0].source, second=named[1].source)
    if named or len(options.mappings) == 1 and loose:
        mapping = (named or loose)[0]
        return _opened_with(path, mapping, options), mapping

    def judge(headers: list[str]) -> bool:
        return any(fits(m, options.kind, headers) for m in loose) or detect_kind(headers) is not None

    opened = _opened_with(path, Mapping(), options, judge)
    fitting = [m for m in loose if fits(m, options.kind, opened.headers)]
    if len(fitting) > 1:
        opened.close()
        raise UsageError(N_("{path}: mapping files {first} and {second} both fit its headers; say which file each "
                            "is for (files = \"...\" in the mapping)"), path=path, first=fitting[0].source,
                         second=fitting[1].source)
    if not fitting:
        return opened, Mapping()
    mapping = fitting[0]
    if (mapping.encoding, mapping.delimiter, mapping.sheet, mapping.header_row) != (None, None, None, None):
        opened.close()  # read it again as the mapping says
        opened = _opened_with(path, mapping, options)
    return opened, mapping


def _opened_with(path: Path, mapping: Mapping, options: ImportOptions, judge=None):
    if judge is None:
        def judge(headers: list[str]) -> bool:
            return fits(mapping, options.kind, headers) or detect_kind(headers) is not None
    return open_export(path, encoding=mapping.encoding, fallback=options.fallback_encoding,
                       delimiter=mapping.delimiter, judge=judge, sheet=mapping.sheet, header_row=mapping.header_row)


def _fingerprint(sha256: str, kind: str, mapping: Mapping, options: ImportOptions) -> str:
    """The file's bytes plus everything that changes how they are read (--full-export only for a
    patients file: it changes nothing else)."""
    spec = json.dumps([sha256, kind, mapping.spec(), options.full_export and kind == "patients", options.region,
                       options.fallback_encoding], sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()


def _import_one(conn, run_id, opened, mapping: Mapping, result: FileResult, options: ImportOptions, today, on_rows,
                run: _Run) -> None:
    kind = result.kind
    result.sha256, result.size, result.format, result.encoding = (
        opened.sha256, opened.size, opened.format, opened.encoding)
    result.fingerprint = _fingerprint(opened.sha256, kind, mapping, options)
    file_id = db.start_file(conn, run_id, str(opened.path))
    try:
        if not options.force and db.last_imported_fingerprint(conn, kind) == result.fingerprint:
            result.outcome = "unchanged"
            result.message = msg(N_("same file as the last import of this kind; skipped (use --force to re-read)"))
        else:
            with db.foreign_keys_checked_by_caller(conn), db.write_transaction(conn):
                _load(conn, file_id, opened, mapping, result, options, today, on_rows, run)
                if options.dry_run:
                    result.outcome = "dry-run"
                    raise _DryRun
                result.outcome = "imported"
                db.finish_file(conn, file_id, result.record())
            return
    except _DryRun:
        pass
    except FollowupError as exc:
        result.outcome, result.message, result.exit_code = "failed", exc.message, exc.exit_code
        result.inserted = result.updated = result.unchanged = result.deactivated = 0
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see interruptible): the file's transaction is undone
        result.outcome, result.exit_code = "interrupted", ExitStatus.INTERRUPTED
        result.message = msg(N_("interrupted: nothing of this file was written"))
        result.inserted = result.updated = result.unchanged = result.deactivated = 0
        with db.write_transaction(conn):
            db.finish_file(conn, file_id, result.record())
        raise
    finally:
        db.drop_unchanged_table(conn)
    with db.write_transaction(conn):
        db.finish_file(conn, file_id, result.record())


def _import_consents(conn, decisions: list, options: ImportOptions) -> str:
    """Record the export's consent column as consent records with source 'import'.

    Append-only, like every consent; a (purpose, channel) with any record made in followup is
    never touched, and nothing is written where the state already matches.
    """
    from followup.records import PURPOSES

    purposes = [p for p in PURPOSES if p != "marketing"]
    current = db.consent_states(conn, [pid for pid, _ in decisions])
    # a patient erased earlier (`patient forget`) who is back in the export: no consent from the file,
    # only one recorded anew. (Only those without any consent record can be: hashed, not all.)
    known = {pid for pid, _, _ in current}
    erased = db.erased_cards(conn, [pid for pid, _ in decisions], {pid for pid, _ in decisions if pid not in known})
    now = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
    rows, kept = [], 0
    for pid, (granted, channels) in decisions:
        if pid in erased:
            continue
        for purpose in (purposes if granted else list(PURPOSES)):
            for channel in channels:
                state = current.get((pid, purpose, channel))
                if state and state["source"] != "import":
                    kept += 1
                    continue
                if state and bool(state["granted"]) == granted:
                    continue
                rows.append({"patient_id": pid, "purpose": purpose, "channel": channel, "granted": int(granted),
                             "address": None, "window": None, "days": None, "how": "import", "note": None,
                             "source": "import", "recorded_by": options.user or "import", "recorded_at": now})
    db.insert_consents(conn, rows)
    return msg(N_("consent column: {records} written{kept}{erased}"),
               records=nmsg("{n} consent record", "{n} consent records", len(rows)),
               kept=msg(N_(", {n} left as recorded in followup"), n=kept) if kept else "",
               erased=msg(N_(", none for {n} patients erased earlier (a new consent is recorded in followup)"),
                          n=len(erased)) if erased else "")


def _screen(lines: Sequence[int], rows: list[list[str]], width: int, ncols: int,
            rejects: list[Reject]) -> tuple[list, list, int]:
    """Drop blank rows; reject rows too short for the columns needed or with extra filled cells.

    Returns the rows kept, their line numbers, and how many rows were not blank."""
    keep_lines, keep_rows = [], []
    read = 0
    for line, cells in zip(lines, rows):
        if not any(c.strip() for c in cells):
            continue  # a blank line, or one of empty cells
        read += 1
        n = len(cells)
        if n < width:
            rejects.append(Reject(line, "", msg(N_("row has {n} of {total} cells (truncated or a missing delimiter)"),
                                                n=n, total=ncols)))
        elif n > ncols and any(c.strip() for c in cells[ncols:]):
            rejects.append(Reject(line, "", msg(N_("row has {n} cells but the header has {total} (an unquoted "
                                                   "delimiter inside a value?)"), n=n, total=ncols)))
        else:
            keep_lines.append(line)
            keep_rows.append(cells)
    return keep_lines, keep_rows, read


class _DryRun(Exception):
    """Raised inside the transaction so that a dry run rolls everything back."""


@dataclass
class _Converted:
    """One batch, read and converted, on its way to the writer."""

    read: int
    rejects: list[Reject]
    rows: list[tuple]
    lines: Sequence[int]
    doctors: list[tuple[int, str]]
    households: set[str]
    consents: list = field(default_factory=list)  # (patient_id, (granted, channels)) from a consent column
    digests: list = field(default_factory=list)   # of each row's cells (none on a first import)
    known: list = field(default_factory=list)     # (line, place in _Known) of rows stored from the same cells


_FOOTER_WORDS = ("итого", "всего", "total")


def _footer(cells: list[str]) -> bool:
    """A report's total line: its first cell starts with a word like "Итого", and the rest is blank."""
    return bool(cells) and cells[0][:6].casefold().startswith(_FOOTER_WORDS) and not any(
        c.strip() for c in cells[1:])


class _Known:
    """The digests of the stored rows' cells (db.stored_digests, sorted), and what this file did with
    each: ``lines[place]`` is 0 (not met yet), the line that listed the row from the same cells, or
    minus the line of a row with its key but other cells (which rewrote it)."""

    def __init__(self, digests):
        from array import array

        self.digests, self.lines = digests, array("i", bytes(4 * len(digests)))
        # where each of the 65,536 values of a digest's top 16 bits begins: a search looks among the
        # few digests with the same top bits (a digest is as good as random)
        self.starts = array("q", (bisect.bisect_left(digests, (b - 32768) << 48) for b in range(65537)))

    def places(self, digests: Sequence[int]) -> list[int]:
        """Where each digest is among the stored ones, or -1."""
        stored, starts, search = self.digests, self.starts, bisect.bisect_left
        out = []
        for d in digests:
            b = (d >> 48) + 32768
            hi = starts[b + 1]
            i = search(stored, d, starts[b], hi)
            out.append(i if i < hi and stored[i] == d else -1)
        return out

    def place(self, digest: int) -> int:
        return self.places((digest,))[0]


def _converted(opened, convert, ctx: Context, width: int, ncols: int, digest=None,
               known: _Known | None = None) -> Iterator[_Converted]:
    """Parse and convert the file batch by batch; no database work here. Given each row's ``digest``,
    the rows stored from the same cells as last time (``known``) are not converted again (the nightly
    full export: most of it as it was)."""
    for lines, rows in opened.batches(BATCH):
        rejects: list[Reject] = []
        while rows and (_footer(rows[-1]) or not any(map(str.strip, rows[-1]))):  # a report's "Итого: 3"
            rows, lines = rows[:-1], lines[:-1]
        if not rows:
            continue
        # the usual batch: every row as wide as the header and its first cell filled
        if min(map(len, rows)) >= width and max(map(len, rows)) <= ncols and all(map(_first, rows)):
            read = len(rows)
        else:
            lines, rows, read = _screen(lines, rows, width, ncols, rejects)
        digests = digest(rows) if digest is not None else []
        same: list = []
        if known is not None and rows:
            places = known.places(digests)
            if any(p >= 0 for p in places):
                same = [(line, p) for line, p in zip(lines, places) if p >= 0]
                new = [i for i, p in enumerate(places) if p < 0]
                rows, lines, digests = [rows[i] for i in new], [lines[i] for i in new], [digests[i] for i in new]
        batch = Batch()
        stored = convert(rows, batch) if rows else []
        consents = ctx.batch_consents
        if batch.errors:
            rejects.extend(Reject(lines[i], *batch.errors[i]) for i in sorted(batch.errors))
            good = [i for i in range(len(rows)) if i not in batch.errors]
            stored, lines = [stored[i] for i in good], [lines[i] for i in good]
            consents = [consents[i] for i in good] if consents else []
            digests = [digests[i] for i in good] if digests else []
        yield _Converted(read, rejects, stored, lines, *ctx.take_new(), [c for c in consents if c], digests, same)


def _digester(kind: str, index: dict, mapping: Mapping, options: ImportOptions, headers: list[str], today: dt.date):
    """Rows' cells -> the digests their stored rows keep (64 bits, signed, as SQLite stores an integer),
    keyed by everything that changes what the cells are read as: followup's version and its reading
    code, the kind, the columns, the mapping, the region, the century of two-digit years. Read another
    way, no row is known by its digest, and each is converted (and its digest kept) again."""
    from followup import __version__

    here = Path(__file__).resolve().parent
    code = [[(here / name).stat().st_size, (here / name).stat().st_mtime_ns]
            for name in ("convert.py", "values.py", "fields.py", "readers.py", os.path.join("..", "phones.py"))]
    spec = json.dumps([__version__, code, kind, sorted((f, list(i) if isinstance(i, tuple) else i)
                                                       for f, i in index.items()),
                       mapping.spec(), options.region, headers, two_digit_pivot(today)], default=str)
    # (the reading's own digest put before the cells: cheaper than a keyed hash, which hashes a block more)
    head, blake2b, unpack = hashlib.sha256(spec.encode()).hexdigest()[:16] + "\x1f", hashlib.blake2b, \
        struct.Struct(">q").unpack

    def digests(rows: list[list[str]]) -> list[int]:
        return [unpack(blake2b((head + "\x1f".join(cells)).encode(), digest_size=8).digest())[0] for cells in rows]

    return digests


def _load(conn, file_id: int, opened, mapping: Mapping, result: FileResult, options: ImportOptions, today, on_rows,
          run: _Run) -> None:
    """Read, convert and write one file inside the caller's transaction.

    (A reader thread beside the writer was tried and measured slower: the GIL changes
    hands at every row SQLite steps, and the two threads convoy.)
    """
    kind = result.kind
    spec = db.IMPORT_TABLES[kind]
    path = opened.path
    headers = opened.headers
    index = resolve_columns(kind, headers, mapping, str(path))
    used = used_columns(index)
    width = max(used) + 1
    ncols = len(headers)
    unused = [h for i, h in enumerate(headers) if h and i not in used]
    if unused:
        result.notes.append(nmsg("{n} column no field uses, left out: {columns}",
                                 "{n} columns no field uses, left out: {columns}", len(unused),
                                 columns=", ".join(unused)))
    stored = db.patient_ids(conn)
    ctx = Context(
        patients=None if kind == "patients" else (stored | run.dry_patients if run.dry_patients else stored),
        doctors=db.doctor_ids(conn),
        region=options.region,
        pivot_year=two_digit_pivot(today),
        today=today,
    )
    if kind == "patients":
        ctx.stored = stored
    convert = build_converter(kind, index, mapping, ctx, headers)
    positions = spec.columns_from(index)  # columns this file provides; the others are left alone
    db.create_unchanged_table(conn)
    unchanged_total = 0
    fresh = db.is_empty(conn, spec)  # a first import: every key new, unless the file repeats one
    # A first import builds the secondary indexes once at the end (inside the same transaction).
    rebuild = db.drop_secondary_indexes(conn, spec) if fresh and opened.size > BULK_BYTES else []
    nk = len(spec.key)

    def reject(r: Reject) -> None:
        result.rejected += 1
        if len(result.rejects) < MAX_KEPT_REJECTS:
            result.rejects.append(r)

    def write(stored: list[tuple], lines: Sequence[int], digests: Sequence[int], same_cells: Sequence[tuple] = ()
              ) -> None:
        """Insert, update or leave each row after looking up what is stored; find duplicates. The rows
        listed from the same cells as last time ((line, place in ``known``)) are left as they are,
        unless one repeats a key."""
        nonlocal unchanged_total
        keys = [row[:nk] for row in stored]
        existing = db.existing_rows(conn, spec, list(dict.fromkeys(keys)))
        textkeys = {k: "\x1f".join(k) for k in keys}
        seen_unchanged = db.unchanged_among(conn, list(textkeys.values())) if unchanged_total else set()
        first_line: dict[tuple, int] = {}
        inserts, updates, same, inserted_digests, updated_digests, redigested, listed = [], [], [], [], [], [], []
        items = list(zip(lines, keys, stored, digests or [None] * len(stored)))
        if same_cells:  # in the order of the file's lines: the first of a repeated key is the one kept
            items = sorted(items + [(line, None, None, place) for line, place in same_cells], key=_first)
        for line, key, row, d in items:
            if row is None:  # the row is stored from these very cells, unless this file listed its key already
                earlier = known.lines[d]
                if earlier:
                    reject(Reject(line, "/".join(spec.key), msg(N_(
                        "duplicate identifier: already listed earlier in this file{where}"),
                        where=msg(N_(" (line {line})"), line=abs(earlier)))))
                else:
                    known.lines[d] = line
                    listed.append(d)
                continue
            earlier = first_line.get(key)
            old = existing.get(key)
            place = known.place(old[-1]) if known is not None and old is not None and old[-1] is not None else -1
            if place >= 0 and known.lines[place] > 0:  # listed from its old cells earlier in the file
                earlier = earlier or known.lines[place]
            if earlier is not None or textkeys[key] in seen_unchanged or (old is not None and old[-3] == file_id):
                where = msg(N_(" (line {line})"), line=earlier) if earlier is not None else ""
                reject(Reject(line, "/".join(spec.key),
                              msg(N_("duplicate identifier: already listed earlier in this file{where}"), where=where)))
                continue
            first_line[key] = line
            if place >= 0:  # its old cells, met later in the file, list the key again
                known.lines[place] = -line
            if old is None:
                inserts.append(row)
                inserted_digests.append(d)
            elif all(old[i] == row[nk + i] for i in positions) and old[-2] is None:
                same.append(textkeys[key])
                if d is not None and old[-1] != d:  # the same values from other cells: known by these next time
                    redigested.append((d, key))
            else:
                updates.append(row)
                updated_digests.append(d)
        if inserts:
            db.insert_rows(conn, spec, inserts, file_id, inserted_digests)
        if updates:
            db.update_rows(conn, spec, updates, file_id, positions, updated_digests)
        if redigested:
            db.set_digests(conn, spec, redigested)
        if same:
            db.add_unchanged(conn, same)
        if listed and kind == "patients":  # (a full export's patients not listed are marked missing)
            db.add_known(conn, [known.digests[place] for place in listed])
        result.unchanged += len(listed)
        result.inserted += len(inserts)
        result.updated += len(updates)
        result.unchanged += len(same)
        unchanged_total += len(same)

    def add_references(item: _Converted) -> None:
        if item.doctors:
            db.add_doctors(conn, ((i, name, fold(name)) for i, name in item.doctors))
        if item.households:
            db.add_households(conn, item.households)

    # The fast path of a first import: batches go in with INSERT OR IGNORE under one savepoint
    # per group; if any row was ignored (its key already there: a duplicate in the file), the
    # group is rolled back and written again row by row, which names the duplicates.
    group: list[_Converted] = []
    group_rows = group_written = 0

    def close_group() -> None:
        nonlocal group_rows, group_written
        clean = group_written == group_rows
        db.end_savepoint(conn, rollback=not clean)
        if clean:
            result.inserted += group_written
        else:
            for it in group:
                add_references(it)
                write(it.rows, it.lines, it.digests)
        group.clear()
        group_rows = group_written = 0

    consent_decisions: list = []
    # after a first import, rows are known by their cells' digests: only the others are converted
    # (--force converts every row, and keeps their digests)
    digest = None if fresh else _digester(kind, index, mapping, options, headers, today)
    known = None if fresh or options.force else _Known(db.stored_digests(conn, spec))
    if digest is not None and opened.size > BULK_BYTES and (
            known is None or len(known.digests) < db.row_count(conn, spec) // 2):
        # most rows will keep a new digest (the first import after a first one, or after an upgrade):
        # their index is built once at the end, as a first import builds its indexes
        rebuild += db.drop_digest_index(conn, spec)
    for item in _converted(opened, convert, ctx, width, ncols, digest, known):
        consent_decisions.extend(item.consents)
        if options.dry_run and kind == "patients":
            run.dry_patients.update(row[0] for row in item.rows)  # (those known by their cells are stored)
        result.rows_read += item.read
        for r in item.rejects:
            reject(r)
        if fresh and item.rows:
            if not group:
                db.begin_savepoint(conn)
            add_references(item)
            group.append(item)
            group_rows += len(item.rows)
            group_written += db.insert_new_rows(conn, spec, item.rows, file_id)
            if group_rows >= GROUP_ROWS:
                close_group()
        else:
            add_references(item)
            if item.rows or item.known:
                write(item.rows, item.lines, item.digests, item.known)
        if on_rows:
            on_rows(str(path), result.rows_read)
    if group:
        close_group()
    db.create_indexes(conn, rebuild)
    result.rejects.sort(key=lambda r: r.line)
    if consent_decisions:
        result.notes.append(_import_consents(conn, consent_decisions, options))

    if result.rows_read == 0:
        raise DataError(N_("{path}: no data rows under the header"), path=path)
    if result.rejected > options.reject_threshold * result.rows_read:
        first = result.rejects[0]
        raise DataError(N_(
            "{path}: {rejected} of {read} rows rejected (over the {limit} limit); nothing imported. First: line "
            "{line}{column}: {reason}"), path=path, rejected=result.rejected, read=result.rows_read,
            limit=f"{options.reject_threshold:.0%}", line=first.line, column=", " + first.column if first.column else "",
            reason=first.reason)
    if ctx.invalid_phones:
        result.notes.append(nmsg("{n} phone number invalid or incomplete: kept as given, flagged, never dialled",
                                 "{n} phone numbers invalid or incomplete: kept as given, flagged, never dialled",
                                 ctx.invalid_phones))
    for f, (column, seen) in sorted(ctx.unmapped.items()):  # (the values themselves are never shown)
        result.notes.append(nmsg(
            "{n} row whose {field} (column {column!r}) the mapping does not name, {values}: taken as 'other' "
            "(map them under [values.{field}])",
            "{n} rows whose {field} (column {column!r}) the mapping does not name, {values}: taken as 'other' "
            "(map them under [values.{field}])",
            sum(seen.values()), field=f, column=column,
            values=nmsg("{n} different value", "{n} different values", len(seen))))
    if options.full_export and kind == "patients":
        present = db.count_present_patients(conn)
        missing = db.count_not_listed(conn, file_id)
        before = present - result.inserted
        if before and missing > options.deactivate_threshold * before:
            raise DataError(N_(
                "{path}: a full export that leaves out {missing} of {before} patients (over the {limit} limit) looks "
                "truncated; nothing imported"), path=path, missing=missing, before=before,
                limit=f"{options.deactivate_threshold:.0%}")
        result.deactivated = db.mark_not_listed_missing(conn, file_id, today.isoformat())
