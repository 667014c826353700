"""The records the rules read and return: frozen dataclasses, built by keyword where they are loaded.

Also the vocabularies they are written in (purposes, outcomes, channels, reason codes) and the
stored text forms of a time window and of weekdays. No clock, no database, no words for people.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, fields

from followup.entryids import CHANNELS as _CHANNELS
from followup.errors import UsageError
from followup.i18n import Msg, N_


PURPOSES = ("reminder", "plan", "control", "survey", "recall", "agreed", "marketing", "thanks", "greetings")
# what "all" purposes means where a person records a consent: the care contacts. Marketing (advertising:
# a separate, provable consent, 38-FZ art. 18), thanks and greetings are each asked for by name.
CARE_PURPOSES = ("reminder", "plan", "control", "survey", "recall", "agreed")
OUTCOMES = ("reached", "no-answer", "busy", "wrong-number", "declined", "booked", "call-back", "sent", "undelivered")
ACTIVE = "active"
CHANNELS = _CHANNELS  # an entry is one patient's contact on one channel

# reason code -> the consent purpose it needs
REASONS = {
    "appointment_reminder": "reminder",
    "plan_stage_missed": "plan",
    "control_overdue": "control",
    "survey_call": "survey",
    "hygiene_recall": "recall",
    "agreed_contact": "agreed",
    # the occasions: not care, never counted against the care contacts' cap (they have their own), a
    # section of the list of their own, and written only (an SMS, an e-mail, a messenger)
    "thanks": "thanks",
    "birthday": "greetings",
    "holiday": "greetings",
    # advertising (38-FZ art. 18): only with the marketing consent on the campaign's channel, the consent
    # that allowed it kept with the message sent
    "campaign": "marketing",
    # the clinic's discount went up for the patient (their visits passed a step): in writing, to the person
    "discount_step": "marketing",
}
OCCASIONS = ("thanks", "birthday", "holiday")
# "what brought you": the sources a clinic starts with (it may add its own words: followup source add)
SOURCES = ("recommendation", "mailing", "search", "map", "passing_by", "insurance", "social", "advert", "other")
WRITTEN = ("sms", "email", "messenger", "post")  # the channels an occasion goes out on (post: a printed letter)
MESSAGES = ("sms", "email", "messenger")  # the channels a campaign goes out on
MARKETING = ("campaign", "discount_step")
NOT_CARE = OCCASIONS + MARKETING          # the reasons of the list's own sections, after the care contacts
AUDIENCES = ("all", "regulars", "families")
SEXES = ("female", "male")
# outcomes after which a reason is settled (the patient was spoken to)
SETTLING = {"reached", "booked", "declined", "sent"}  # sent: an SMS or e-mail went out (followup send)
# codes shown as words in tables and sentences (tr): statuses, outcomes, findings
WORDS = (N_("active"), N_("archived"), N_("deceased"), N_("answered"), N_("declined"), N_("reached"),
         N_("no-answer"), N_("busy"), N_("wrong-number"), N_("booked"), N_("call-back"), N_("sent"), N_("undelivered"), N_("due"), N_("waiting"), N_("excluded"),
         N_("none"), N_("call"), N_("sms"), N_("messenger"), N_("post"), N_("appointment_reminder"), N_("plan_stage_missed"),
         N_("control_overdue"), N_("survey_call"), N_("hygiene_recall"), N_("agreed_contact"), N_("reminder"),
         N_("plan"), N_("control"), N_("recall"), N_("agreed"), N_("marketing"), N_("in-person"), N_("form"),
         N_("recommendation"), N_("mailing"), N_("search"), N_("map"), N_("passing_by"), N_("insurance"),
         N_("social"), N_("advert"), N_("campaign"), N_("discount_step"), N_("regulars"), N_("families"), N_("thanks"), N_("greetings"), N_("birthday"), N_("holiday"), N_("female"), N_("male"),
         N_("import"), N_("mon"), N_("tue"), N_("wed"), N_("thu"), N_("fri"), N_("sat"), N_("sun"))
UNANSWERED = {"no-answer", "busy", "undelivered"}  # undelivered: an SMS the gateway could not deliver
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---------------------------------------------------------------------------
# Records


def maker(cls):
    """A positional constructor for a frozen record, every field given in order: what a day's plan
    builds its tens of thousands of records with. The dataclass' own __init__ sets each field through
    object.__setattr__ (6 µs for a 13-field consent, a third of loading a day's candidates); this
    fills the new record's __dict__ at once (2 µs). The record is the same (a test compares them)."""
    names, new = tuple(f.name for f in fields(cls)), object.__new__

    def make(*values):
        record = new(cls)
        record.__dict__.update(zip(names, values))
        return record

    return make


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str
    first_name: str | None = None
    middle_name: str | None = None
    phone: str | None = None
    phone_valid: bool = False
    phone_sms: bool = True      # a mobile number: False for a landline, toll-free or one with an extension
    email: str | None = None
    household_id: str | None = None
    status: str = ACTIVE
    missing_since: dt.date | None = None
    birth_date: dt.date | None = None
    first_seen: dt.date | None = None    # the first visit: the export's date, or the earliest visit
    last_visit: dt.date | None = None
    last_doctor: str | None = None       # the doctor of the last visit
    recent_visits: int | None = None     # visit days in the last policy.regular_months (None: count r.visits)
    total_amount: float | None = None    # what the visits cost, all told (the export's amounts)
    postal_address: str | None = None    # where a letter goes (the export's address)


@dataclass(frozen=True)
class Visit:
    visit_id: str
    patient_id: str
    doctor: str | None
    date: dt.date
    kind: str
    control_due: dt.date | None = None


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    patient_id: str
    doctor: str | None
    start: dt.datetime
    status: str


@dataclass(frozen=True)
class PlanStage:
    plan_id: str
    stage: str
    patient_id: str
    doctor: str | None
    title: str | None
    due: dt.date | None
    status: str
    signed: dt.date | None = None


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Campaign:
    """A marketing message the manager wrote (`followup campaign add`): to whom, on which channel, between
    which days; sent once to each patient of its audience who gave the marketing consent on that channel."""

    id: int
    name: str
    text: str
    channel: str
    audience: str
    starts: dt.date
    ends: dt.date


@dataclass(frozen=True)
class Consent:
    patient_id: str
    purpose: str
    channel: str
    granted: bool
    recorded_at: dt.datetime
    recorded_by: str
    how: str = "in-person"
    address: str | None = None
    window: Window | None = None
    days: frozenset[int] | None = None   # 0 = Monday; None = any day
    note: str | None = None
    source: str = "followup"
    id: int | None = None                # the record's number: a marketing message keeps the one that allowed it


@dataclass(frozen=True)
class NextContact:
    id: int
    patient_id: str
    due: dt.date
    reason: str
    channel: str | None = None
    doctor: str | None = None
    recorded_by: str = ""


@dataclass(frozen=True)
class Contact:
    id: int
    patient_id: str
    at: dt.datetime
    channel: str
    outcome: str
    reasons: tuple[tuple[str, str], ...]  # (code, ref)
    retry_on: dt.date | None = None
    callback_on: dt.date | None = None
    by: str = ""
    note: str | None = None     # an undelivered message's: why, as a code (rules.DELIVERY_FAILURES)
    texts: tuple[tuple[str, str], ...] = ()  # the occasions' texts it carried: (occasion key, text id)


@dataclass(frozen=True)
class PhoneFlag:
    patient_id: str
    phone: str
    flagged_on: dt.date


@dataclass(frozen=True)
class Complaint:
    id: int
    patient_id: str
    doctor: str | None
    opened: dt.date
    resolved: dt.date | None = None


@dataclass(frozen=True)
class SurveyDone:
    """A survey recorded for a patient: answered or declined, about a treatment (its end visit)."""

    patient_id: str
    visit_id: str | None
    date: dt.date
    status: str              # "answered" | "declined"
    score: int | None = None


@dataclass(frozen=True)
class Holiday:
    """A day the clinic greets its patients on (`followup occasion add`), every year; for one sex only,
    if so set. Its texts, if the clinic wrote its own (else the built-in ones), by id."""

    id: int
    name: str
    month: int
    day: int
    sex: str | None = None


@dataclass(frozen=True)
class Member:
    """Another member of the patient's household, as the occasions see them: whether they consented
    to greetings on a written channel (a member without it is named on the entry, never skipped)."""

    patient: "Patient"
    greetings: bool


@dataclass(frozen=True)
class Policy:
    """The clinic's rules of contact; stored in the database (`followup config`)."""

    reminder_days: int = 1          # remind of appointments up to N days ahead (1 = tomorrow)
    plan_grace_days: int = 7        # a plan stage this many days overdue is "missed"
    control_grace_days: int = 3     # a control date this many days past is "overdue"
    survey_from_days: int = 7       # the survey call: 7-14 days after treatment ended
    survey_to_days: int = 14
    survey_wave: int = 20           # respondents per doctor for a wave
    recall_months: int = 6          # hygiene recall after the last hygiene visit
    recall_window_days: int = 60    # a recall stays on the list this long, then it lapses
    overdue_window_days: int = 90   # a missed stage / control stays on the list this long
    cap_days: int = 14              # at most one non-reminder contact per patient per N days
    max_attempts: int = 3           # unanswered attempts per reason before it goes to the manager
    retry_days: int = 1             # after no answer, try again N days later at another time
    refusal_days: int = 90          # a refusal this recent is shown as a warning
    complaint_overdue_days: int = 3  # an open complaint older than this is overdue
    low_score: int = 6              # a satisfaction score this low is negative: warn, offer a complaint
    occasion_cap_days: int = 3      # at most one occasion (thanks, greetings) per patient per N days
    regular_visits: int = 4         # a regular patient: this many visit days ...
    regular_months: int = 12        # ... in this many months
    important_amount: int = 100_000  # a patient whose visits cost this much all told (roubles; 0: nobody)
    marketing_cap_days: int = 30    # at most one marketing message per patient per N days
    # not a setting: the day of the clinic's first import, from which followup's lists exist. A reason
    # that lapsed before it was never on a list, so it is not the manager's to pick up.
    lists_since: dt.date | None = None
    # not a `days` setting either: how many entries a day each channel's desks can do
    # (`desk.capacity.call 60`), as (channel, entries) pairs; a channel not named has no limit
    capacity: tuple[tuple[str, int], ...] = ()
    # not settings either: the clinic's holidays, and its own texts by occasion key ("thanks",
    # "birthday", "holiday:3") as (key, ((text id, text), ...)) pairs; an occasion without texts of its
    # own takes the built-in ones (rules.OCCASION_TEXTS)
    holidays: tuple[Holiday, ...] = ()
    occasion_texts: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    campaigns: tuple[Campaign, ...] = ()  # the campaigns not stopped (each runs from its first to its last day)
    discount_steps: tuple[tuple[int, int], ...] = ()  # (roubles of visits all told, discount %): discount.steps


@dataclass(frozen=True)
class Records:
    """Everything the rules may look at for one patient."""

    patient: Patient
    visits: tuple[Visit, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    plan_stages: tuple[PlanStage, ...] = ()
    consents: tuple[Consent, ...] = ()
    next_contacts: tuple[NextContact, ...] = ()
    contacts: tuple[Contact, ...] = ()
    phone_flags: tuple[PhoneFlag, ...] = ()
    complaints: tuple[Complaint, ...] = ()
    surveys: tuple[SurveyDone, ...] = ()
    survey_counts: dict = field(default_factory=dict)  # doctor -> responses in the current wave
    reason_actions: tuple["ReasonAction", ...] = ()
    waits: tuple["ReasonWait", ...] = ()
    household: tuple[Member, ...] = ()   # the other members of the patient's household


@dataclass(frozen=True)
class ReasonAction:
    """The manager's decision on a reason that lapsed without an attempt: put it back on the list
    (requeue, from that day for the reason's usual window) or close it (with a note)."""

    patient_id: str
    code: str
    ref: str
    action: str             # "requeue" | "close"
    on: dt.date
    note: str | None
    by: str


@dataclass(frozen=True)
class ReasonWait:
    """A reason waiting in line for a desk with a capacity (the day's list was full): since when, and
    the day it came to the list at last. A reason in line does not lapse; on the list it may, after
    that day."""

    patient_id: str
    code: str
    ref: str
    since: dt.date
    listed_on: dt.date | None = None


# ---------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Reason:
    code: str
    ref: str                # which record: an appointment, a plan stage, a visit ...
    text: Msg               # the sentence the call can open with (shown in the reader's language)
    doctor: str | None
    due: dt.date            # since when the reason holds
    evidence: dict
    priority: int = 1       # lower comes first (survey calls of doctors still collecting: 0)

    @property
    def purpose(self) -> str:
        return REASONS[self.code]


@dataclass(frozen=True)
class Finding:
    """One rule's answer for one patient: due, excluded (and why), or not applicable."""

    code: str
    status: str             # "due" | "excluded" | "none" ("lapsed" only between a rule and assess)
    text: Msg               # why, shown in the reader's language
    reason: Reason | None = None
    channels: tuple[str, ...] = ()
    excluded_by: str | None = None  # inactive, settled, no_consent, withdrawn, unreachable, attempts, lapsed,
    #                                 call_back, retry, cap, today, day (for scripts and the manager's list)


@dataclass(frozen=True)
class Entry:
    entry_id: str
    patient: Patient
    channel: str
    address: str | None
    window: Window | None
    reasons: tuple[Reason, ...]
    warnings: tuple[Msg, ...]
    household: tuple["Entry", ...] = ()

    @property
    def section(self) -> str:
        """"occasions" for an entry of thanks and greetings only, "marketing" for a campaign's, else "care":
        the list shows the occasions, then the marketing, after the care contacts."""
        codes = {r.code for who in (self, *self.household) for r in who.reasons}
        if codes <= set(MARKETING):
            return "marketing"
        return "occasions" if codes <= set(OCCASIONS) else "care"


# ---------------------------------------------------------------------------
# Stored text forms


# ---------------------------------------------------------------------------
# Words people type: every word the interface shows, in either language and any case, is the code


EXPECTATIONS = ("yes", "partly", "no")
HOW = ("in-person", "phone", "form")
# words a person may type for a code besides the code and its translations (folded: lower case, ё as е)
SYNONYMS = {
    "channel": {"смс": "sms", "sms": "sms", "эсэмэс": "sms", "почта": "email", "электронная почта": "email",
                "e-mail": "email", "телефон": "call", "позвонить": "call", "whatsapp": "messenger",
                "telegram": "messenger", "вотсап": "messenger", "телеграм": "messenger", "письмо": "post",
                "письмом": "post", "почтой": "post", "бумажное письмо": "post", "letter": "post"},
    "outcome": {"дозвонился": "reached", "дозвонилась": "reached", "не ответил": "no-answer",
                "не ответила": "no-answer", "не отвечает": "no-answer", "не дозвонились": "no-answer",
                "отказался": "declined", "отказалась": "declined", "записался": "booked", "записалась": "booked",
                "записана": "booked", "перезвонить позже": "call-back", "ошибка в номере": "wrong-number"},
    "how": {"лично": "in-person", "по телефону": "phone", "анкета": "form"},
    "source": {"рекомендация": "recommendation", "по рекомендации": "recommendation", "от знакомых": "recommendation",
               "знакомые": "recommendation", "друзья": "recommendation", "от друзей": "recommendation",
               "сарафанное радио": "recommendation", "word of mouth": "recommendation", "referral": "recommendation",
               "рассылка": "mailing", "наша рассылка": "mailing", "смс-рассылка": "mailing", "смс рассылка": "mailing",
               "письмо": "mailing", "newsletter": "mailing", "интернет": "search", "поиск": "search",
               "яндекс": "search", "google": "search", "гугл": "search", "сайт": "search", "website": "search",
               "карта": "map", "карты": "map", "2гис": "map", "2gis": "map", "яндекс карты": "map",
               "яндекс.карты": "map", "мимо": "passing_by", "проходил мимо": "passing_by",
               "проходила мимо": "passing_by", "шел мимо": "passing_by", "вывеска": "passing_by",
               "рядом с домом": "passing_by", "passing by": "passing_by", "страховая": "insurance",
               "страховка": "insurance", "дмс": "insurance", "страховая компания": "insurance",
               "соцсети": "social", "социальные сети": "social", "вконтакте": "social", "вк": "social",
               "instagram": "social", "инстаграм": "social", "telegram": "social", "телеграм": "social",
               "реклама": "advert", "ads": "advert", "радио": "advert", "тв": "advert", "другое": "other",
               "прочее": "other"},
    "sex": {"ж": "female", "жен": "female", "женский": "female", "женщина": "female", "women": "female",
            "woman": "female", "f": "female", "м": "male", "муж": "male", "мужской": "male", "мужчина": "male",
            "men": "male", "man": "male", "m": "male"},
}


def _folded(text: str) -> str:
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").replace("_", "-").casefold().split())


def understood(text: str, codes: tuple[str, ...], kind: str = "") -> str | None:
    """The code a person meant by ``text``: the code itself, or its word in any language the interface
    speaks ("смс", "SMS", "нет ответа", "Частично"), in any case; None for a word not in the list."""
    word = _folded(text)
    for code in codes:
        if word == code:
            return code
    found = SYNONYMS.get(kind, {}).get(word)
    if found in codes:
        return found
    from followup.i18n import LANGUAGES, catalogue

    for lang in LANGUAGES:
        for code in codes:
            if word == _folded(catalogue(lang).gettext(code)):
                return code
    return None


# the days a person may name for a list, a contact or a report: the rules add and subtract months
# and years around them, which the calendar's ends (0001-01-01, 9999-12-31) do not allow
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def parse_month_day(text: str) -> tuple[int, int]:
    """'12-31' or '31.12' -> (12, 31): a day of the year that exists (29 February does, in leap years)."""
    import re

    t = text.strip()
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", t)
    n = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.?", t)
    if not (m or n):
        raise UsageError(N_("day {value!r} is not like 12-31 (month-day) or 31.12"), value=text)
    month, day = (int(m[1]), int(m[2])) if m else (int(n[2]), int(n[1]))
    try:
        dt.date(2000, month, day)  # a leap year: every day that exists in some year
    except ValueError:
        raise UsageError(N_("there is no day {value!r} in the calendar"), value=text) from None
    return month, day


def usable_day(day: dt.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


@functools.lru_cache(maxsize=256)
def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sat,sun', 'mon,wed-fri', 'пн-пт' -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        lo, hi = understood(lo, WEEKDAYS) or lo, (understood(hi, WEEKDAYS) or hi) if hi else hi
        if lo not in WEEKDAYS or (hi and hi not in WEEKDAYS):
            raise UsageError(N_("unknown day {value!r} (use mon, tue, wed, thu, fri, sat, sun)"), value=part)
        a, b = WEEKDAYS.index(lo), WEEKDAYS.index(hi or lo)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not days:
        raise UsageError(N_("no days given"))
    return frozenset(days)


def format_days(days: frozenset[int] | None) -> str:
    """Weekday numbers -> 'mon,tue' as stored (codes, whatever the language)."""
    return "any" if days is None else ",".join(WEEKDAYS[d] for d in sorted(days))


@functools.lru_cache(maxsize=256)
def parse_window(text: str) -> Window:
    """'18:00-20:00' -> Window; hours 0-23, minutes 0-59, start before end."""
    try:
        a, b = text.replace(" ", "").split("-")
        start, end = dt.time.fromisoformat(_hhmm(a)), dt.time.fromisoformat(_hhmm(b))
    except ValueError:
        raise UsageError(N_("window {value!r} is not like 18:00-20:00"), value=text) from None
    if start >= end:
        raise UsageError(N_("window {value!r} ends before it starts"), value=text)
    return Window(start, end)


def _hhmm(s: str) -> str:
    h, _, m = s.partition(":")
    if not (h.isdigit() and m.isdigit() and len(m) == 2 and len(h) in (1, 2)):
        raise ValueError(s)
    return f"{int(h):02d}:{m}"
