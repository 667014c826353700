"""Use cases of the staff's accounts and of `followup serve`'s sessions: add, list, change, disable an
account; log in (failed attempts slow the next down, each is recorded); who a session's cookie names;
which desk has opened which entry of the day's list."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Optional

from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import LANGUAGES, N_


@dataclass(frozen=True)
class User:
    name: str
    role: str
    language: Optional[str]
    sessions: int         # goes up when the password changes or the account is disabled: older cookies end


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(sep=" ", timespec="seconds")


def _hasher():
    """argon2id with OWASP's recommended floor (19 MiB, 2 passes, 1 lane): 36 ms a check on this machine,
    where the library's default (64 MiB, 3 passes, 4 lanes) takes 155 ms, and 350 ms under a desk's load."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or any(not (c.isalnum() or c in " .-_'") for c in name):
        raise UsageError(N_("a user's name is 1-64 letters, digits, spaces or . - _ '"))
    return name


def _checked_password(name: str, password: str) -> str:
    from followup import roles

    problem = roles.password_problem(name, password)
    if problem == "short":
        raise UsageError(N_("the password is too short: at least {n} characters"), n=roles.MIN_PASSWORD)
    if problem == "name":
        raise UsageError(N_("the password may not contain the user's name"))
    return password


def _checked_role(role: str) -> str:
    from followup.roles import ROLES

    if role not in ROLES:
        raise UsageError(N_("unknown role {value!r} (one of {allowed})"), value=role, allowed=", ".join(ROLES))
    return role


def add_user(conn, name: str, role: str, password: str, *, by: str, now: dt.datetime) -> User:
    """A new staff account. A name taken (in any case) is refused."""
    from followup import db

    name, role = _checked_name(name), _checked_role(role)
    hashed = _hasher().hash(_checked_password(name, password))
    with db.write_transaction(conn):
        if not db.insert_user(conn, name, role, hashed, by=by, at=_stamp(now)):
            raise Conflict(N_("there is a user {name} already"), name=name)
    return User(name, role, None, 0)


def users(conn) -> list[dict]:
    """Every account (the active ones first): name, role, language, created, by whom, changed, disabled."""
    from followup import db

    return db.users_rows(conn)


def _existing(conn, name: str) -> tuple:
    from followup import db

    row = db.user_row(conn, name.strip())
    if row is None:
        raise NotFound(N_("no user {name} (see followup user list)"), name=name.strip())
    return row


def change_password(conn, name: str, password: str, *, now: dt.datetime) -> None:
    """A new password; every session of the account ends (a stolen cookie too)."""
    from followup import db

    row = _existing(conn, name)
    hashed = _hasher().hash(_checked_password(row[0], password))
    with db.write_transaction(conn):
        db.update_user(conn, row[0], password=hashed, changed_at=_stamp(now), end_sessions=True)


def set_role(conn, name: str, role: str, *, now: dt.datetime) -> None:
    from followup import db

    row, role = _existing(conn, name), _checked_role(role)
    with db.write_transaction(conn):
        db.update_user(conn, row[0], role=role, changed_at=_stamp(now), end_sessions=True)


def disable_user(conn, name: str, *, now: dt.datetime, enable: bool = False) -> None:
    """The account can no longer log in and its sessions end (its records keep its name); ``enable``: again."""
    from followup import db

    row = _existing(conn, name)
    with db.write_transaction(conn):
        db.update_user(conn, row[0], disabled_at=None if enable else _stamp(now), changed_at=_stamp(now),
                       end_sessions=True)


def set_user_language(conn, name: str, language: str) -> None:
    """The language the account reads the pages in."""
    from followup import db

    if language not in LANGUAGES:
        raise UsageError(N_("unknown language {value!r} (one of {allowed})"), value=language,
                         allowed=", ".join(LANGUAGES))
    with db.write_transaction(conn):
        db.update_user(conn, _existing(conn, name)[0], language=language)


class LoginRefused(Conflict):
    """A wrong name or password, a disabled account, or too many failed attempts just now."""


def log_in(conn, name: str, password: str, *, address: str, now: dt.datetime) -> User:
    """The account, when the name and password are right and it may log in now. Every attempt is
    recorded (who, from which address, whether it worked); after a few failures in a row, the next
    attempt waits (roles.login_wait) and one made before is refused unchecked."""
    from followup import db, roles

    name = name.strip()[:64]
    since = now - roles.FAILURE_MEMORY
    failures = [dt.datetime.fromisoformat(at) for at in db.failures_since(conn, name, _stamp(since))]
    wait = roles.login_wait(failures, now)
    if wait:
        with db.write_transaction(conn):
            db.record_login(conn, name, address, -1, _stamp(now))
        raise LoginRefused(N_("too many failed attempts: try again in {n} seconds"),
                           n=max(1, round(wait.total_seconds())))
    row = db.user_row(conn, name)
    ok = row is not None and row[4] is None and _verified(row[2], password)
    if not ok and row is None:
        _verified(_dummy_hash(), password)  # as long as a real check: the time tells nobody which names exist
    with db.write_transaction(conn):
        db.record_login(conn, row[0] if row else name, address, int(ok), _stamp(now))
    if not ok:
        raise LoginRefused(N_("wrong name or password, or the account is disabled"))
    return User(row[0], row[1], row[3], row[5])


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(8)))
    return _DUMMY[0]


def _verified(hashed: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def session_user(conn, name: str, sessions: int) -> Optional[User]:
    """The account a session's cookie names, if it is still the session of an active account."""
    from followup import db

    row = db.user_row(conn, name)
    if row is None or row[4] is not None or row[5] != sessions:
        return None
    return User(row[0], row[1], row[3], row[5])


def web_secret(conn, *, now: dt.datetime) -> str:
    """The key that signs the sessions' cookies: made once, kept in the database (whoever can read the
    file can read the patients anyway); the same for every desk and after a restart."""
    from followup import db

    secret = db.web_secret(conn)
    if secret is None:
        with db.write_transaction(conn):
            db.store_web_secret(conn, secrets.token_urlsafe(48), _stamp(now))
        secret = db.web_secret(conn)
    return secret


def open_entry(conn, day: dt.date, patient_id: str, channel: str, *, by: str, now: dt.datetime) -> str:
    """A desk opens an entry of the day's list: it is theirs for roles.CLAIM_MINUTES unless another desk
    has it open. Who has it now (``by``, or the other desk)."""
    from followup import db, roles

    stale = now - dt.timedelta(minutes=roles.CLAIM_MINUTES)
    with db.write_transaction(conn):
        return db.claim_entry(conn, day.isoformat(), patient_id, channel, by, _stamp(now), _stamp(stale))


def close_entry(conn, day: dt.date, patient_id: str, channel: str, *, by: Optional[str] = None) -> None:
    """The entry no longer open (by ``by`` only, when given)."""
    from followup import db

    with db.write_transaction(conn):
        db.release_entry(conn, day.isoformat(), patient_id, channel, by)


def open_entries(conn, day: dt.date, *, now: dt.datetime) -> dict[tuple[str, str], str]:
    """(patient, channel) -> the desk that has that entry of the day's list open."""
    from followup import db, roles

    return db.claims_of_day(conn, day.isoformat(), _stamp(now - dt.timedelta(minutes=roles.CLAIM_MINUTES)))
