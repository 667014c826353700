"""One exit-status enum and one error base class; each face catches the errors once.

Exit statuses follow BSD sysexits where one fits, so cron jobs and scripts can tell the kinds
apart (the README's table is tested against this enum).

An error carries data, not a sentence: a message id (English, the catalogue's key) and its
parameters. The face that shows it puts it in the reader's language (``str(error)`` does, in the
language chosen for the command). Messages never carry patient names or phone numbers.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FAILURE = 1           # a state that forbids what was asked (already closed, not resolved yet …)
    USAGE = 2             # a wrong value on the command line
    ROWS_REJECTED = 3     # a file imported, some of its rows rejected
    DATA_ERROR = 65       # an input file that cannot be imported as a whole (EX_DATAERR)
    NOT_FOUND = 66        # a file, database or record that does not exist (EX_NOINPUT)
    INTERNAL_ERROR = 70   # a bug in followup (EX_SOFTWARE)
    DATABASE_ERROR = 74   # the database cannot be used: damaged, read-only, disk full (EX_IOERR)
    BUSY = 75             # another import holds the lock, or the database is busy (EX_TEMPFAIL)
    INTERRUPTED = 130     # stopped by Ctrl-C (128 + SIGINT) where nothing was written


class FollowupError(Exception):
    """Base of every error a user or a file can cause; printed as one line."""

    exit_code = ExitStatus.FAILURE

    def __init__(self, msgid: str = "", /, **params):
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        """The message in the language chosen for the command; dates as its readers write them."""
        return str(self.message)

    @property
    def message(self):
        """The error's message as data (i18n.Msg): to store, or to show in any language."""
        from followup.i18n import Msg

        return Msg(self.msgid, **self.params)


class Conflict(FollowupError):
    """The records' state forbids it: an entry already closed, a complaint already resolved."""

    exit_code = ExitStatus.FAILURE


class UsageError(FollowupError):
    """A wrong value on the command line (a bad date, an unknown kind)."""

    exit_code = ExitStatus.USAGE


class DataError(FollowupError):
    """An input file that cannot be imported as a whole (EX_DATAERR)."""

    exit_code = ExitStatus.DATA_ERROR


class NotFound(FollowupError):
    """A file, database or record that does not exist (EX_NOINPUT)."""

    exit_code = ExitStatus.NOT_FOUND


class DatabaseError(FollowupError):
    """The file is not a usable followup database (damaged, not SQLite, too new)."""

    exit_code = ExitStatus.DATABASE_ERROR


class Busy(FollowupError):
    """Another import holds the lock; try again later (EX_TEMPFAIL)."""

    exit_code = ExitStatus.BUSY


class RowsRejected(FollowupError):
    """The file was imported, but some rows were rejected (listed above)."""

    exit_code = ExitStatus.ROWS_REJECTED
