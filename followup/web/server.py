"""`followup serve`: the desks' pages served by uvicorn from the machine that holds the database."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Callable, Optional

from followup.errors import DatabaseError
from followup.i18n import N_, tr


def servable(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database the server cannot serve as one host would: SQLite's WAL mode needs every
    process on the machine that holds the file (never a network share, where it corrupts), and the
    desks' outcomes need to be written."""
    from followup import db

    if not db.writable(conn):
        raise DatabaseError(N_("{path} cannot be written by this account: the desks' outcomes could not be "
                               "recorded; run followup serve as the account that owns it"), path=path)
    if db.journal_mode(conn) != "wal":
        raise DatabaseError(N_("{path} cannot be served: SQLite cannot use its shared-memory journal (WAL) there "
                               "(a network share or a read-only directory?); run followup serve on the machine "
                               "that holds the file, on its own disk"), path=path)


def run(conn: sqlite3.Connection, path: Path, *, host: str, port: int, cert: Optional[Path], key: Optional[Path],
        echo: Callable) -> None:
    """Serve until Ctrl-C (or the service manager) stops it; one server a database (a lock file beside it)."""
    import uvicorn

    from followup.actions.users import web_secret
    from followup.importing.run import exclusive_lock
    from followup.web.app import create_app

    path = Path(path)
    servable(conn, path)
    secret = web_secret(conn, now=dt.datetime.now().replace(microsecond=0))
    conn.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    web_log = logging.getLogger("followup.web")
    web_log.addHandler(handler)
    web_log.setLevel(logging.INFO)
    with exclusive_lock(path.with_name(path.name + ".serve.lock"),
                        N_("another followup serve is running on this database (lock held on {path})")):
        app = create_app(path, secret=secret, https=cert is not None)
        scheme = "https" if cert else "http"
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        echo(tr("Serving the desks' pages at {url} (Ctrl-C stops).", url=f"{scheme}://{shown}:{port}/"))
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning",
                                ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None,
                                server_header=False, date_header=False)
        uvicorn.Server(config).run()
