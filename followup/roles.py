"""Who may do what in `followup serve`, and how failed logins slow the next attempt: pure decisions.

A desk works the day's list, consents, next contacts, surveys, complaints and what brought a patient; a
manager adds the reports, the flagged reasons, corrections of earlier days, the patients' data rights, the
occasions and the campaigns; an admin
adds the staff's accounts, the settings and the imports. Each role may do what the ones before it may.
"""

from __future__ import annotations

import datetime as dt

from followup.i18n import N_

ROLES = (N_("desk"), N_("manager"), N_("admin"))

_ABILITIES = {
    "desk": ("list", "outcome", "card", "consent", "next-contact", "survey", "complaint", "source"),
    "manager": ("report", "flagged", "correct-earlier", "rights", "occasions"),
    "admin": ("users", "settings", "import"),
}
ABILITIES = tuple(a for role in ROLES for a in _ABILITIES[role])


def may(role: str | None, ability: str) -> bool:
    """Whether an account of ``role`` may do ``ability`` (one of ABILITIES)."""
    assert ability in ABILITIES, ability
    if role not in ROLES:
        return False
    return any(ability in _ABILITIES[r] for r in ROLES[:ROLES.index(role) + 1])


# failed attempts to log in under one name: the first FREE_FAILURES cost nothing, each one after that
# doubles the wait before the next attempt is even checked, up to MAX_WAIT; failures older than
# FAILURE_MEMORY, or before a successful login, are forgotten
FREE_FAILURES = 3
MAX_WAIT = dt.timedelta(minutes=5)
FAILURE_MEMORY = dt.timedelta(minutes=15)


def login_wait(failures: list[dt.datetime], now: dt.datetime) -> dt.timedelta:
    """How long the next attempt must still wait, given when the failures (recent, in order) were."""
    recent = [f for f in failures if now - f < FAILURE_MEMORY]
    if len(recent) < FREE_FAILURES:
        return dt.timedelta(0)
    wait = min(dt.timedelta(seconds=2 ** (len(recent) - FREE_FAILURES + 1)), MAX_WAIT)
    return max(recent[-1] + wait - now, dt.timedelta(0))


MIN_PASSWORD = 10


def password_problem(name: str, password: str) -> str | None:
    """Why a password will not do ("short", "name"), or None."""
    if len(password) < MIN_PASSWORD:
        return "short"
    if name.strip().casefold() in password.casefold():
        return "name"
    return None


# a desk that opened an entry has it for this long (then another desk may take it over)
CLAIM_MINUTES = 15
