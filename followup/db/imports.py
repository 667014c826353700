"""What the import writes: the imported tables, and the record of every run (no names or phones in it)."""

from __future__ import annotations

import itertools
import json
import operator
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from followup.db.connection import write_transaction

# ---------------------------------------------------------------------------
# Imported tables


@dataclass(frozen=True)
class TableSpec:
    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]   # data columns, in the order the importer fills them
    sources: dict              # data column -> the import field(s) it comes from

    @property
    def all_columns(self) -> tuple[str, ...]:
        return self.key + self.columns

    def columns_from(self, fields) -> tuple[int, ...]:
        """Positions of the data columns that a file with these fields provides."""
        fields = set(fields)
        return tuple(i for i, c in enumerate(self.columns)
                     if fields & set(self.sources.get(c, (c,))))


_NAME_FIELDS = ("full_name", "last_name", "first_name", "middle_name")
_PHONE_FIELDS = ("phone", "phone2")  # a number may move between them: the first that takes SMS is the phone
_PHONE_COLUMNS = ("phone", "phone_valid", "phone2", "phone2_valid", "phone_sms", "phones_other")
_SOURCE_FIELDS = ("source", "referrer")


IMPORT_TABLES = {
    "patients": TableSpec("patients", ("patient_id",), (
        "full_name", "last_name", "first_name", "middle_name", "name_fold", "birth_date",
        "phone", "phone_valid", "phone2", "phone2_valid", "email", "household_id", "status",
        "first_visit", "phone_sms", "phones_other", "source", "source_detail", "address"),
        {**{c: _NAME_FIELDS for c in _NAME_FIELDS + ("name_fold",)}, **{c: _PHONE_FIELDS for c in _PHONE_COLUMNS},
         "source": _SOURCE_FIELDS, "source_detail": _SOURCE_FIELDS}),
    "visits": TableSpec("visits", ("visit_id",), (
        "patient_id", "doctor_id", "date", "kind", "control_due", "amount"), {"doctor_id": ("doctor",)}),
    "appointments": TableSpec("appointments", ("appointment_id",), (
        "patient_id", "doctor_id", "start", "status"), {"doctor_id": ("doctor",)}),
    "plans": TableSpec("plan_stages", ("plan_id", "stage"), (
        "patient_id", "doctor_id", "stage_title", "due_date", "status", "signed_date"),
        {"doctor_id": ("doctor",)}),
}


def existing_rows(conn: sqlite3.Connection, spec: TableSpec, keys: Sequence[tuple]) -> dict[tuple, tuple]:
    """Current rows with these keys: key -> (data columns..., import_file, missing_since, digest)."""
    if not keys:
        return {}
    nk = len(spec.key)
    cols = ", ".join("t." + c for c in spec.all_columns)
    missing = "t.missing_since" if spec.table == "patients" else "NULL"
    if nk == 1:
        sql = (f"SELECT {cols}, t.import_file, {missing}, t.digest FROM {spec.table} t "
               f"WHERE t.{spec.key[0]} IN (SELECT value FROM json_each(?))")
        param = json.dumps([k[0] for k in keys], ensure_ascii=False)
    else:
        on = " AND ".join(f"t.{k} = json_extract(j.value, '$[{i}]')" for i, k in enumerate(spec.key))
        sql = (f"SELECT {cols}, t.import_file, {missing}, t.digest FROM json_each(?) j "
               f"JOIN {spec.table} t ON {on}")
        param = json.dumps([list(k) for k in keys], ensure_ascii=False)
    return {row[:nk]: row[nk:] for row in conn.execute(sql, (param,))}


def insert_rows(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple], file_id: int,
                digests: Sequence[int | None]) -> None:
    """New rows, each with the digest of the cells it was read from (see stored_digests)."""
    cols = spec.all_columns + ("import_file", "digest")
    sql = (f"INSERT INTO {spec.table} ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    conn.executemany(sql, [(*row, file_id, d) for row, d in zip(rows, digests)])


def stored_digests(conn: sqlite3.Connection, spec: TableSpec):
    """The digests the stored rows keep of the cells they were read from, sorted (an array of 64-bit
    integers: 8 bytes a row, 40 MB for a chain's 5 million visits). A patient missing from the full
    exports is left out: listed again, they are written again."""
    from array import array

    present = " AND missing_since IS NULL" if spec.table == "patients" else ""
    digests = array("q")
    cursor = conn.execute(f"SELECT digest FROM {spec.table} INDEXED BY {spec.table}_digest "
                          f"WHERE digest IS NOT NULL{present} ORDER BY digest")
    while rows := cursor.fetchmany(8192):
        digests.extend(r[0] for r in rows)
    return digests


def add_known(conn: sqlite3.Connection, digests: Sequence[int]) -> None:
    conn.executemany("INSERT OR IGNORE INTO temp.import_known (digest) VALUES (?)", [(d,) for d in digests])


def set_digests(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple[int, tuple]]) -> None:
    """(digest, key) of rows read again with the same values from other cells (or read another way)."""
    where = " AND ".join(f"{k} = ?" for k in spec.key)
    conn.executemany(f"UPDATE {spec.table} SET digest = ? WHERE {where}", [(d, *key) for d, key in rows])


def insert_new_rows(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple], file_id: int) -> int:
    """INSERT OR IGNORE, without a look-up first; returns how many rows went in.

    The fast path of a first import: the importer holds a savepoint around a group
    of batches, and rolls back to it if any key turned out to be there already.
    """
    cols = spec.all_columns + ("import_file",)
    sql = (f"INSERT OR IGNORE INTO {spec.table} ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    return conn.executemany(sql, map(operator.add, rows, itertools.repeat((file_id,)))).rowcount


def begin_savepoint(conn: sqlite3.Connection) -> None:
    conn.execute("SAVEPOINT import_group")


def end_savepoint(conn: sqlite3.Connection, *, rollback: bool) -> None:
    if rollback:
        conn.execute("ROLLBACK TO import_group")
    conn.execute("RELEASE import_group")


def drop_secondary_indexes(conn: sqlite3.Connection, spec: TableSpec) -> list[str]:
    """Drop the table's own indexes (not its key) and return their SQL, to build them again after a
    bulk load: one sorted build is far cheaper than half a million scattered inserts."""
    found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                         "AND sql IS NOT NULL", (spec.table,)).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def drop_digest_index(conn: sqlite3.Connection, spec: TableSpec) -> list[str]:
    """Drop the index of the rows' digests and return its SQL (see drop_secondary_indexes)."""
    found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                         (f"{spec.table}_digest",)).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def row_count(conn: sqlite3.Connection, spec: TableSpec) -> int:
    return conn.execute(f"SELECT count(*) FROM {spec.table}").fetchone()[0]


def create_indexes(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    for sql in statements:
        conn.execute(sql)


def is_empty(conn: sqlite3.Connection, spec: TableSpec) -> bool:
    return conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {spec.table})").fetchone()[0] == 1


def update_rows(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple], file_id: int,
                positions: Sequence[int], digests: Sequence[int | None]) -> None:
    """Overwrite only the columns the file provides (``positions`` in spec.columns), and the digest.

    A column the export does not have is left as it is; a patient listed again
    is no longer missing.
    """
    nk = len(spec.key)
    sets = ", ".join(f"{spec.columns[i]} = ?" for i in positions)
    if spec.table == "patients":
        sets += ", missing_since = NULL"
    where = " AND ".join(f"{k} = ?" for k in spec.key)
    sql = f"UPDATE {spec.table} SET {sets}, import_file = ?, digest = ? WHERE {where}"
    conn.executemany(sql, [tuple(row[nk + i] for i in positions) + (file_id, d) + row[:nk]
                           for row, d in zip(rows, digests)])


# Keys that a file listed with unchanged values (not written, so not marked by import_file).
def create_unchanged_table(conn: sqlite3.Connection) -> None:
    """Keys a file listed with unchanged values; and the digests of the rows it listed from the same
    cells as last time (add_known: a full export's patients; see count_not_listed)."""
    conn.execute("DROP TABLE IF EXISTS temp.import_unchanged")
    conn.execute("CREATE TEMP TABLE import_unchanged (k TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("DROP TABLE IF EXISTS temp.import_known")
    conn.execute("CREATE TEMP TABLE import_known (digest INTEGER PRIMARY KEY)")


def drop_unchanged_table(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.import_unchanged")
    conn.execute("DROP TABLE IF EXISTS temp.import_known")


def add_unchanged(conn: sqlite3.Connection, keys: Sequence[str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO temp.import_unchanged (k) VALUES (?)", [(k,) for k in keys])


def unchanged_among(conn: sqlite3.Connection, keys: Sequence[str]) -> set[str]:
    sql = "SELECT k FROM temp.import_unchanged WHERE k IN (SELECT value FROM json_each(?))"
    return {r[0] for r in conn.execute(sql, (json.dumps(list(keys), ensure_ascii=False),))}


def patient_ids(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT patient_id FROM patients")}


def count_present_patients(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM patients WHERE missing_since IS NULL").fetchone()[0]


_NOT_LISTED = (
    "FROM patients WHERE missing_since IS NULL AND import_file IS NOT ? "
    "AND patient_id NOT IN (SELECT k FROM temp.import_unchanged) "
    "AND (digest IS NULL OR digest NOT IN (SELECT digest FROM temp.import_known))"
)


def count_not_listed(conn: sqlite3.Connection, file_id: int) -> int:
    """Present patients that this (full-export) file did not list."""
    return conn.execute(f"SELECT count(*) {_NOT_LISTED}", (file_id,)).fetchone()[0]


def mark_not_listed_missing(conn: sqlite3.Connection, file_id: int, day: str) -> int:
    """Mark patients a full export no longer lists as missing (never deletes them)."""
    cur = conn.execute(
        f"UPDATE patients SET missing_since = ? WHERE patient_id IN (SELECT patient_id {_NOT_LISTED})",
        (day, file_id),
    )
    return cur.rowcount


def doctor_ids(conn: sqlite3.Connection) -> dict[str, int]:
    return {name: id_ for id_, name in conn.execute("SELECT id, name FROM doctors")}


def add_doctors(conn: sqlite3.Connection, doctors: Iterable[tuple[int, str, str]]) -> None:
    """(id, name, folded name) of doctors an import found; the importer assigns the ids."""
    conn.executemany("INSERT OR IGNORE INTO doctors (id, name, name_fold) VALUES (?, ?, ?)", list(doctors))


def add_households(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO households (household_id) VALUES (?)", [(h,) for h in ids])


# ---------------------------------------------------------------------------
# Import runs: every run is recorded, with no names or phones in it.


def first_import_day(conn: sqlite3.Connection):
    """The day of the first import that wrote anything: followup's lists exist from then on."""
    import datetime as dt

    row = conn.execute("SELECT min(r.started_at) FROM import_runs r WHERE EXISTS (SELECT 1 FROM import_files f "
                       "WHERE f.run_id = r.id AND f.outcome = 'imported')").fetchone()
    return dt.date.fromisoformat(row[0][:10]) if row and row[0] else None


def start_run(conn: sqlite3.Connection, *, started_at: str, user: str, options: dict) -> int:
    with write_transaction(conn):
        return conn.execute(
            "INSERT INTO import_runs (started_at, user, options, outcome) VALUES (?, ?, ?, 'running')",
            (started_at, user, json.dumps(options, ensure_ascii=False, sort_keys=True)),
        ).lastrowid


def finish_run(conn: sqlite3.Connection, run_id: int, *, finished_at: str, duration_s: float,
               outcome: str, message: str | None) -> None:
    with write_transaction(conn):
        conn.execute(
            "UPDATE import_runs SET finished_at = ?, duration_s = ?, outcome = ?, message = ? WHERE id = ?",
            (finished_at, round(duration_s, 3), outcome, message, run_id),
        )


def start_file(conn: sqlite3.Connection, run_id: int, path: str) -> int:
    """Recorded (and committed) before the file's own transaction, so a crash leaves a trace."""
    with write_transaction(conn):
        return conn.execute(
            "INSERT INTO import_files (run_id, path, outcome) VALUES (?, ?, 'running')", (run_id, path)
        ).lastrowid


FILE_FIELDS = ("kind", "sha256", "fingerprint", "size", "format", "encoding", "rows_read", "inserted",
               "updated", "unchanged", "rejected", "deactivated", "outcome", "message", "rejects")


def finish_file(conn: sqlite3.Connection, file_id: int, record: dict) -> None:
    values = [record.get(f) for f in FILE_FIELDS]
    values[FILE_FIELDS.index("rejects")] = json.dumps(record.get("rejects") or [], ensure_ascii=False)
    sets = ", ".join(f"{f} = ?" for f in FILE_FIELDS)
    conn.execute(f"UPDATE import_files SET {sets} WHERE id = ?", (*values, file_id))


def last_imported_fingerprint(conn: sqlite3.Connection, kind: str) -> str | None:
    row = conn.execute(
        "SELECT fingerprint FROM import_files WHERE kind = ? AND outcome IN ('imported', 'unchanged') "
        "ORDER BY id DESC LIMIT 1",
        (kind,),
    ).fetchone()
    return row[0] if row else None


def import_history(conn: sqlite3.Connection, limit: int = 20) -> list[dict]:
    runs = [dict(zip(("id", "started_at", "finished_at", "duration_s", "user", "options", "outcome",
                      "message"), r))
            for r in conn.execute("SELECT id, started_at, finished_at, duration_s, user, options, "
                                  "outcome, message FROM import_runs ORDER BY id DESC LIMIT ?", (limit,))]
    cols = ("id", "run_id", "path") + FILE_FIELDS
    for run in runs:
        run["options"] = json.loads(run["options"] or "{}")
        run["files"] = []
        for r in conn.execute(f"SELECT {', '.join(cols)} FROM import_files WHERE run_id = ? ORDER BY id",
                              (run["id"],)):
            f = dict(zip(cols, r))
            f["rejects"] = json.loads(f["rejects"] or "[]")
            run["files"].append(f)
    return runs
