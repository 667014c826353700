"""Use cases of the occasions: the clinic's holidays (`followup occasion add|remove|list`) and its own
texts for thanks, birthdays and each holiday (`followup occasion text`). The rules decide who is greeted
(rules.thanks, rules.birthday, rules.holiday); these only keep what the manager set."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import N_, msg

BUILT_IN = ("thanks", "birthday", "discount_step")  # occasions every clinic has; holidays are the clinic's own
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
        raise UsageError(N_("thanks, birthdays and discount steps are always kept; withdraw the patients' consents "
                            "instead"))
    with db.write_transaction(conn):
        db.remove_holiday(conn, int(found.key.split(":")[1]), by=by, at=_stamp(now))
    return found


# ---------------------------------------------------------------------------
# Campaigns: marketing, only to those who asked for it

CAMPAIGN_DAYS = 14   # how long a campaign runs when no last day is given


def _campaign_of(row: dict):
    from followup.records import Campaign

    return Campaign(row["id"], row["name"], row["text"], row["channel"], row["audience"],
                    dt.date.fromisoformat(row["starts"]), dt.date.fromisoformat(row["ends"]))


@dataclass(frozen=True)
class Preview:
    campaign: object          # records.Campaign
    day: dt.date
    would_get: list[dict]     # patient_id, patient, channel, address
    not_sent: list[dict]      # patient_id, patient, excluded_by, why (a message)
    outside: int              # patients with the consent who are not of its audience
    no_consent: int           # active patients without a marketing consent record on its channel


def _preview(conn, campaign, day: dt.date) -> Preview:
    """Who a campaign reaches on ``day`` and who not, and why: the same rules as the day's list."""
    from dataclasses import replace

    from followup import db, rules
    from followup.actions.day import policy_of

    policy = replace(policy_of(conn, db.get_settings(conn)), campaigns=(campaign,))
    windows = rules.candidate_windows(day, policy)
    ids = db.marketing_consents(conn, campaign.channel)
    would, not_sent, outside = [], [], 0
    for start in range(0, len(ids), db.BATCH):
        for r in db.load_records(conn, day, ids[start:start + db.BATCH], windows):
            f = next(f for f in rules.assess(r, day, policy) if f.code == "campaign")
            if f.status == "due" and campaign.channel in f.channels:
                would.append({"patient_id": r.patient.patient_id, "patient": r.patient.name,
                              "channel": campaign.channel,
                              "consent_id": f.reason.evidence["consent_id"]})
            elif f.status == "excluded":
                not_sent.append({"patient_id": r.patient.patient_id, "patient": r.patient.name,
                                 "excluded_by": f.excluded_by, "why": f.text})
            else:
                outside += 1
    no_consent = db.active_patients(conn) - len(ids)
    return Preview(campaign, day, would, not_sent, outside, max(no_consent, 0))


def add_campaign(conn, name: str, *, text: str, channel: str, audience: str = "all",
                 starts: Optional[dt.date] = None, ends: Optional[dt.date] = None, by: str, now: dt.datetime,
                 today: dt.date) -> Preview:
    """A marketing message to the patients of an audience who gave the marketing consent on its channel,
    sent by `followup send` from its first day to its last, once to each. Refused, with nothing written,
    when nobody of the audience could get it."""
    from followup import db
    from followup.records import AUDIENCES, MESSAGES, Campaign, understood

    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX:
        raise UsageError(N_("a campaign's name is 1-{n} characters"), n=NAME_MAX)
    text = _checked_text(text)
    code = understood(channel or "", MESSAGES, "channel")
    if code is None:
        raise UsageError(N_("a campaign goes out by sms, email or messenger, not {value!r}"), value=channel)
    kind = understood(audience or "all", AUDIENCES)
    if kind is None:
        raise UsageError(N_("unknown audience {value!r} (one of {allowed})"), value=audience,
                         allowed=", ".join(AUDIENCES))
    starts = starts or today
    ends = ends or starts + dt.timedelta(days=CAMPAIGN_DAYS - 1)
    if ends < starts:
        raise UsageError(N_("the campaign ends ({to}) before it starts ({start})"), to=ends, start=starts)
    if ends < today:
        raise UsageError(N_("the campaign would end ({to}) before today"), to=ends)
    if any(c["name"].casefold() == name.casefold() for c in db.campaign_rows(conn)):
        raise Conflict(N_("there is already a campaign {name!r} (followup campaign list)"), name=name)
    preview = _preview(conn, Campaign(0, name, text, code, kind, starts, ends), max(starts, today))
    if not preview.would_get and not any(n["excluded_by"] not in ("no_consent", "withdrawn")
                                         for n in preview.not_sent):
        raise UsageError(N_("nobody of the audience {audience} gave the marketing consent by {channel}: the "
                            "campaign would reach nobody; nothing written"), audience=msg(kind), channel=msg(code))
    with db.write_transaction(conn):
        cid = db.insert_campaign(conn, {"name": name, "text": text, "channel": code, "audience": kind,
                                        "starts": starts.isoformat(), "ends": ends.isoformat(), "created_by": by,
                                        "created_at": _stamp(now)})
    return Preview(Campaign(cid, name, text, code, kind, starts, ends), preview.day, preview.would_get,
                   preview.not_sent, preview.outside, preview.no_consent)


def _campaign_named(conn, name: str, *, stopped: bool = True) -> dict:
    from followup import db

    given = " ".join((name or "").split())
    found = [c for c in db.campaign_rows(conn, stopped=stopped) if c["name"].casefold() == given.casefold()
             or str(c["id"]) == given]
    if not found:
        raise NotFound(N_("no campaign {name!r} (followup campaign list)"), name=given)
    return found[-1]


def campaigns(conn) -> list[dict]:
    """Every campaign, the stopped ones too, each with what it did so far."""
    from followup import db

    return [{**c, **db.campaign_results(conn, c["id"])} for c in db.campaign_rows(conn, stopped=True)]


def campaign_preview(conn, name: str, *, day: Optional[dt.date] = None, today: dt.date) -> tuple[dict, Preview]:
    """A campaign (with what it did so far), and who it reaches on ``day`` (default: today, or its first
    day if later) and who not, and why."""
    from followup import db

    row = _campaign_named(conn, name)
    campaign = _campaign_of(row)
    return {**row, **db.campaign_results(conn, row["id"])}, _preview(conn, campaign, day or max(today, campaign.starts))


def stop_campaign(conn, name: str, *, by: str, now: dt.datetime) -> dict:
    """Stop a campaign at once: nothing more of it is listed or sent."""
    from followup import db

    row = _campaign_named(conn, name, stopped=False)
    with db.write_transaction(conn):
        db.stop_campaign(conn, row["id"], by=by, at=_stamp(now))
    return row
