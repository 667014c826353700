"""Use cases of the clinic's settings: list, read, change (checked by followup.settings)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from followup.errors import UsageError
from followup.i18n import N_


def list_settings(conn) -> list[tuple[str, str, bool]]:
    """(key, value, whether it is the default) for every setting."""
    from followup import db, settings

    return settings.values(db.get_settings(conn))


def get_setting(conn, key: str) -> str:
    from followup import db, settings

    s = settings.setting(key)
    return db.get_settings(conn).get(key, settings.default(s))


def change_setting(conn, key: str, value: Optional[str], *, by: str, now: dt.datetime) -> str:
    """Set ``key`` to ``value`` for every desk and the cron job (None: back to the default); the value
    in force afterwards. A value equal to the default is the default: nothing is stored."""
    from followup import db, settings

    s = settings.setting(key)
    if value is not None:
        value = settings.check(key, value)
        if value == settings.default(s) or (s.kind in ("days", "number") and float(value) == float(s.default)):
            value = None
    db.set_setting(conn, key, value, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
    return value if value is not None else settings.default(s)


def display_name(conn, login: str) -> Optional[str]:
    """The name a staff member goes by with patients (`config set user.LOGIN.name`), if set."""
    from followup import db

    return db.get_settings(conn).get(f"user.{login}.name") or None


def require_value_or_default(value: Optional[str], default: bool) -> None:
    if default == (value is not None):
        raise UsageError(N_("give a value, or --default"))


# the longest values a template's placeholders usually take, for what a text can cost
_LONG = {"greeting": "Здравствуйте, Константин Константинович", "doctor": "Константинопольский Константин Константинович",
         "with_doctor": " у врача Константинопольский Константин Константинович", "date": "01.01.2026", "time": "10:00",
         "doctor_or_we": "Константинопольский Константин Константинович", "title": "Имплантация с костной пластикой 36",
         "text": "уточнить, как прижилась новая коронка"}


def template_cost(conn, key: str) -> Optional[tuple[int, int]]:
    """For an SMS template (`template.…`): (parts it can take with long names, send.sms.max_parts) when that
    is more than the clinic sends, else None."""
    from followup import db, rules, settings

    if not key.startswith("template."):
        return None
    stored = db.get_settings(conn)
    text = stored.get(key)
    if not text:
        return None
    values = dict(_LONG, clinic=stored.get("clinic_name") or "Клиника")
    parts = rules.sms_parts(rules.fill(text, values))[2]
    most = int(settings.get(stored, "send.sms.max_parts"))
    return (parts, most) if parts > most else None
