"""Turning one export row into the tuple stored for it, per kind.

Each converter is built once per file (column positions resolved, value maps
merged) and then called for every row: this is the import's hot path.
A converter returns (key, values) or raises ``RowError(column, reason)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from followup.importing.fields import DEFAULTS, LENIENT_VALUES, VALUES, Mapping
from followup.importing.values import BadValue, cell_text, fold, normalize_phone, parse_date, parse_datetime


class RowError(ValueError):
    def __init__(self, column: str, reason: str):
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


class Context:
    """What converters share across a file: known patients, doctors, households, counters."""

    def __init__(self, *, patients: set[str] | None, doctors: dict[str, int],
                 add_doctor: Callable[[str], int], region: str, pivot_year: int):
        self.patients = patients
        self.doctors = doctors
        self._add_doctor = add_doctor
        self.region = region
        self.pivot_year = pivot_year
        self.households: set[str] = set()
        self.unmapped: dict[str, int] = {}    # "field=value" -> count, for values taken as a default
        self.invalid_phones = 0

    def doctor_id(self, name: str) -> int | None:
        if not name:
            return None
        name = " ".join(name.split())
        found = self.doctors.get(name)
        if found is None:
            found = self.doctors[name] = self._add_doctor(name)
        return found


def build_converter(kind: str, index: dict[str, int], mapping: Mapping, ctx: Context,
                    headers: list[str]) -> Callable[[list], tuple[tuple, tuple]]:
    """A function: cells -> (key, values) in the order of db.IMPORT_TABLES[kind]."""
    fmt = mapping.date_format
    pivot = ctx.pivot_year

    def header(f: str) -> str:
        return headers[index[f]] or f

    def text(cells: list, f: str) -> str:
        i = index.get(f)
        if i is None or i >= len(cells):
            return ""
        v = cells[i]
        return v.strip() if isinstance(v, str) else cell_text(v)

    def date(cells: list, f: str, required: bool = False) -> str | None:
        i = index.get(f)
        v = cells[i] if i is not None and i < len(cells) else None
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                raise RowError(header(f) if i is not None else f, "empty date")
            return None
        try:
            return parse_date(v, date_format=fmt, pivot_year=pivot).isoformat()
        except BadValue as exc:
            raise RowError(header(f), str(exc)) from None

    def stamp(cells: list, f: str) -> str:
        i = index[f]
        v = cells[i] if i < len(cells) else None
        if v is None or (isinstance(v, str) and not v.strip()):
            raise RowError(header(f), "empty date")
        try:
            when = parse_datetime(v, date_format=fmt, pivot_year=pivot)
        except BadValue as exc:
            raise RowError(header(f), str(exc)) from None
        return when.isoformat(sep=" ", timespec="minutes")

    def enum(cells: list, f: str) -> str:
        raw = text(cells, f)
        if not raw:
            return DEFAULTS[kind][f]
        key = fold(raw)
        custom = mapping.values.get(f)
        if custom and key in custom:
            value = custom[key]
        else:
            value = VALUES[kind][f].get(key)
        allowed = set(VALUES[kind][f].values())
        if value in allowed:
            return value
        lenient = LENIENT_VALUES.get((kind, f))
        if lenient:
            label = f"{f}={raw[:40]}"
            ctx.unmapped[label] = ctx.unmapped.get(label, 0) + 1
            return lenient
        raise RowError(header(f), f"unknown value (expected one of {', '.join(sorted(allowed))}; "
                                  f"map it under [values.{f}] in a mapping file)")

    def ident(cells: list, f: str) -> str:
        v = text(cells, f)
        if not v:
            raise RowError(header(f) if f in index else f, "empty identifier")
        return v

    def known_patient(cells: list) -> str:
        pid = ident(cells, "patient_id")
        if ctx.patients is not None and pid not in ctx.patients:
            raise RowError(header("patient_id"), "unknown patient (not in the patients import)")
        return pid

    def phone(cells: list, f: str) -> tuple[str | None, int | None]:
        raw = text(cells, f)
        if not raw:
            return None, None
        number, valid = normalize_phone(raw, ctx.region)
        if not valid:
            ctx.invalid_phones += 1
        return number, int(valid)

    if kind == "patients":
        has_parts = "last_name" in index

        def convert(cells: list) -> tuple[tuple, tuple]:
            pid = ident(cells, "patient_id")
            full = text(cells, "full_name")
            last, first, middle = text(cells, "last_name"), text(cells, "first_name"), text(cells, "middle_name")
            if has_parts and (last or first):
                full = " ".join(p for p in (last, first, middle) if p)
            elif full:
                full = " ".join(full.split())
                parts = full.split(" ", 2)
                last = parts[0]
                first = parts[1] if len(parts) > 1 else ""
                middle = parts[2] if len(parts) > 2 else ""
            if not full:
                raise RowError(header("full_name") if "full_name" in index else header("last_name"),
                               "no name")
            p1, v1 = phone(cells, "phone")
            p2, v2 = phone(cells, "phone2")
            household = text(cells, "household_id") or None
            if household:
                ctx.households.add(household)
            email = text(cells, "email") or None
            return (pid,), (full, last or None, first or None, middle or None, fold(full),
                            date(cells, "birth_date"), p1, v1, p2, v2, email, household,
                            enum(cells, "status"), date(cells, "first_visit"))

    elif kind == "visits":
        def convert(cells: list) -> tuple[tuple, tuple]:
            vid = ident(cells, "visit_id")
            pid = known_patient(cells)
            return (vid,), (pid, ctx.doctor_id(text(cells, "doctor")), date(cells, "date", True),
                            enum(cells, "kind"), date(cells, "control_due"))

    elif kind == "appointments":
        def convert(cells: list) -> tuple[tuple, tuple]:
            aid = ident(cells, "appointment_id")
            pid = known_patient(cells)
            return (aid,), (pid, ctx.doctor_id(text(cells, "doctor")), stamp(cells, "start"),
                            enum(cells, "status"))

    elif kind == "plans":
        def convert(cells: list) -> tuple[tuple, tuple]:
            plan = ident(cells, "plan_id")
            stage = ident(cells, "stage")
            pid = known_patient(cells)
            return (plan, stage), (pid, ctx.doctor_id(text(cells, "doctor")),
                                   text(cells, "stage_title") or None, date(cells, "due_date"),
                                   enum(cells, "status"), date(cells, "signed_date"))
    else:  # pragma: no cover - kinds are checked before
        raise ValueError(kind)
    return convert


def two_digit_pivot(today: dt.date) -> int:
    """A two-digit year more than a year ahead of today is taken as last century."""
    return today.year + 1
