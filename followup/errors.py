"""One error base class; the CLI catches it once and prints one line.

Exit codes follow BSD sysexits where one fits, so cron jobs and scripts can
tell the kinds apart. Messages never carry patient names or phone numbers.
"""


class FollowupError(Exception):
    """Base of every error a user can cause; printed as one line."""

    exit_code = 1


class UsageError(FollowupError):
    """A wrong value on the command line (a bad date, an unknown kind)."""

    exit_code = 2


class DataError(FollowupError):
    """An input file that cannot be imported as a whole (EX_DATAERR)."""

    exit_code = 65


class NotFound(FollowupError):
    """A file, database or record that does not exist (EX_NOINPUT)."""

    exit_code = 66


class Busy(FollowupError):
    """Another import holds the lock; try again later (EX_TEMPFAIL)."""

    exit_code = 75


class RowsRejected(FollowupError):
    """The file was imported, but some rows were rejected (listed above)."""

    exit_code = 3
