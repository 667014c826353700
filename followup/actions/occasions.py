"""Use cases of the occasions: the clinic's holidays (`followup occasion add|remove|list`) and its own
texts for thanks, birthdays and each holiday (`followup occasion text`). The rules decide who is greeted
(rules.thanks, rules.birthday, rules.holiday); these only keep what the manager set."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import N_

BUILT_IN = ("thanks", "birthday")  # occasions every clinic has; holidays are the clinic's own
NAME_MAX = 100


@dataclass(frozen=True)
class Occasion:
    key: str                 # "thanks", "birthday", "holiday:3": what its texts are kept under
    name: str                # a holiday's name, or the built-in occasion's code
    month: Optional[int]
    day: Optional[int]
    sex: Optional[str]
    texts: tuple[dict, ...]  # the clinic's own texts (id, text); none: the built-in ones


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(sep=" ", timespec="seconds")


def _checked_text(text: str) -> str:
    from followup.rules import template_problem

    text = (text or "").strip()
    if not text:
        raise UsageError(N_("the text is empty: write what the patient reads"))
    problem = template_problem(text)
    if problem:
        raise UsageError(N_("text: {problem}"), problem=problem)
    return text


def _sex(sex: Optional[str]) -> Optional[str]:
    from followup.records import SEXES, understood

    if sex is None or not sex.strip():
        return None
    code = understood(sex, SEXES, "sex")
    if code is None:
        raise UsageError(N_("unknown sex {value!r} (female or male)"), value=sex)
    return code


def add_holiday(conn, name: str, *, on: str, sex: Optional[str] = None, texts: tuple[str, ...] = (), by: str,
                now: dt.datetime) -> Occasion:
    """A day the clinic greets its patients on, every year (for one sex, if ``sex``), with its own texts
    (else the built-in ones, which name the holiday). All or nothing."""
    from followup import db
    from followup.records import parse_month_day

    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX:
        raise UsageError(N_("a holiday's name is 1-{n} characters"), n=NAME_MAX)
    month, day = parse_month_day(on)
    sex = _sex(sex)
    texts = tuple(_checked_text(t) for t in texts)
    with db.write_transaction(conn):
        if any(h["name"].casefold() == name.casefold() for h in db.holiday_rows(conn)):
            raise Conflict(N_("there is already a holiday {name!r} (followup occasion list)"), name=name)
        hid = db.insert_holiday(conn, name, month, day, sex, by=by, at=_stamp(now))
        for t in texts:
            db.insert_occasion_text(conn, f"holiday:{hid}", t, by=by, at=_stamp(now))
    return _occasion(conn, f"holiday:{hid}")


def occasions(conn) -> list[Occasion]:
    """The built-in occasions, then the clinic's holidays by date, each with the clinic's own texts."""
    from followup import db

    texts: dict[str, list[dict]] = {}
    for t in db.occasion_text_rows(conn):
        texts.setdefault(t["occasion"], []).append({"id": t["id"], "text": t["text"]})
    out = [Occasion(k, k, None, None, None, tuple(texts.get(k, ()))) for k in BUILT_IN]
    out += [Occasion(f"holiday:{h['id']}", h["name"], h["month"], h["day"], h["sex"],
                     tuple(texts.get(f"holiday:{h['id']}", ()))) for h in db.holiday_rows(conn)]
    return out


def _occasion(conn, given: str) -> Occasion:
    """An occasion named as a person names it: thanks, birthday (in either language), or a holiday's
    name (any case)."""
    from followup.records import understood

    given = " ".join((given or "").split())
    code = understood(given, BUILT_IN)
    found = [o for o in occasions(conn) if o.key == (code or given) or o.name.casefold() == given.casefold()]
    if not found:
        raise NotFound(N_("no occasion {name!r}: thanks, birthday or a holiday of followup occasion list"),
                       name=given)
    return found[0]


def add_text(conn, occasion: str, text: str, *, by: str, now: dt.datetime) -> tuple[Occasion, int]:
    """One more text of the clinic's for an occasion: from then on, the patients get the clinic's texts
    of it, a different one from the last they got."""
    from followup import db

    text = _checked_text(text)
    with db.write_transaction(conn):
        found = _occasion(conn, occasion)
        tid = db.insert_occasion_text(conn, found.key, text, by=by, at=_stamp(now))
    return _occasion(conn, found.key), tid


def retire_text(conn, text_id: int, *, by: str, now: dt.datetime) -> None:
    """A text no longer used (it stays recorded: who got it is kept)."""
    from followup import db

    with db.write_transaction(conn):
        if not db.retire_occasion_text(conn, text_id, by=by, at=_stamp(now)):
            raise NotFound(N_("no text #{id} in use (followup occasion list)"), id=text_id)


def remove_holiday(conn, name: str, *, by: str, now: dt.datetime) -> Occasion:
    """Stop greeting on a holiday (kept, marked removed: the greetings sent stay explained)."""
    from followup import db

    found = _occasion(conn, name)
    if not found.key.startswith("holiday:"):
        raise UsageError(N_("thanks and birthdays are always kept; withdraw the patients' consents instead"))
    with db.write_transaction(conn):
        db.remove_holiday(conn, int(found.key.split(":")[1]), by=by, at=_stamp(now))
    return found
