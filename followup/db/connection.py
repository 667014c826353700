"""The connection: where the database lives, opening it (WAL, busy timeout, plugins off), transactions, backup and check."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from followup.errors import DatabaseError, NotFound, UsageError
from followup.i18n import N_

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
    if not path.exists():
        if not create:
            raise NotFound(N_("no database at {path} (run 'followup import' first, or pass --db)"), path=path)
        try:
            _create_private(path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DatabaseError(N_("cannot create the database at {path}: {reason}"), path=path, reason=exc.strerror) from None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(N_("{path} is not a usable SQLite database ({reason})"), path=path, reason=exc) from None
    if mode != "wal":  # e.g. a read-only directory
        conn.execute("PRAGMA journal_mode = DELETE")
    if migrate:
        from followup.db.schema import apply_migrations  # (schema imports this module)
        apply_migrations(conn, path if backup else None)
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


def check(conn: sqlite3.Connection) -> dict:
    """integrity_check, foreign_key_check and the schema version."""
    from followup.db.schema import schema_version
    integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    fks = conn.execute("PRAGMA foreign_key_check").fetchall()
    return {"integrity": integrity, "foreign_key_problems": len(fks), "schema": schema_version(conn),
            "ok": integrity == ["ok"] and not fks}
