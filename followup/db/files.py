"""Files followup writes beside the database or where a person says (`--out`, `backup`): patient data,
so created safely.

Written to a temporary file in the target's directory (created anew, readable by its owner only,
never through a link), synced to disk, then renamed over the target: a reader never sees half a
file, a crash never leaves a half-written target, and a link planted at the target is replaced,
never followed. An existing target is replaced only when asked (``force``). What a killed run left
behind (``.NAME.tmp-PID``) is removed by the next write to the same target.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from followup.errors import DatabaseError, UsageError
from followup.i18n import N_, msg

# a leftover of a killed run is removed when its process is gone; where that cannot be asked
# (Windows), when it is older than this
LEFTOVER_AGE_S = 24 * 3600


def _alive(pid: int) -> bool | None:
    """Whether a process runs (None: cannot tell here)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_leftovers(dest: Path) -> int:
    """Remove the temporary files of killed writes to ``dest``; how many."""
    removed = 0
    for p in dest.parent.glob(f".{dest.name}.tmp-*"):
        pid = p.name.rsplit("-", 2)[-2] if p.name.count("-") >= 2 else ""
        alive = _alive(int(pid)) if pid.isdigit() else False
        try:
            if alive is False or (alive is None and time.time() - p.lstat().st_mtime > LEFTOVER_AGE_S):
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def check_target(dest: Path, *, force: bool) -> Path:
    """The target of a write, checked before any work: its directory exists, it is no directory, and
    it exists only if it may be replaced."""
    dest = Path(dest)
    if dest.is_dir():
        raise UsageError(N_("{path} is a directory; give a file name"), path=dest)
    if not dest.parent.is_dir():  # a mistyped directory is a mistake to say, not to create
        raise UsageError(N_("{path}: no such directory"), path=dest.parent)
    if (dest.exists() or dest.is_symlink()) and not force:
        raise UsageError(N_("{path} exists; add --force to replace it"), path=dest)
    return dest


def write_private(dest: Path, write: Callable[[Path], None], *, force: bool) -> Path:
    """Write ``dest`` safely (see the module): ``write(tmp)`` fills the temporary file, created empty
    with mode 0600. Returns ``dest``."""
    dest = check_target(dest, force=force)
    remove_leftovers(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(tmp, flags, 0o600))
    except OSError as exc:
        raise DatabaseError(N_("cannot write {path}: {reason}"), path=dest, reason=exc.strerror) from None
    try:
        try:
            write(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
        except OSError as exc:
            raise DatabaseError(N_("cannot write {path}: {reason}"), path=dest, reason=_reason(exc)) from None
        if os.name != "nt":  # the rename made durable (Windows cannot open a directory to fsync it)
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _reason(exc: OSError):
    import errno

    if exc.errno == errno.ENOSPC:
        return msg(N_("the disk is full"))
    return exc.strerror or type(exc).__name__


def write_text_private(dest: Path, text: str, *, force: bool) -> Path:
    """A UTF-8 text file written safely (write_private)."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return write_private(dest, write, force=force)
