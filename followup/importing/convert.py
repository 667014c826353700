"""Turning a batch of export rows into the tuples stored for them, per kind.

This is the import's hot path (500,000 visits a night in a large clinic), so it
works column by column: a batch is transposed once, and each column is read by
one list comprehension. Dates, enumerations and doctors repeat across rows, so
each distinct text is parsed once per file and memoised. A value that cannot be
read marks its row as rejected with the column's header and a reason that never
repeats the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from itertools import repeat

from followup.i18n import Msg, N_, msg
from followup.importing.readers import MOJIBAKE_HINT, garbled
from followup.importing.fields import DEFAULTS, LENIENT_VALUES, VALUES, Mapping, parse_consent, used_columns
from followup.importing.values import BadValue, is_no_date, parse_amount, parse_date, parse_datetime, source_code
from followup.phones import read_phone_cell
from followup.text import fold

GARBLED = N_("garbled text (mojibake): the export was saved in a wrong encoding")
MEMO_LIMIT = 200_000  # distinct texts remembered per column; then the memo starts afresh
_MISS = object()
_AMBIGUOUS = object()


class _Bad:
    """A memoised reason why a text cannot be read."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


class Context:
    """What converters share across a file: known patients and doctors, and what they found.

    Converters never touch the database (they may run in a thread of their own): a new
    doctor gets the next free id here and waits in ``new_doctors``, new households in
    ``households``, for the writer to store before the rows that name them.
    """

    def __init__(self, *, patients: set[str] | None, doctors: dict[str, int], region: str,
                 pivot_year: int, today: dt.date | None = None):
        self.patients = patients
        self.doctors = doctors
        self._next_doctor = max(doctors.values(), default=0) + 1
        self.region = region
        self.pivot_year = pivot_year
        self.today = today or dt.date(pivot_year - 1, 12, 31)
        self.new_doctors: list[tuple[int, str]] = []
        self.batch_consents: list[tuple[str, tuple[bool, tuple[str, ...]]] | None] = []  # per row of a batch
        self.households: set[str] = set()
        # field -> (its column's header, {value: rows}) for values taken as a default: counted, never shown
        self.unmapped: dict[str, tuple[str, dict[str, int]]] = {}
        self.invalid_phones = 0
        self.stored: set[str] | None = None   # for a patients file: the patients already stored
        self._zeros: dict[int, dict] = {}

    def without_zeros(self, ids: set[str]) -> dict:
        """Card numbers of digits by their value without leading zeros (_AMBIGUOUS where two share one)."""
        found = self._zeros.get(id(ids))  # the sets do not change while a file is read
        if found is None:
            found = self._zeros[id(ids)] = {}
            for pid in ids:
                if pid.isdigit():
                    short = pid.lstrip("0")
                    found[short] = _AMBIGUOUS if short in found else pid
        return found

    def doctor_id(self, raw: str) -> int | None:
        name = " ".join(raw.split())
        if not name:
            return None
        found = self.doctors.get(name)
        if found is None:
            found = self.doctors[name] = self._next_doctor
            self._next_doctor += 1
            self.new_doctors.append((found, name))
        return found

    def take_new(self) -> tuple[list[tuple[int, str]], set[str]]:
        """The doctors and households found since the last call."""
        found = self.new_doctors, self.households
        self.new_doctors, self.households = [], set()
        return found


class Batch:
    """Errors found while converting one batch: row index -> (column, reason), first one wins."""

    def __init__(self):
        self.errors: dict[int, tuple[str, str]] = {}

    def reject(self, i: int, column: str, reason: Msg) -> None:
        self.errors.setdefault(i, (column, reason))


Column = Callable[[Sequence[str], Batch], list]


def build_converter(kind: str, index: dict[str, int], mapping: Mapping, ctx: Context,
                    headers: list[str]) -> Callable[[list[list[str]], Batch], list[tuple]]:
    """A function: (rows of cells, batch) -> rows to store: key columns, then data columns,
    in the order of db.IMPORT_TABLES[kind].

    Every row must have at least max(index)+1 cells (the importer checks); rows with
    errors are still returned, and the batch's ``errors`` says which to leave out.
    """
    pivot = ctx.pivot_year

    def header(f: str) -> str:
        if f not in index:
            return f
        at = index[f]
        return " + ".join(headers[i] or f for i in at) if isinstance(at, tuple) else (headers[at] or f)

    checked: set[int] = set()  # columns whose every distinct text is checked for garbling here

    def memoised(f: str, parse: Callable[[str], object], preset: dict) -> Column:
        """A column read through a memo of text -> value (or _Bad); a garbled text is _Bad too."""
        memo: dict[str, object] = dict(preset)
        if isinstance(index.get(f), int):
            checked.add(index[f])
        bad = {s for s, v in preset.items() if v.__class__ is _Bad}  # texts that cannot be read
        name = header(f)

        def column(col: Sequence[str], batch: Batch) -> list:
            vals = list(map(memo.get, col, repeat(_MISS)))
            if _MISS in vals:
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                    memo.update(preset)
                for i, v in enumerate(vals):
                    if v is _MISS:
                        s = col[i]
                        try:
                            if garbled(s):
                                raise BadValue(GARBLED)
                            v = parse(s)
                        except BadValue as exc:
                            v = _Bad(exc.message)
                            bad.add(s)
                        vals[i] = memo[s] = v
            if bad and not bad.isdisjoint(col):
                for i, v in enumerate(vals):
                    if v.__class__ is _Bad:
                        batch.reject(i, name, v.reason)
            return vals
        return column

    def constant(value) -> Column:
        return lambda col, batch: [value] * len(col)

    def date_column(f: str, required: bool = False) -> Column:
        if f not in index:
            return constant(None)
        fmt = mapping.formats.get(f, mapping.date_format)
        birth = f == "birth_date"
        year = ctx.today.year if birth else pivot

        def parse(s: str):
            if not s.strip() or is_no_date(s):
                if required:
                    raise BadValue(N_("empty date"))
                return None
            day = parse_date(s, date_format=fmt, pivot_year=year)
            if birth and day > ctx.today:  # a birth year written with two digits ("01.01.27"), which a
                day = _century_earlier(day)   # spreadsheet may already have read as 2027
            return day.isoformat()
        return memoised(f, parse, {"": _Bad(msg(N_("empty date")))} if required else {"": None})

    def stamp_column(f: str) -> Column:
        fmt = mapping.formats.get(f, mapping.date_format)

        def parse(s: str):
            if not s.strip() or is_no_date(s):
                raise BadValue(N_("empty date"))
            return parse_datetime(s, date_format=fmt, pivot_year=pivot).isoformat(sep=" ", timespec="minutes")
        return memoised(f, parse, {"": _Bad(msg(N_("empty date")))})

    def enum_column(f: str) -> Column:
        default = DEFAULTS[kind][f]
        if f not in index:
            return constant(default)
        table = {**VALUES[kind][f], **mapping.values.get(f, {})}
        allowed = set(VALUES[kind][f].values())
        lenient = LENIENT_VALUES.get((kind, f))

        def parse(s: str):
            text = s.strip()
            value = table.get(fold(text)) if text else default
            if value in allowed:
                return value
            if lenient:
                return _Lenient(text)
            raise BadValue(N_("unknown value (expected one of {allowed}; map it under [values.{field}] in a "
                              "mapping file)"), allowed=", ".join(sorted(allowed)), field=f)
        read = memoised(f, parse, {"": default})

        def column(col: Sequence[str], batch: Batch) -> list:
            vals = read(col, batch)
            if lenient and any(v.__class__ is _Lenient for v in vals):
                seen = ctx.unmapped.setdefault(f, (header(f), {}))[1]
                for i, v in enumerate(vals):
                    if v.__class__ is _Lenient:
                        seen[v.text] = seen.get(v.text, 0) + 1
                        vals[i] = lenient
            return vals
        return column

    def amount_column(f: str) -> Column:
        if f not in index:
            return constant(None)

        def parse(s: str):
            text = s.strip()
            if not text:
                return None
            amount = parse_amount(text)
            if amount is None:
                raise BadValue(N_("not an amount of money (like 12 345,50)"))
            return amount
        return memoised(f, parse, {"": None})

    def source_columns(col, batch: Batch) -> list[tuple]:
        """(source code, detail) per row: the words of the "source" cell as the vocabulary (or a mapping
        file's [values.source]) has them, else "other" with the words kept; a name in the "referrer"
        cell is a recommendation, by that person."""
        table = mapping.values.get("source", {})
        out = []
        for said, who in zip(col("source"), col("referrer")):
            said, who = " ".join(said.split()), " ".join(who.split())
            code = (table.get(fold(said)) or source_code(said)) if said else None
            if who:
                out.append((code if code and code != "other" else "recommendation", who))
            elif said:
                out.append((code or "other", None if code and code != "other" else said))
            else:
                out.append((None, None))
        return out

    def doctor_column() -> Column:
        if "doctor" not in index:
            return constant(None)
        return memoised("doctor", ctx.doctor_id, {"": None})

    def text_column(f: str) -> Column:
        if f not in index:
            return constant(None)
        return lambda col, batch: [s.strip() or None for s in col]

    def id_column(f: str, known: set[str] | None = None, *, stored: set[str] | None = None) -> Column:
        """Identifiers as given; a card number of digits that is not known as written is matched
        ignoring leading zeros (a spreadsheet turns 000123 into 123). ``known``: ids that must
        exist (a reference to a patient); ``stored``: ids it may be matched to (the patients' key)."""
        name = header(f)
        among = known if known is not None else stored

        def column(col: Sequence[str], batch: Batch) -> list:
            ids = list(map(str.strip, col))
            if "" in ids:
                for i, v in enumerate(ids):
                    if not v:
                        batch.reject(i, name, msg(N_("empty identifier")))
            if among and not among.issuperset(ids) or known is not None and not among:
                zeros = ctx.without_zeros(among)
                for i, v in enumerate(ids):
                    if not v or v in among:
                        continue
                    match = zeros.get(v.lstrip("0"), _MISS) if v.isdigit() else _MISS
                    if match is _AMBIGUOUS:
                        batch.reject(i, name, msg(N_("the card number matches several patients whose numbers differ "
                                                     "only in leading zeros; export the numbers as text")))
                    elif match is not _MISS:
                        ids[i] = match
                    elif known is not None:
                        batch.reject(i, name, msg(N_("unknown patient (not in the patients import)")))
            return ids
        return column

    joined = {f: at for f, at in index.items() if isinstance(at, tuple)}

    last: list = [()]  # the batch's columns, as the last call of cols() made them

    def cols(rows: list[list[str]]) -> Callable[[str], Sequence[str]]:
        transposed = last[0] = list(zip(*rows))

        def col(f: str) -> Sequence[str]:
            if f not in index:
                return ("",) * len(rows)
            if f in joined:  # a field built from two columns ("Дата" + "Время начала"), joined by a space
                return [" ".join(filter(None, map(str.strip, parts))) for parts in zip(*(transposed[i] for i in joined[f]))]
            return transposed[index[f]]
        return col

    if kind == "visits":
        c_id, c_patient, c_doctor = id_column("visit_id"), id_column("patient_id", ctx.patients), doctor_column()
        c_date, c_kind, c_control = date_column("date", True), enum_column("kind"), date_column("control_due")

        c_amount = amount_column("amount")

        def convert(rows: list[list[str]], batch: Batch):
            col = cols(rows)
            return list(zip(c_id(col("visit_id"), batch), c_patient(col("patient_id"), batch),
                            c_doctor(col("doctor"), batch), c_date(col("date"), batch),
                            c_kind(col("kind"), batch), c_control(col("control_due"), batch),
                            c_amount(col("amount"), batch)))

    elif kind == "appointments":
        c_id, c_patient, c_doctor = id_column("appointment_id"), id_column("patient_id", ctx.patients), doctor_column()
        c_start, c_status = stamp_column("start"), enum_column("status")

        def convert(rows: list[list[str]], batch: Batch):
            col = cols(rows)
            return list(zip(c_id(col("appointment_id"), batch), c_patient(col("patient_id"), batch),
                            c_doctor(col("doctor"), batch), c_start(col("start"), batch),
                            c_status(col("status"), batch)))

    elif kind == "plans":
        c_plan, c_stage = id_column("plan_id"), id_column("stage")
        c_patient, c_doctor = id_column("patient_id", ctx.patients), doctor_column()
        c_title, c_due, c_status = text_column("stage_title"), date_column("due_date"), enum_column("status")
        c_signed = date_column("signed_date")

        def convert(rows: list[list[str]], batch: Batch):
            col = cols(rows)
            return list(zip(c_plan(col("plan_id"), batch), c_stage(col("stage"), batch),
                            c_patient(col("patient_id"), batch), c_doctor(col("doctor"), batch),
                            c_title(col("stage_title"), batch), c_due(col("due_date"), batch),
                            c_status(col("status"), batch), c_signed(col("signed_date"), batch)))

    elif kind == "patients":
        c_id = id_column("patient_id", stored=ctx.stored)
        c_birth, c_first_visit, c_status = date_column("birth_date"), date_column("first_visit"), enum_column("status")
        c_email, c_house, c_address = text_column("email"), text_column("household_id"), text_column("address")
        has_parts = "last_name" in index
        name_col = header("full_name") if "full_name" in index else header("last_name")
        region = ctx.region
        has_phone = "phone" in index or "phone2" in index
        has_source = "source" in index or "referrer" in index

        none = (None, None, None, None, None, None)

        def phones(col1: Sequence[str], col2: Sequence[str]) -> list[tuple]:
            """(phone, valid, phone2, valid2, can SMS, others) per row: of every number in the two
            cells, the first that can receive SMS is the phone, else the first valid one."""
            out = []
            for a, b in zip(col1, col2):
                a, b = a.strip(), b.strip()
                if not b:
                    if not a:
                        out.append(none)
                        continue
                    found = read_phone_cell(a, region)
                    if len(found) == 1:  # the usual cell: one number
                        number, ok, sms = found[0]
                        if not ok:
                            ctx.invalid_phones += 1
                        out.append((number, 1 if ok else 0, None, None, 1 if sms else 0, None))
                        continue
                else:
                    found = [*(read_phone_cell(a, region) if a else ()), *read_phone_cell(b, region)]
                if not found:
                    out.append(none)
                    continue
                if any(not ok for _, ok, _ in found):
                    ctx.invalid_phones += 1
                best = next((f for f in found if f[2]), None) or next((f for f in found if f[1]), found[0])
                rest = [f for f in found if f is not best]
                second = rest.pop(0) if rest else (None, None, None)
                others = ", ".join(n for n, _, _ in rest) or None
                out.append((best[0], int(best[1]), second[0], None if second[1] is None else int(second[1]),
                            int(best[2]), others))
            return out

        def names(col, batch: Batch) -> list[tuple]:
            out = []
            for i, (full, last, first, middle) in enumerate(zip(col("full_name"), col("last_name"),
                                                               col("first_name"), col("middle_name"))):
                last, first, middle = last.strip(), first.strip(), middle.strip()
                if has_parts and (last or first):
                    full = " ".join(p for p in (last, first, middle) if p)
                else:
                    full = " ".join(full.split())
                    parts = full.split(" ", 2)
                    last = parts[0]
                    first = parts[1] if len(parts) > 1 else ""
                    middle = parts[2] if len(parts) > 2 else ""
                if not full:
                    batch.reject(i, name_col, msg(N_("no name")))
                out.append((full, last or None, first or None, middle or None, fold(full)))
            return out

        consent_name = header("consent")

        def consents(ids: list[str], col: Sequence[str], batch: Batch) -> list:
            out = []
            for i, (pid, text) in enumerate(zip(ids, col)):
                try:
                    decision = parse_consent(text, mapping.values.get("consent"))
                except ValueError as exc:
                    batch.reject(i, consent_name, exc.message if isinstance(exc, BadValue) else msg(str(exc)))
                    decision = None
                out.append((pid, decision) if decision else None)
            return out

        def convert(rows: list[list[str]], batch: Batch):
            col = cols(rows)
            ids = c_id(col("patient_id"), batch)
            ctx.batch_consents = consents(ids, col("consent"), batch) if "consent" in index else []
            numbers = phones(col("phone"), col("phone2")) if has_phone else repeat((None,) * 6)
            households = c_house(col("household_id"), batch)
            ctx.households.update(h for h in households if h)
            sources = source_columns(col, batch) if has_source else repeat((None, None))
            return [(pid, *name, birth, p1, v1, p2, v2, email, house, status, first, sms, others, *source, address)
                    for pid, name, birth, (p1, v1, p2, v2, sms, others), email, house, status, first, source, address
                    in zip(ids, names(col, batch), c_birth(col("birth_date"), batch), numbers,
                           c_email(col("email"), batch), households, c_status(col("status"), batch),
                           c_first_visit(col("first_visit"), batch), sources, c_address(col("address"), batch))]
    else:  # pragma: no cover - kinds are checked before
        raise ValueError(kind)

    # Garbled text is rejected wherever it is: the memoised columns checked each distinct text
    # above; every other column a field reads is checked here, a column of a batch at a time (all
    # ASCII: a join; else a search for the hint; only a value the search finds is judged in full).
    unchecked = [(j, headers[j] or str(j + 1)) for j in sorted(set(used_columns(index)) - checked)]
    of_kind = convert

    def convert(rows: list[list[str]], batch: Batch):
        out = of_kind(rows, batch)
        transposed = last[0]
        for j, name in unchecked:
            col = transposed[j]
            text = "\x1f".join(col)
            if not text.isascii() and MOJIBAKE_HINT.search(text):
                for i, v in enumerate(col):
                    if garbled(v):
                        batch.reject(i, name, msg(GARBLED))
        return out
    return convert


class _Lenient:
    """A value outside the map, taken as the lenient default and counted."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _century_earlier(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 100)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 100, day=28)


def two_digit_pivot(today: dt.date) -> int:
    """A two-digit year more than a year ahead of today is taken as last century."""
    return today.year + 1
