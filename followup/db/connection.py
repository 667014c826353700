"""The connection: where the database lives, opening it (WAL, busy timeout, plugins off), transactions, backup and check."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from followup.errors import DatabaseError, NotFound, UsageError
from followup.i18n import Msg, N_, msg

ENV_DB = "FOLLOWUP_DB"
BUSY_TIMEOUT_MS = 30_000  # a desk's write waits out an import file's transaction




def peek_setting(path: Path, key: str) -> str | None:
    """A setting read from the file as it is, without migrating or creating anything (None when there
    is no such file, table or setting): what a command needs to know before it opens the database."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def default_path() -> Path:
    """--db, else $FOLLOWUP_DB, else the per-user data directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    return data_dir() / "followup.db"


def data_dir() -> Path:
    """The per-user data directory (the demo lives there, never beside a database named elsewhere)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("followup", appauthor=False))


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only (health data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def connect(path: Path, *, create: bool = True, migrate: bool = True, backup: bool = True) -> sqlite3.Connection:
    """Open (and if allowed create) the database, migrated to the current schema.

    Read-only commands pass ``create=False`` so that a mistyped path is refused
    instead of leaving an empty database behind. Pending migrations are applied after a copy of the
    file is made beside it, unless ``backup`` is False (an erasure: no copy may keep the patient; the
    migrations are one transaction either way).
    """
    path = Path(path)
    if path.exists() and not create and path.is_file() and path.stat().st_size == 0:
        raise DatabaseError(N_("{path} is an empty file, not a followup database (a copy cut short? restore a "
                               "backup, or give the right --db)"), path=path)
    if not path.exists():
        if not create:
            raise NotFound(N_("no database at {path} (run 'followup import' first, or pass --db)"), path=path)
        try:
            _create_private(path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DatabaseError(N_("cannot create the database at {path}: {reason}"), path=path, reason=exc.strerror) from None
    read_only, conn = False, None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        conn = _read_only(path) if _cannot_write(exc) else None
        if conn is None:
            if "full" in str(exc) or _cannot_write(exc):
                raise DatabaseError(N_("{path}: {fault}"), path=path, fault=fault(str(exc))) from None
            raise DatabaseError(N_("{path} is not a usable SQLite database ({reason})"), path=path,
                                reason=exc) from None
        read_only, mode = True, "wal"
    if mode != "wal":  # e.g. a read-only directory
        conn.execute("PRAGMA journal_mode = DELETE")
    if not _followup_or_new(conn):
        conn.close()
        raise DatabaseError(N_("{path} is an SQLite database of another program, not followup's; give the right "
                               "--db"), path=path)
    if migrate:
        from followup.db.schema import apply_migrations, pending_migrations  # (schema imports this module)
        if read_only and pending_migrations(conn):
            conn.close()
            raise DatabaseError(N_("{path} needs an upgrade of its schema, and it cannot be written here (a read-only "
                                   "file or directory): run followup once as the account that owns it"), path=path)
        if not read_only:
            apply_migrations(conn, path if backup else None)
    return conn


def _cannot_write(exc: sqlite3.Error) -> bool:
    return "readonly" in str(exc) or "read-only" in str(exc) or "unable to open" in str(exc)


def _read_only(path: Path) -> sqlite3.Connection | None:
    """The database opened for reading only, when this account may read it but not write it or its
    directory (a backup copy on a read-only share, a file owned by the clinic's service account): the
    commands that read work, the ones that write say that nothing can be written here. A database in
    WAL mode needs its shared-memory file beside it; when none exists and none can be made, no other
    process has the file open, and it is read as it stands (immutable). None: not readable either."""
    uri = path.resolve().as_uri()
    wal = Path(f"{path}-wal")
    for options in ("mode=ro", "mode=ro&immutable=1"):
        if "immutable" in options and wal.exists() and wal.stat().st_size:
            return None  # committed changes wait in the WAL file: reading around them would mislead
        conn = None
        try:
            conn = sqlite3.connect(f"{uri}?{options}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error:
            if conn is not None:
                conn.close()
    return None


def writable(conn: sqlite3.Connection) -> bool:
    """Whether this connection may write the file (a write that changes nothing, rolled back); another
    writer holding the lock for a second counts as writable."""
    try:
        with busy_timeout(conn, 1_000), write_transaction(conn):
            conn.execute("DELETE FROM settings WHERE 0")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        if _cannot_write(exc):
            return False
        raise
    return True


def journal_mode(conn: sqlite3.Connection) -> str:
    return conn.execute("PRAGMA journal_mode").fetchone()[0]


def fault(reason: str) -> Msg:
    """What an SQLite error means for the person at the desk, in words that name the real cause and
    never a value (SQLite's message for a text that is not UTF-8 quotes the text)."""
    import re

    if "Could not decode to UTF-8" in reason:
        column = re.search(r"column '([A-Za-z_0-9]+)'", reason)
        return msg(N_("the database holds a text that is not valid UTF-8 (column {column}): a damaged file or an "
                      "edit by hand; followup check says where"), column=column[1] if column else "?")
    if "full" in reason:
        return msg(N_("the disk is full: nothing was written; free some space and run the command again"))
    if "readonly" in reason or "read-only" in reason or "unable to open" in reason:
        return msg(N_("the database cannot be written here (a read-only file or directory, or no access): nothing "
                      "was written"))
    # a damaged file and the like: SQLite's own words name no data
    return msg(N_("the database cannot be used: {reason} (see followup check)"), reason=reason)


class StoreError(DatabaseError):
    """An SQLite error as a person reads it (``fault``): the message is the fault itself."""

    def __init__(self, fault_msg: Msg):
        super().__init__(fault_msg.msgid, **fault_msg.params)


def as_error(exc: sqlite3.DatabaseError):
    """What an SQLite error is for a face to say (a followup error: busy, or the fault), or None when it
    is a bug (a constraint or a programming error), to be reported as one."""
    from followup.errors import Busy

    if "locked" in str(exc) or "busy" in str(exc):
        return Busy(N_("the database is busy; try again in a moment"))
    if type(exc) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
        return None
    return StoreError(fault(str(exc)))


def _followup_or_new(conn: sqlite3.Connection) -> bool:
    """Whether the file is followup's database, or one with nothing in it yet."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return True
    if "_sqlite_migrations" not in tables:
        return False
    return conn.execute("SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'followup' LIMIT 1").fetchone() \
        is not None


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        _rollback(conn)
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:  # a full disk: SQLite may have rolled back already; its error is the one to say
            _rollback(conn)
            raise


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the transaction, if SQLite has not already (after a full disk, an I/O error)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass


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
# Backup and check


def backup(conn: sqlite3.Connection, dest: Path, *, force: bool = False) -> Path:
    """A consistent copy while others write (SQLite's online backup API), written safely (see
    db.files: a temporary file beside ``dest``, fsynced, renamed over it; mode 0600). Never onto the
    database itself or one of its companion files (its log, its shared memory, the import's lock)."""
    from followup.db.files import write_private

    dest = Path(dest)
    main = Path(conn.execute("PRAGMA database_list").fetchone()[2] or "")
    if main.name and dest.resolve() in {Path(f"{main.resolve()}{suffix}") for suffix in
                                        ("", "-wal", "-shm", "-journal", ".lock")}:
        raise UsageError(N_("{path} is the database or one of its own files; back up to another file"), path=dest)

    def copy(tmp: Path) -> None:
        target = sqlite3.connect(str(tmp))
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()

    return write_private(dest, copy, force=force)


def check(conn: sqlite3.Connection, *, quick: bool = False) -> dict:
    """integrity_check, foreign_key_check, text that is not valid UTF-8 (by table and column, counted:
    never the value), and the schema version. A damaged file gives its damage as the answer.

    ``quick`` (the nightly cron's): SQLite's quick_check (the pages and rows, not that every index
    matches its table) and the schema only; no foreign keys or texts (None in the answer)."""
    from followup.db.schema import schema_version

    def step(what, default):
        try:
            return what()
        except sqlite3.DatabaseError as exc:
            return default(exc)

    pragma = "quick_check" if quick else "integrity_check"
    integrity = step(lambda: [r[0] for r in conn.execute(f"PRAGMA {pragma}")], lambda exc: [str(exc)])
    fks = None if quick else step(lambda: len(conn.execute("PRAGMA foreign_key_check").fetchall()), lambda exc: -1)
    bad_text = None if quick else step(lambda: not_utf8(conn), lambda exc: {"?": -1})
    schema = step(lambda: schema_version(conn), lambda exc: None)
    return {"integrity": integrity, "foreign_key_problems": fks, "not_utf8": bad_text, "schema": schema,
            "quick": quick, "ok": integrity == ["ok"] and not fks and not bad_text}


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def not_utf8(conn: sqlite3.Connection) -> dict[str, int]:
    """'table.column' -> how many of its texts are not valid UTF-8 (put there by hand or by damage:
    followup writes only valid text). Every text of every table is read once."""
    found: dict[str, int] = {}
    columns = [(table, r[1]) for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                          "AND name NOT LIKE 'sqlite_%'").fetchall()
               for r in conn.execute(f'PRAGMA table_info("{table}")')]
    factory, conn.text_factory = conn.text_factory, bytes
    try:
        for table, col in columns:
            n = 0
            # (only the texts with a byte outside ASCII can be broken: SQLite's GLOB picks them, in C)
            cursor = conn.execute(f'SELECT "{col}" FROM "{table}" WHERE typeof("{col}") = \'text\' '
                                  f'AND "{col}" GLOB \'*[^\x01-\x7f]*\'')
            while batch := [v for (v,) in cursor.fetchmany(50_000)]:
                try:  # a batch at a time (a NUL between two texts joins no broken sequence into a good one)
                    b"\0".join(batch).decode("utf-8")
                except UnicodeDecodeError:
                    n += sum(1 for v in batch if not _decodes(v))
            if n:
                found[f"{table}.{col}"] = n
    finally:
        conn.text_factory = factory
    return found
