"""The SQLite store: where it lives, its schema (migrations) and every SQL statement.

A plain Python API with its own exceptions and no CLI imports. The connection
uses WAL, a busy timeout and manual transactions (``BEGIN IMMEDIATE`` for every
multi-step write); sqlite-utils runs the migrations, with plugins off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import operator
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from followup.entryids import shortest_prefixes
from followup.errors import DatabaseError, NotFound
from followup.i18n import N_, tr

ENV_DB = "FOLLOWUP_DB"
BUSY_TIMEOUT_MS = 30_000  # a desk's write waits out an import file's transaction




def default_path() -> Path:
    """--db, else $FOLLOWUP_DB, else the per-user data directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("followup", appauthor=False)) / "followup.db"


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only (health data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def connect(path: Path, *, create: bool = True, migrate: bool = True) -> sqlite3.Connection:
    """Open (and if allowed create) the database, migrated to the current schema.

    Read-only commands pass ``create=False`` so that a mistyped path is refused
    instead of leaving an empty database behind.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise NotFound(tr("no database at {path} (run 'followup import' first, or pass --db)", path=path))
        try:
            _create_private(path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DatabaseError(tr("cannot create the database at {path}: {reason}", path=path, reason=exc.strerror)) from None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(tr("{path} is not a usable SQLite database ({reason})", path=path, reason=exc)) from None
    if mode != "wal":  # e.g. a read-only directory
        conn.execute("PRAGMA journal_mode = DELETE")
    if migrate:
        apply_migrations(conn, path)
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextlib.contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN ... COMMIT: the reads inside see one state of the file, whoever commits meanwhile."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


@contextlib.contextmanager
def busy_timeout(conn: sqlite3.Connection, ms: int) -> Iterator[None]:
    """Wait at most ``ms`` for a lock inside (then 'database is locked'), the usual wait after."""
    conn.execute(f"PRAGMA busy_timeout = {int(ms)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def is_locked_or_readonly(exc: sqlite3.Error) -> bool:
    """Whether a write failed only because another process holds the lock or the file is read-only."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "readonly" in str(exc))


@contextlib.contextmanager
def foreign_keys_checked_by_caller(conn: sqlite3.Connection) -> Iterator[None]:
    """Bulk import: the importer checks every reference itself (known patients, doctors and
    households it adds), so SQLite's per-row foreign-key look-ups are turned off meanwhile."""
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


# ---------------------------------------------------------------------------
# Migrations: append-only, never renamed. A test pins the resulting schema.


def _migrations():
    from sqlite_utils import Migrations

    migrations = Migrations("followup")

    @migrations()
    def m001_initial(db):
        # The imported tables carry no CHECK constraints: each costs about a microsecond a row
        # on a 500,000-row import, and the importer is their only writer, mapping every
        # status and kind through fields.VALUES.
        db.executescript(
            """
            CREATE TABLE doctors (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                name_fold TEXT NOT NULL
            );
            CREATE TABLE households (
                household_id TEXT PRIMARY KEY
            );
            CREATE TABLE patients (
                patient_id TEXT PRIMARY KEY,
                full_name TEXT,
                last_name TEXT,
                first_name TEXT,
                middle_name TEXT,
                name_fold TEXT,
                birth_date TEXT,
                phone TEXT,
                phone_valid INTEGER,
                phone2 TEXT,
                phone2_valid INTEGER,
                email TEXT,
                household_id TEXT REFERENCES households(household_id),
                status TEXT NOT NULL DEFAULT 'active',
                first_visit TEXT,
                missing_since TEXT,
                import_file INTEGER
            );
            CREATE INDEX patients_household ON patients(household_id);
            CREATE TABLE visits (
                visit_id TEXT PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                doctor_id INTEGER REFERENCES doctors(id),
                date TEXT NOT NULL,
                kind TEXT NOT NULL,
                control_due TEXT,
                import_file INTEGER
            );
            CREATE INDEX visits_patient_date ON visits(patient_id, date, kind);  -- covering for the rules
            CREATE TABLE appointments (
                appointment_id TEXT PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                doctor_id INTEGER REFERENCES doctors(id),
                start TEXT NOT NULL,
                status TEXT NOT NULL,
                import_file INTEGER
            );
            CREATE INDEX appointments_patient_start ON appointments(patient_id, start);
            CREATE INDEX appointments_start ON appointments(start);
            CREATE TABLE plan_stages (
                plan_id TEXT NOT NULL,
                stage TEXT NOT NULL,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                doctor_id INTEGER REFERENCES doctors(id),
                stage_title TEXT,
                due_date TEXT,
                status TEXT NOT NULL,
                signed_date TEXT,
                import_file INTEGER,
                PRIMARY KEY (plan_id, stage)
            );
            CREATE INDEX plan_stages_patient ON plan_stages(patient_id);
            CREATE TABLE import_runs (
                id INTEGER PRIMARY KEY,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                duration_s REAL,
                user TEXT,
                options TEXT,
                outcome TEXT NOT NULL,
                message TEXT
            );
            CREATE TABLE import_files (
                id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL REFERENCES import_runs(id),
                path TEXT NOT NULL,
                kind TEXT,
                sha256 TEXT,
                fingerprint TEXT,
                size INTEGER,
                format TEXT,
                encoding TEXT,
                rows_read INTEGER NOT NULL DEFAULT 0,
                inserted INTEGER NOT NULL DEFAULT 0,
                updated INTEGER NOT NULL DEFAULT 0,
                unchanged INTEGER NOT NULL DEFAULT 0,
                rejected INTEGER NOT NULL DEFAULT 0,
                deactivated INTEGER NOT NULL DEFAULT 0,
                outcome TEXT NOT NULL,
                message TEXT,
                rejects TEXT
            );
            CREATE INDEX import_files_kind ON import_files(kind, outcome, id);
            CREATE TABLE settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                updated_by TEXT
            );
            """
        )

    @migrations()
    def m002_contacts(db):
        # Staff-entered data: no import ever writes these tables.
        db.executescript(
            """
            CREATE TABLE consents (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                purpose TEXT NOT NULL,
                channel TEXT NOT NULL,
                granted INTEGER NOT NULL,
                address TEXT,
                window TEXT,
                days TEXT,
                how TEXT NOT NULL,
                note TEXT,
                source TEXT NOT NULL,
                recorded_by TEXT NOT NULL,
                recorded_at TEXT NOT NULL
            );
            CREATE INDEX consents_patient ON consents(patient_id, purpose, channel, recorded_at);
            CREATE TABLE next_contacts (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                due TEXT NOT NULL,
                reason TEXT NOT NULL,
                channel TEXT,
                doctor TEXT,
                recorded_by TEXT NOT NULL,
                recorded_at TEXT NOT NULL
            );
            CREATE INDEX next_contacts_patient ON next_contacts(patient_id);
            CREATE TABLE contacts (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                entry_id TEXT,
                list_date TEXT NOT NULL,
                channel TEXT NOT NULL,
                outcome TEXT NOT NULL,
                reasons TEXT NOT NULL,
                retry_on TEXT,
                callback_on TEXT,
                note TEXT,
                recorded_by TEXT NOT NULL,
                recorded_at TEXT NOT NULL
            );
            CREATE INDEX contacts_patient ON contacts(patient_id, recorded_at);
            CREATE TABLE phone_flags (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                phone TEXT NOT NULL,
                flagged_on TEXT NOT NULL,
                contact_id INTEGER REFERENCES contacts(id),
                recorded_by TEXT NOT NULL
            );
            CREATE INDEX phone_flags_patient ON phone_flags(patient_id);
            CREATE INDEX appointments_status_start ON appointments(status, start);
            CREATE INDEX visits_kind_date ON visits(kind, date, patient_id);
            CREATE INDEX visits_control_due ON visits(control_due) WHERE control_due IS NOT NULL;
            CREATE INDEX plan_stages_due ON plan_stages(status, due_date);
            CREATE INDEX consents_granted ON consents(granted, patient_id);
            """
        )

    @migrations()
    def m003_complaints(db):
        db.executescript(
            """
            CREATE TABLE complaints (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                doctor TEXT,
                text TEXT NOT NULL,
                opened_by TEXT NOT NULL,
                opened_at TEXT NOT NULL,
                action TEXT,
                resolved_by TEXT,
                resolved_at TEXT,
                informed_by TEXT,
                informed_at TEXT
            );
            CREATE INDEX complaints_patient ON complaints(patient_id);
            CREATE INDEX complaints_open ON complaints(resolved_at, opened_at);
            """
        )

    @migrations()
    def m004_surveys(db):
        db.executescript(
            """
            CREATE TABLE surveys (
                id INTEGER PRIMARY KEY,
                patient_id TEXT NOT NULL REFERENCES patients(patient_id),
                visit_id TEXT,
                status TEXT NOT NULL,
                score INTEGER,
                recommend INTEGER,
                expectations TEXT,
                comment TEXT,
                questions TEXT NOT NULL,
                recorded_by TEXT NOT NULL,
                recorded_at TEXT NOT NULL
            );
            CREATE UNIQUE INDEX surveys_treatment ON surveys(patient_id, visit_id) WHERE visit_id IS NOT NULL;
            CREATE TABLE survey_doctors (
                survey_id INTEGER NOT NULL REFERENCES surveys(id),
                doctor TEXT NOT NULL,
                PRIMARY KEY (survey_id, doctor)
            );
            CREATE INDEX survey_doctors_doctor ON survey_doctors(doctor);
            """
        )

    @migrations()
    def m005_survey_themes(db):
        db.executescript(
            """
            CREATE TABLE survey_themes (
                survey_id INTEGER NOT NULL REFERENCES surveys(id),
                theme TEXT NOT NULL,
                assigned_by TEXT NOT NULL,
                assigned_at TEXT NOT NULL,
                PRIMARY KEY (survey_id, theme)
            );
            """
        )

    @migrations()
    def m006_erasures(db):
        # Who erased a patient's data and when; no trace of whom.
        db.executescript(
            """
            CREATE TABLE erasures (
                id INTEGER PRIMARY KEY,
                erased_at TEXT NOT NULL,
                erased_by TEXT NOT NULL,
                rows_erased INTEGER NOT NULL,
                surveys_kept INTEGER NOT NULL
            );
            """
        )

    @migrations()
    def m007_day_plan(db):
        # The day's list, kept so that the dozens of `followup today` a day cost a read. SQLite
        # itself keeps it honest: every write to a patient's staff records (or to the patient)
        # marks that patient for re-planning, and a settings change or an import drops the plan.
        db.executescript(
            """
            CREATE TABLE plan_meta (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                day TEXT NOT NULL,
                stamp TEXT NOT NULL,
                survey_wave INTEGER NOT NULL,
                list BLOB NOT NULL
            );
            CREATE TABLE plan_entries (
                entry_id TEXT PRIMARY KEY,
                shown TEXT NOT NULL,
                patient_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                no_window INTEGER NOT NULL,
                start TEXT NOT NULL,
                priority INTEGER NOT NULL,
                name TEXT NOT NULL,
                payload TEXT NOT NULL
            );
            CREATE INDEX plan_entries_order ON plan_entries(no_window, start, priority, name, channel, patient_id);
            CREATE TABLE plan_members (
                patient_id TEXT NOT NULL,
                entry_id TEXT NOT NULL,
                PRIMARY KEY (patient_id, entry_id)
            ) WITHOUT ROWID;
            CREATE TABLE plan_dirty (patient_id TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TRIGGER plan_stale_settings_i AFTER INSERT ON settings BEGIN DELETE FROM plan_meta; END;
            CREATE TRIGGER plan_stale_settings_u AFTER UPDATE ON settings BEGIN DELETE FROM plan_meta; END;
            CREATE TRIGGER plan_stale_settings_d AFTER DELETE ON settings BEGIN DELETE FROM plan_meta; END;
            CREATE TRIGGER plan_stale_import AFTER UPDATE OF outcome ON import_files WHEN NEW.outcome = 'imported'
                BEGIN DELETE FROM plan_meta; END;
            """
        )
        rows = {"INSERT": "(NEW.patient_id)", "UPDATE": "(OLD.patient_id), (NEW.patient_id)", "DELETE": "(OLD.patient_id)"}
        for table in ("consents", "next_contacts", "contacts", "phone_flags", "complaints", "surveys", "patients"):
            for event, ids in rows.items():
                if (table, event) != ("patients", "INSERT"):  # a new patient has no consent yet
                    db.execute(f"CREATE TRIGGER plan_dirty_{table}_{event.lower()} AFTER {event} ON {table} "
                               f"BEGIN INSERT OR IGNORE INTO plan_dirty VALUES {ids}; END")

    @migrations()
    def m008_contacts_entry(db):
        # `done` checks that an entry of the day is not closed yet, by its id: without this index
        # every `done` read the whole contact history
        db.execute("CREATE INDEX contacts_entry ON contacts(list_date, entry_id)")

    return migrations


# The names of the migrations above, in order: checked with plain SQL on every start, so that
# sqlite-utils is imported only when there is something to apply. A test keeps it in step.
MIGRATION_NAMES = ("m001_initial", "m002_contacts", "m003_complaints", "m004_surveys", "m005_survey_themes",
                   "m006_erasures", "m007_day_plan", "m008_contacts_entry")


def _applied(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'followup' ORDER BY id")]
    except sqlite3.OperationalError:  # no migrations table yet
        return []


def apply_migrations(conn: sqlite3.Connection, path: Path | None = None) -> None:
    """Apply pending migrations, all in one BEGIN IMMEDIATE transaction (a failure leaves the schema
    as it was). A database that already has a schema is first backed up beside itself."""
    applied = _applied(conn)
    if set(MIGRATION_NAMES) <= set(applied):
        return
    if applied and path is not None:
        pending = next(n for n in MIGRATION_NAMES if n not in applied)
        backup(conn, Path(f"{path}.before-{pending}.bak"))
    from sqlite_utils import Database

    db = Database(conn, execute_plugins=False)
    with write_transaction(conn):
        _migrations().apply(db)


def schema_version(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = 'followup' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


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


IMPORT_TABLES = {
    "patients": TableSpec("patients", ("patient_id",), (
        "full_name", "last_name", "first_name", "middle_name", "name_fold", "birth_date",
        "phone", "phone_valid", "phone2", "phone2_valid", "email", "household_id", "status",
        "first_visit"), {**{c: _NAME_FIELDS for c in _NAME_FIELDS + ("name_fold",)},
                         "phone_valid": ("phone",), "phone2_valid": ("phone2",)}),
    "visits": TableSpec("visits", ("visit_id",), (
        "patient_id", "doctor_id", "date", "kind", "control_due"), {"doctor_id": ("doctor",)}),
    "appointments": TableSpec("appointments", ("appointment_id",), (
        "patient_id", "doctor_id", "start", "status"), {"doctor_id": ("doctor",)}),
    "plans": TableSpec("plan_stages", ("plan_id", "stage"), (
        "patient_id", "doctor_id", "stage_title", "due_date", "status", "signed_date"),
        {"doctor_id": ("doctor",)}),
}


def existing_rows(conn: sqlite3.Connection, spec: TableSpec, keys: Sequence[tuple]) -> dict[tuple, tuple]:
    """Current rows with these keys: key -> (data columns..., import_file, missing_since)."""
    if not keys:
        return {}
    nk = len(spec.key)
    cols = ", ".join("t." + c for c in spec.all_columns)
    missing = "t.missing_since" if spec.table == "patients" else "NULL"
    if nk == 1:
        sql = (f"SELECT {cols}, t.import_file, {missing} FROM {spec.table} t "
               f"WHERE t.{spec.key[0]} IN (SELECT value FROM json_each(?))")
        param = json.dumps([k[0] for k in keys], ensure_ascii=False)
    else:
        on = " AND ".join(f"t.{k} = json_extract(j.value, '$[{i}]')" for i, k in enumerate(spec.key))
        sql = (f"SELECT {cols}, t.import_file, {missing} FROM json_each(?) j "
               f"JOIN {spec.table} t ON {on}")
        param = json.dumps([list(k) for k in keys], ensure_ascii=False)
    return {row[:nk]: row[nk:] for row in conn.execute(sql, (param,))}


def insert_rows(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple], file_id: int) -> None:
    cols = spec.all_columns + ("import_file",)
    sql = (f"INSERT INTO {spec.table} ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    conn.executemany(sql, map(operator.add, rows, itertools.repeat((file_id,))))


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


def create_indexes(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    for sql in statements:
        conn.execute(sql)


def is_empty(conn: sqlite3.Connection, spec: TableSpec) -> bool:
    return conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {spec.table})").fetchone()[0] == 1


def update_rows(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple], file_id: int,
                positions: Sequence[int]) -> None:
    """Overwrite only the columns the file provides (``positions`` in spec.columns).

    A column the export does not have is left as it is; a patient listed again
    is no longer missing.
    """
    nk = len(spec.key)
    sets = ", ".join(f"{spec.columns[i]} = ?" for i in positions)
    if spec.table == "patients":
        sets += ", missing_since = NULL"
    where = " AND ".join(f"{k} = ?" for k in spec.key)
    sql = f"UPDATE {spec.table} SET {sets}, import_file = ? WHERE {where}"
    conn.executemany(sql, [tuple(row[nk + i] for i in positions) + (file_id,) + row[:nk] for row in rows])


# Keys that a file listed with unchanged values (not written, so not marked by import_file).
def create_unchanged_table(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.import_unchanged")
    conn.execute("CREATE TEMP TABLE import_unchanged (k TEXT PRIMARY KEY) WITHOUT ROWID")


def drop_unchanged_table(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.import_unchanged")


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
    "AND patient_id NOT IN (SELECT k FROM temp.import_unchanged)"
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


# ---------------------------------------------------------------------------
# Patients


PATIENT_COLUMNS = ("patient_id", "full_name", "birth_date", "phone", "phone_valid", "phone2",
                   "phone2_valid", "email", "household_id", "status", "first_visit", "missing_since")


def get_patient(conn: sqlite3.Connection, patient_id: str) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(PATIENT_COLUMNS)} FROM patients WHERE patient_id = ?",
                       (patient_id,)).fetchone()
    if row is None:
        return None
    patient = dict(zip(PATIENT_COLUMNS, row))
    patient["visits"] = [
        dict(zip(("visit_id", "date", "kind", "doctor", "control_due"), r))
        for r in conn.execute(
            "SELECT v.visit_id, v.date, v.kind, d.name, v.control_due FROM visits v "
            "LEFT JOIN doctors d ON d.id = v.doctor_id WHERE v.patient_id = ? ORDER BY v.date, v.visit_id",
            (patient_id,))
    ]
    patient["appointments"] = [
        dict(zip(("appointment_id", "start", "status", "doctor"), r))
        for r in conn.execute(
            "SELECT a.appointment_id, a.start, a.status, d.name FROM appointments a "
            "LEFT JOIN doctors d ON d.id = a.doctor_id WHERE a.patient_id = ? ORDER BY a.start",
            (patient_id,))
    ]
    patient["plan_stages"] = [
        dict(zip(("plan_id", "stage", "stage_title", "due_date", "status", "signed_date", "doctor"), r))
        for r in conn.execute(
            "SELECT p.plan_id, p.stage, p.stage_title, p.due_date, p.status, p.signed_date, d.name "
            "FROM plan_stages p LEFT JOIN doctors d ON d.id = p.doctor_id WHERE p.patient_id = ? "
            "ORDER BY p.plan_id, p.due_date, p.stage", (patient_id,))
    ]
    patient["household"] = [
        r[0] for r in conn.execute(
            "SELECT patient_id FROM patients WHERE household_id = ? AND patient_id != ? ORDER BY patient_id",
            (patient["household_id"], patient_id))
    ] if patient["household_id"] else []
    return patient


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_patients(conn: sqlite3.Connection, *, name_fold: str | None = None, phone: str | None = None,
                  digits: str | None = None, limit: int = 50) -> list[dict]:
    """By a folded name part, an exact E.164 phone, or a run of digits inside a stored phone."""
    cols = ", ".join(PATIENT_COLUMNS)
    if phone:
        sql, params = f"SELECT {cols} FROM patients WHERE phone = ? OR phone2 = ?", [phone, phone]
    elif digits:
        pattern = f"%{_like_escape(digits)}%"
        sql = (f"SELECT {cols} FROM patients WHERE replace(replace(replace(replace(replace(phone, '+', ''), "
               f"' ', ''), '-', ''), '(', ''), ')', '') LIKE ? ESCAPE '\\' OR phone2 LIKE ? ESCAPE '\\'")
        params = [pattern, pattern]
    else:
        sql = f"SELECT {cols} FROM patients WHERE name_fold LIKE ? ESCAPE '\\'"
        params = [f"%{_like_escape(name_fold or '')}%"]
    sql += " ORDER BY name_fold, patient_id LIMIT ?"
    return [dict(zip(PATIENT_COLUMNS, r)) for r in conn.execute(sql, (*params, limit))]


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("patients", "doctors", "visits", "appointments", "plan_stages")}


# ---------------------------------------------------------------------------
# Consents, agreed next contacts, the contact log (staff data; imports never touch it)


def patient_exists(conn: sqlite3.Connection, patient_id: str) -> bool:
    return conn.execute("SELECT 1 FROM patients WHERE patient_id = ?", (patient_id,)).fetchone() is not None


CONSENT_COLUMNS = ("patient_id", "purpose", "channel", "granted", "address", "window", "days", "how", "note",
                   "source", "recorded_by", "recorded_at")


def add_consents(conn: sqlite3.Connection, rows: Sequence[dict]) -> None:
    """Append consent records (a withdrawal is a record too); one transaction."""
    with write_transaction(conn):
        insert_consents(conn, rows)


def insert_consents(conn: sqlite3.Connection, rows: Sequence[dict]) -> None:
    """Append consent records inside the caller's transaction."""
    sql = (f"INSERT INTO consents ({', '.join(CONSENT_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(CONSENT_COLUMNS))})")
    conn.executemany(sql, [tuple(r[c] for c in CONSENT_COLUMNS) for r in rows])


def consent_states(conn: sqlite3.Connection, patient_ids: Sequence[str]) -> dict[tuple[str, str, str], dict]:
    """(patient, purpose, channel) -> its latest record, plus whether any record came from followup."""
    out: dict[tuple[str, str, str], dict] = {}
    sql = ("SELECT patient_id, purpose, channel, granted, source FROM consents "
           "WHERE patient_id IN (SELECT value FROM json_each(?)) ORDER BY recorded_at, id")
    for pid, purpose, channel, granted, source in conn.execute(sql, (json.dumps(list(patient_ids),
                                                                               ensure_ascii=False),)):
        key = (pid, purpose, channel)
        staff = source != "import" or (key in out and out[key]["source"] != "import")
        out[key] = {"granted": granted, "source": "followup" if staff else "import"}
    return out


def consent_history(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    cols = ("id",) + CONSENT_COLUMNS
    return [dict(zip(cols, r)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM consents WHERE patient_id = ? ORDER BY recorded_at, id", (patient_id,))]


def add_next_contact(conn: sqlite3.Connection, row: dict) -> int:
    cols = ("patient_id", "due", "reason", "channel", "doctor", "recorded_by", "recorded_at")
    with write_transaction(conn):
        return conn.execute(f"INSERT INTO next_contacts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            tuple(row[c] for c in cols)).lastrowid


CONTACT_COLUMNS = ("patient_id", "entry_id", "list_date", "channel", "outcome", "reasons", "retry_on",
                   "callback_on", "note", "recorded_by", "recorded_at")


def record_contact(conn: sqlite3.Connection, contacts: Sequence[dict], *, withdrawals: Sequence[dict] = (),
                   phone_flags: Sequence[dict] = (), entry_id: str | None = None, list_date: str | None = None
                   ) -> list[int]:
    """The outcome of one call (for each patient on it) and its next steps, in one transaction.

    Refuses (nothing written) when the entry was already closed for that list day.
    """
    from followup.errors import Conflict

    sql = (f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})")
    with write_transaction(conn):
        if entry_id and conn.execute("SELECT 1 FROM contacts WHERE entry_id = ? AND list_date = ?",
                                     (entry_id, list_date)).fetchone():
            raise Conflict(N_("entry {entry} of {day} is already closed (see followup log)"), entry=entry_id,
                           day=dt.date.fromisoformat(list_date))
        ids = []
        for c in contacts:
            row = dict(c, reasons=json.dumps(c["reasons"], ensure_ascii=False))
            ids.append(conn.execute(sql, tuple(row[k] for k in CONTACT_COLUMNS)).lastrowid)
        insert_consents(conn, withdrawals)
        for f in phone_flags:
            conn.execute("INSERT INTO phone_flags (patient_id, phone, flagged_on, contact_id, recorded_by) "
                         "VALUES (?, ?, ?, ?, ?)", (f["patient_id"], f["phone"], f["flagged_on"], ids[0],
                                                     f["recorded_by"]))
        return ids


def closed_entry(conn: sqlite3.Connection, given: str, list_date: str) -> str | None:
    """The id of a contact recorded for that list day whose entry id starts with ``given``, if any."""
    row = conn.execute("SELECT entry_id FROM contacts WHERE list_date = ? AND entry_id >= ? AND entry_id < ? LIMIT 1",
                       (list_date, given, given + "~")).fetchone()
    return row[0] if row else None


def contact_log(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    cols = ("id",) + CONTACT_COLUMNS
    out = []
    for r in conn.execute(f"SELECT {', '.join(cols)} FROM contacts WHERE patient_id = ? "
                          f"ORDER BY recorded_at, id", (patient_id,)):
        row = dict(zip(cols, r))
        row["reasons"] = json.loads(row["reasons"])
        out.append(row)
    return out


def household_members(conn: sqlite3.Connection, patient_ids: Iterable[str]) -> list[str]:
    """Everyone in the households of these patients."""
    return [r[0] for r in conn.execute(
        "SELECT p.patient_id FROM patients p WHERE p.household_id IN (SELECT household_id FROM patients "
        "WHERE patient_id IN (SELECT value FROM json_each(?)) AND household_id IS NOT NULL)",
        (json.dumps(list(patient_ids), ensure_ascii=False),))]


def next_contacts(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    cols = ("id", "due", "reason", "channel", "doctor", "recorded_by", "recorded_at")
    return [dict(zip(cols, r)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM next_contacts WHERE patient_id = ? ORDER BY due", (patient_id,))]


# ---------------------------------------------------------------------------
# Records for the rules: set-based, a handful of queries whatever the number of patients


def candidate_patients(conn: sqlite3.Connection, windows: dict[str, str]) -> list[str]:
    """Patients with a granted consent and a record inside one of the rules' date ranges.

    Only these can be due today (see rules.candidate_windows); one query, on indexes.
    """
    sql = """
        WITH cand(patient_id) AS (
            SELECT patient_id FROM appointments
             WHERE status = 'booked' AND start >= :remind_from AND start < :remind_to
            UNION SELECT patient_id FROM plan_stages
             WHERE status = 'planned' AND due_date BETWEEN :plan_from AND :plan_to
            UNION SELECT patient_id FROM visits
             WHERE control_due IS NOT NULL AND control_due BETWEEN :control_from AND :control_to
            UNION SELECT patient_id FROM visits
             WHERE kind = 'treatment_end' AND date BETWEEN :survey_from AND :survey_to
            UNION SELECT v.patient_id FROM visits v            -- recall: the last hygiene visit ...
             WHERE v.kind = 'hygiene' AND v.date BETWEEN :recall_from AND :recall_to
               AND NOT EXISTS (SELECT 1 FROM visits w INDEXED BY visits_patient_date
                                WHERE w.patient_id = v.patient_id AND w.date > :recall_to AND w.kind = 'hygiene')
            UNION SELECT v.patient_id FROM visits v            -- ... or, with none, the last visit
             WHERE v.kind IN ('consultation', 'treatment', 'treatment_end', 'control', 'other')
               AND v.date BETWEEN :recall_from AND :recall_to
               AND NOT EXISTS (SELECT 1 FROM visits w INDEXED BY visits_patient_date
                                WHERE w.patient_id = v.patient_id AND w.date > :recall_to)
               AND NOT EXISTS (SELECT 1 FROM visits h INDEXED BY visits_patient_date
                                WHERE h.patient_id = v.patient_id AND h.kind = 'hygiene')
            UNION SELECT patient_id FROM next_contacts WHERE due <= :today
        )
        SELECT patient_id FROM cand
         WHERE EXISTS (SELECT 1 FROM consents c INDEXED BY consents_granted
                        WHERE c.granted = 1 AND c.patient_id = cand.patient_id)
    """
    return [r[0] for r in conn.execute(sql, windows)]


def load_records(conn: sqlite3.Connection, today: dt.date, patient_ids: Sequence[str] | None = None,
                 windows: dict[str, str] | None = None):
    """Build records.Records for the given patients, or for the day's candidates (see candidate_patients)."""
    from followup.records import (Appointment, Complaint, Consent, Contact, NextContact, Patient, PhoneFlag, PlanStage,
                                  Records, SurveyDone, Visit, parse_days, parse_window)

    if patient_ids is None:
        ids_json = json.dumps(candidate_patients(conn, windows), ensure_ascii=False)
    else:
        ids_json = json.dumps(list(patient_ids), ensure_ascii=False)
    within = "IN (SELECT value FROM json_each(?))"
    d = dt.date.fromisoformat

    def day(s):
        return d(s) if s else None

    patients = {}
    for r in conn.execute(
            f"SELECT patient_id, full_name, first_name, middle_name, phone, phone_valid, email, household_id, "
            f"status, missing_since FROM patients WHERE patient_id {within}", (ids_json,)):
        patients[r[0]] = Patient(patient_id=r[0], name=r[1] or "", first_name=r[2], middle_name=r[3], phone=r[4],
                                 phone_valid=bool(r[5]), email=r[6], household_id=r[7], status=r[8],
                                 missing_since=day(r[9]))
    buckets = {pid: {k: [] for k in ("visits", "appointments", "plan_stages", "consents", "next_contacts",
                                     "contacts", "phone_flags", "complaints", "surveys")} for pid in patients}
    if windows is None:  # one patient (why): every visit
        visit_sql, visit_params = f"WHERE v.patient_id {within}", (ids_json,)
    else:  # the day's list: only visits the rules can use today, and each patient's last older hygiene
        since = min(windows["recall_from"], windows["plan_from"])
        visit_sql = (f"WHERE v.patient_id {within} AND (v.date >= ? OR v.control_due >= ?)")
        visit_params = (ids_json, since, windows["control_from"])
        for r in conn.execute(
                f"SELECT v.patient_id, max(v.date) FROM visits v WHERE v.patient_id {within} "
                f"AND v.date < ? AND v.kind = 'hygiene' GROUP BY v.patient_id", (ids_json, since)):
            buckets[r[0]]["visits"].append(Visit(visit_id=f"hygiene-before-{since}", patient_id=r[0], doctor=None,
                                                     date=d(r[1]), kind="hygiene"))
    for r in conn.execute(
            f"SELECT v.visit_id, v.patient_id, doc.name, v.date, v.kind, v.control_due FROM visits v "
            f"LEFT JOIN doctors doc ON doc.id = v.doctor_id {visit_sql}", visit_params):
        buckets[r[1]]["visits"].append(Visit(visit_id=r[0], patient_id=r[1], doctor=r[2], date=d(r[3]),
                                                 kind=r[4], control_due=day(r[5])))
    for r in conn.execute(
            f"SELECT a.appointment_id, a.patient_id, doc.name, a.start, a.status FROM appointments a "
            f"LEFT JOIN doctors doc ON doc.id = a.doctor_id WHERE a.status = 'booked' AND a.start >= ? "
            f"AND a.patient_id {within}", (today.isoformat(), ids_json)):
        buckets[r[1]]["appointments"].append(
            Appointment(appointment_id=r[0], patient_id=r[1], doctor=r[2], start=dt.datetime.fromisoformat(r[3]),
                        status=r[4]))
    for r in conn.execute(
            f"SELECT p.plan_id, p.stage, p.patient_id, doc.name, p.stage_title, p.due_date, p.status, "
            f"p.signed_date FROM plan_stages p LEFT JOIN doctors doc ON doc.id = p.doctor_id "
            f"WHERE p.status = 'planned' AND p.patient_id {within}", (ids_json,)):
        buckets[r[2]]["plan_stages"].append(PlanStage(plan_id=r[0], stage=r[1], patient_id=r[2], doctor=r[3],
                                                      title=r[4], due=day(r[5]), status=r[6], signed=day(r[7])))
    # what was recorded after the day asked about does not exist yet for it (`--date` in the past)
    end_of_day = (today + dt.timedelta(days=1)).isoformat()
    for r in conn.execute(
            f"SELECT patient_id, purpose, channel, granted, recorded_at, recorded_by, how, address, window, "
            f"days, note, source FROM consents WHERE patient_id {within} AND recorded_at < ?",
            (ids_json, end_of_day)):
        buckets[r[0]]["consents"].append(Consent(
            patient_id=r[0], purpose=r[1], channel=r[2], granted=bool(r[3]), recorded_at=dt.datetime.fromisoformat(r[4]),
            recorded_by=r[5], how=r[6], address=r[7], window=parse_window(r[8]) if r[8] else None,
            days=parse_days(r[9]) if r[9] else None, note=r[10], source=r[11]))
    for r in conn.execute(
            f"SELECT id, patient_id, due, reason, channel, doctor, recorded_by FROM next_contacts "
            f"WHERE patient_id {within}", (ids_json,)):
        buckets[r[1]]["next_contacts"].append(NextContact(id=r[0], patient_id=r[1], due=d(r[2]), reason=r[3],
                                                          channel=r[4], doctor=r[5], recorded_by=r[6]))
    for r in conn.execute(
            f"SELECT id, patient_id, list_date, recorded_at, channel, outcome, reasons, retry_on, callback_on, "
            f"recorded_by FROM contacts WHERE patient_id {within} AND list_date <= ?", (ids_json, today.isoformat())):
        # a contact happened on its list's day, at the time it was recorded
        at = dt.datetime.combine(d(r[2]), dt.datetime.fromisoformat(r[3]).time())
        buckets[r[1]]["contacts"].append(Contact(
            id=r[0], patient_id=r[1], at=at, channel=r[4], outcome=r[5], reasons=tuple(tuple(x) for x in json.loads(r[6])),
            retry_on=day(r[7]), callback_on=day(r[8]), by=r[9]))
    for r in conn.execute(f"SELECT patient_id, phone, flagged_on FROM phone_flags WHERE patient_id {within}",
                          (ids_json,)):
        buckets[r[0]]["phone_flags"].append(PhoneFlag(patient_id=r[0], phone=r[1], flagged_on=d(r[2])))
    for r in conn.execute(f"SELECT id, patient_id, doctor, opened_at, resolved_at FROM complaints "
                          f"WHERE patient_id {within} AND opened_at < ?", (ids_json, end_of_day)):
        resolved = d(r[4][:10]) if r[4] and r[4] < end_of_day else None
        buckets[r[1]]["complaints"].append(Complaint(id=r[0], patient_id=r[1], doctor=r[2], opened=d(r[3][:10]),
                                                          resolved=resolved))
    for r in conn.execute(f"SELECT patient_id, visit_id, recorded_at, status, score FROM surveys "
                          f"WHERE patient_id {within} AND recorded_at < ?", (ids_json, end_of_day)):
        buckets[r[0]]["surveys"].append(SurveyDone(patient_id=r[0], visit_id=r[1], date=d(r[2][:10]),
                                                          status=r[3], score=r[4]))
    counts = survey_counts(conn)
    return [Records(patient=patients[pid], **{k: tuple(v) for k, v in b.items()}, survey_counts=counts)
            for pid, b in buckets.items()]


def survey_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Doctor -> answered surveys so far (the rules put doctors still collecting first)."""
    return dict(conn.execute("SELECT sd.doctor, count(*) FROM survey_doctors sd JOIN surveys s "
                             "ON s.id = sd.survey_id WHERE s.status = 'answered' GROUP BY sd.doctor"))


# ---------------------------------------------------------------------------
# The stored day plan (m007): `followup today` reads it; triggers keep it honest


PLAN_COLUMNS = ("entry_id", "patient_id", "channel", "no_window", "start", "priority", "name", "payload")


def plan_state(conn: sqlite3.Connection) -> tuple[str, str, int] | None:
    """(day, stamp, survey wave) of the stored plan, or None when it was dropped or never made."""
    return conn.execute("SELECT day, stamp, survey_wave FROM plan_meta").fetchone()


def plan_dirty(conn: sqlite3.Connection) -> list[str]:
    """Patients whose records changed since the plan was stored (marked by triggers)."""
    return [r[0] for r in conn.execute("SELECT patient_id FROM plan_dirty")]


def completed_waves(conn: sqlite3.Connection, wave: int) -> list[str]:
    """Doctors with a full survey wave: their survey calls lose their priority on the list."""
    return [r[0] for r in conn.execute(
        "SELECT sd.doctor FROM survey_doctors sd JOIN surveys s ON s.id = sd.survey_id "
        "WHERE s.status = 'answered' GROUP BY sd.doctor HAVING count(*) >= ? ORDER BY sd.doctor", (wave,))]


_PLAN_ORDER = "ORDER BY no_window, start, priority, name, channel, patient_id"


def plan_entries(conn: sqlite3.Connection, channel: str | None = None) -> list[tuple[str, str]]:
    """(id shown, JSON payload without the id) of the stored plan's entries, in list order."""
    where, params = ("WHERE channel = ? ", (channel,)) if channel else ("", ())
    return conn.execute(f"SELECT shown, payload FROM plan_entries {where}{_PLAN_ORDER}", params).fetchall()


def plan_json(conn: sqlite3.Connection, channel: str | None = None) -> bytes:
    """The stored plan as `followup today --format json` prints it, as UTF-8 bytes.

    The whole list is kept ready as one value (a read of a few megabytes, never decoded); a list
    for one channel is put together from the entries.
    """
    if not channel:
        return conn.execute("SELECT list FROM plan_meta").fetchone()[0]
    return _plan_json(conn, "WHERE channel = ? ", (channel,))


def _plan_json(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> bytes:
    factory, conn.text_factory = conn.text_factory, bytes
    try:
        rows = conn.execute(f"SELECT shown, payload FROM plan_entries {where}{_PLAN_ORDER}", params).fetchall()
    finally:
        conn.text_factory = factory
    return b"[" + b",\n".join([b'{"entry_id": "' + shown + b'", ' + payload[1:] for shown, payload in rows]) + b"]"


def plan_members_named(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """Everyone on a stored entry whose id starts with ``prefix`` (lower-case hex)."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT m.patient_id FROM plan_entries e JOIN plan_members m ON m.entry_id = e.entry_id "
        "WHERE e.entry_id >= ? AND e.entry_id < ?", (prefix, prefix + "g"))]


def plan_entry_members(conn: sqlite3.Connection, patient_ids: Iterable[str]) -> list[str]:
    """Everyone who shares a stored entry (a household call) with one of these patients."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT patient_id FROM plan_members WHERE entry_id IN (SELECT entry_id FROM plan_members "
        "WHERE patient_id IN (SELECT value FROM json_each(?)))", (json.dumps(list(patient_ids), ensure_ascii=False),))]


def store_plan(conn: sqlite3.Connection, day: str, stamp: str, wave: int, rows: Sequence[dict],
               replacing: Iterable[str] | None = None) -> None:
    """Store the day's entries: all of them, or (``replacing``) those of these patients only.

    The caller holds the write transaction in which it read the marked patients; they are all
    re-planned here, so the marks go.
    """
    if replacing is None:
        conn.execute("DELETE FROM plan_entries")
        conn.execute("DELETE FROM plan_members")
    else:
        ids = json.dumps(list(replacing), ensure_ascii=False)
        conn.execute("DELETE FROM plan_entries WHERE entry_id IN (SELECT entry_id FROM plan_members "
                     "WHERE patient_id IN (SELECT value FROM json_each(?)))", (ids,))
        conn.execute("DELETE FROM plan_members WHERE entry_id NOT IN (SELECT entry_id FROM plan_entries)")
    conn.executemany(f"INSERT INTO plan_entries (shown, {', '.join(PLAN_COLUMNS)}) "
                     f"VALUES ('', {', '.join('?' * len(PLAN_COLUMNS))})",
                     [tuple(r[c] for c in PLAN_COLUMNS) for r in rows])
    conn.executemany("INSERT INTO plan_members (patient_id, entry_id) VALUES (?, ?)",
                     [(pid, r["entry_id"]) for r in rows for pid in r["members"]])
    ids = conn.execute("SELECT entry_id, shown FROM plan_entries").fetchall()
    prefixes = shortest_prefixes(full for full, _ in ids)  # a new entry may lengthen a neighbour's
    conn.executemany("UPDATE plan_entries SET shown = ? WHERE entry_id = ?",
                     [(prefixes[full], full) for full, shown in ids if shown != prefixes[full]])
    conn.execute("DELETE FROM plan_dirty")
    conn.execute("INSERT OR REPLACE INTO plan_meta (id, day, stamp, survey_wave, list) VALUES (1, ?, ?, ?, ?)",
                 (day, stamp, wave, _plan_json(conn)))


def drop_plan(conn: sqlite3.Connection) -> None:
    """Forget the stored plan entirely (it holds names and phones: `patient forget` drops it)."""
    for table in ("plan_meta", "plan_entries", "plan_members", "plan_dirty"):
        conn.execute(f"DELETE FROM {table}")


# ---------------------------------------------------------------------------
# Settings shared by every desk and cron


def get_settings(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM settings"))


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_setting(conn: sqlite3.Connection, key: str, value: str | None, *, by: str, at: str) -> None:
    with write_transaction(conn):
        if value is None:
            conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                         (key, value, at, by))


# ---------------------------------------------------------------------------
# Complaints


COMPLAINT_COLUMNS = ("id", "patient_id", "doctor", "text", "opened_by", "opened_at", "action", "resolved_by",
                     "resolved_at", "informed_by", "informed_at")


def add_complaint(conn: sqlite3.Connection, row: dict) -> int:
    cols = ("patient_id", "doctor", "text", "opened_by", "opened_at")
    with write_transaction(conn):
        return conn.execute(f"INSERT INTO complaints ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            tuple(row[c] for c in cols)).lastrowid


def get_complaint(conn: sqlite3.Connection, complaint_id: int) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(COMPLAINT_COLUMNS)} FROM complaints WHERE id = ?",
                       (complaint_id,)).fetchone()
    return dict(zip(COMPLAINT_COLUMNS, row)) if row else None


def list_complaints(conn: sqlite3.Connection, *, open_only: bool = False) -> list[dict]:
    where = "WHERE c.resolved_at IS NULL" if open_only else ""
    cols = ", ".join(f"c.{c}" for c in COMPLAINT_COLUMNS)
    return [dict(zip(COMPLAINT_COLUMNS + ("patient",), r)) for r in conn.execute(
        f"SELECT {cols}, p.full_name FROM complaints c JOIN patients p ON p.patient_id = c.patient_id "
        f"{where} ORDER BY c.opened_at, c.id")]


def update_complaint(conn: sqlite3.Connection, complaint_id: int, *, expect: str, changes: dict) -> bool:
    """Set fields if the complaint is still in the expected state ('open' / 'resolved', not informed)."""
    guard = {"open": "resolved_at IS NULL", "resolved": "resolved_at IS NOT NULL AND informed_at IS NULL"}[expect]
    sets = ", ".join(f"{k} = ?" for k in changes)
    with write_transaction(conn):
        cur = conn.execute(f"UPDATE complaints SET {sets} WHERE id = ? AND {guard}", (*changes.values(), complaint_id))
        return cur.rowcount == 1


def doctor_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM doctors ORDER BY name")]


# ---------------------------------------------------------------------------
# Surveys


def add_survey(conn: sqlite3.Connection, row: dict, doctors: Sequence[str], *, contact: dict | None = None) -> int:
    """A survey (answered or declined) with the doctors it counts for, and its contact, in one transaction."""
    from followup.errors import UsageError

    cols = ("patient_id", "visit_id", "status", "score", "recommend", "expectations", "comment", "questions",
            "recorded_by", "recorded_at")
    with write_transaction(conn):
        try:
            sid = conn.execute(f"INSERT INTO surveys ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                               tuple(row[c] for c in cols)).lastrowid
        except sqlite3.IntegrityError:
            raise UsageError(tr("a survey for treatment {visit} is already recorded", visit=row["visit_id"])) from None
        conn.executemany("INSERT INTO survey_doctors (survey_id, doctor) VALUES (?, ?)",
                         [(sid, d) for d in dict.fromkeys(doctors)])
        if contact:
            c = dict(contact, reasons=json.dumps(contact["reasons"], ensure_ascii=False))
            conn.execute(f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})", tuple(c[k] for k in CONTACT_COLUMNS))
        return sid


def survey_responses(conn: sqlite3.Connection) -> list[dict]:
    """Every survey with the doctors it counts for, oldest first."""
    cols = ("id", "patient_id", "visit_id", "status", "score", "recommend", "expectations", "comment",
            "questions", "recorded_at")
    out: dict[int, dict] = {}
    for r in conn.execute(f"SELECT {', '.join('s.' + c for c in cols)}, sd.doctor FROM surveys s "
                          f"LEFT JOIN survey_doctors sd ON sd.survey_id = s.id ORDER BY s.recorded_at, s.id"):
        row = out.setdefault(r[0], dict(zip(cols, r[:-1]), doctors=[]))
        if r[-1]:
            row["doctors"].append(r[-1])
    return list(out.values())


def treatment_ends(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """(patient, visit, date, doctor) of every treatment_end visit."""
    return conn.execute("SELECT v.patient_id, v.visit_id, v.date, d.name FROM visits v JOIN doctors d "
                        "ON d.id = v.doctor_id WHERE v.kind = 'treatment_end' ORDER BY v.date").fetchall()


def assigned_themes(conn: sqlite3.Connection) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for sid, theme in conn.execute("SELECT survey_id, theme FROM survey_themes ORDER BY assigned_at"):
        out.setdefault(sid, []).append(theme)
    return out


def assign_theme(conn: sqlite3.Connection, survey_id: int, theme: str, *, by: str, at: str) -> None:
    with write_transaction(conn):
        conn.execute("INSERT OR IGNORE INTO survey_themes (survey_id, theme, assigned_by, assigned_at) "
                     "VALUES (?, ?, ?, ?)", (survey_id, theme, by, at))


# ---------------------------------------------------------------------------
# The clinic report's inputs


def first_and_second_visits(conn: sqlite3.Connection) -> list[tuple[str, str | None, dt.date, dt.date | None]]:
    """(patient, doctor of the first visit, first visit date, second visit date) for every patient."""
    sql = """
        SELECT patient_id, doctor, date, second FROM (
            SELECT v.patient_id, d.name AS doctor, v.date,
                   lead(v.date) OVER (PARTITION BY v.patient_id ORDER BY v.date, v.visit_id) AS second,
                   row_number() OVER (PARTITION BY v.patient_id ORDER BY v.date, v.visit_id) AS n
              FROM visits v LEFT JOIN doctors d ON d.id = v.doctor_id)
         WHERE n = 1
    """
    return [(p, doc, dt.date.fromisoformat(a), dt.date.fromisoformat(b) if b else None)
            for p, doc, a, b in conn.execute(sql)]


def active_patients_last_visit(conn: sqlite3.Connection) -> list[tuple[str, dt.date | None]]:
    sql = ("SELECT p.patient_id, (SELECT max(v.date) FROM visits v WHERE v.patient_id = p.patient_id) "
           "FROM patients p WHERE p.status = 'active' AND p.missing_since IS NULL ORDER BY p.patient_id")
    return [(p, dt.date.fromisoformat(d) if d else None) for p, d in conn.execute(sql)]


def contact_reasons(conn: sqlite3.Connection, year: int) -> list[tuple[str, str]]:
    """(reason code, outcome) for every reason of every contact in the year."""
    out = []
    for reasons, outcome in conn.execute("SELECT reasons, outcome FROM contacts WHERE list_date LIKE ?",
                                         (f"{year}-%",)):
        out.extend((code, outcome) for code, _ in json.loads(reasons))
    return out


def consent_decisions(conn: sqlite3.Connection) -> dict[str, int]:
    """Purpose -> active patients with any consent record for it."""
    return dict(conn.execute(
        "SELECT c.purpose, count(DISTINCT c.patient_id) FROM consents c JOIN patients p "
        "ON p.patient_id = c.patient_id WHERE p.status = 'active' AND p.missing_since IS NULL GROUP BY c.purpose"))


def complaint_dates(conn: sqlite3.Connection, year: int) -> list[tuple[dt.date, dt.date | None, bool]]:
    return [(dt.date.fromisoformat(o[:10]), dt.date.fromisoformat(r[:10]) if r else None, bool(i))
            for o, r, i in conn.execute("SELECT opened_at, resolved_at, informed_at FROM complaints "
                                        "WHERE opened_at LIKE ?", (f"{year}-%",))]


# ---------------------------------------------------------------------------
# Backup and check


def backup(conn: sqlite3.Connection, dest: Path) -> Path:
    """A consistent copy while others write (SQLite's online backup API): written to a temporary
    file beside ``dest``, fsynced, then renamed over it; mode 0600."""
    dest = Path(dest)
    if dest.is_dir():
        raise DatabaseError(tr("{path} is a directory; give the backup's file name", path=dest))
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        _create_private(tmp)
    except OSError as exc:
        raise DatabaseError(tr("cannot write {path}: {reason}", path=dest, reason=exc.strerror)) from None
    try:
        target = sqlite3.connect(str(tmp))
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def check(conn: sqlite3.Connection) -> dict:
    """integrity_check, foreign_key_check and the schema version."""
    integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    fks = conn.execute("PRAGMA foreign_key_check").fetchall()
    return {"integrity": integrity, "foreign_key_problems": len(fks), "schema": schema_version(conn),
            "ok": integrity == ["ok"] and not fks}


# ---------------------------------------------------------------------------
# A patient's data rights: everything stored about them, and erasure


PERSONAL_TABLES = ("visits", "appointments", "plan_stages", "consents", "next_contacts", "contacts",
                   "phone_flags", "complaints")


def patient_data(conn: sqlite3.Connection, patient_id: str) -> dict | None:
    """Everything stored about one patient, table by table (GDPR art. 15; 152-FZ art. 14)."""
    def rows(sql: str, params=(patient_id,)) -> list[dict]:
        cur = conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur]

    found = rows("SELECT * FROM patients WHERE patient_id = ?")
    if not found:
        return None
    out = {"patient": found[0]}
    for table in PERSONAL_TABLES:
        out[table] = rows(f"SELECT * FROM {table} WHERE patient_id = ?")
    out["surveys"] = rows("SELECT s.*, (SELECT group_concat(doctor, ', ') FROM survey_doctors d "
                          "WHERE d.survey_id = s.id) AS doctors FROM surveys s WHERE s.patient_id = ?")
    return out


def forget_patient(conn: sqlite3.Connection, patient_id: str, *, by: str, at: str) -> dict:
    """Erase a patient's personal data everywhere, keep their survey scores as anonymous answers,
    record the erasure (counts only), then compact the file so the data is gone from it."""
    conn.execute("PRAGMA secure_delete = ON")
    with write_transaction(conn):
        erasure = conn.execute("INSERT INTO erasures (erased_at, erased_by, rows_erased, surveys_kept) "
                               "VALUES (?, ?, 0, 0)", (at, by)).lastrowid
        anonymous = f"erased-{erasure}"
        kept = conn.execute("SELECT count(*) FROM surveys WHERE patient_id = ?", (patient_id,)).fetchone()[0]
        if kept:  # the scores keep counting for their doctors, attached to nobody
            conn.execute("INSERT INTO patients (patient_id, full_name, name_fold, status) "
                         "VALUES (?, NULL, NULL, 'archived')", (anonymous,))
            conn.execute("UPDATE surveys SET patient_id = ?, comment = NULL, visit_id = NULL WHERE patient_id = ?",
                         (anonymous, patient_id))
            conn.execute("DELETE FROM survey_themes WHERE survey_id IN (SELECT id FROM surveys WHERE patient_id = ?)",
                         (anonymous,))
        erased = 0
        for table in PERSONAL_TABLES:
            erased += conn.execute(f"DELETE FROM {table} WHERE patient_id = ?", (patient_id,)).rowcount
        erased += conn.execute("DELETE FROM patients WHERE patient_id = ?", (patient_id,)).rowcount
        conn.execute("UPDATE erasures SET rows_erased = ?, surveys_kept = ? WHERE id = ?", (erased, kept, erasure))
        drop_plan(conn)
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"erasure": erasure, "rows_erased": erased, "surveys_kept": kept}
