"""Every setting the clinic can change: its key, type, default, bounds and help, in one table.

`followup config`, the use cases (and the coming web pages) read and check settings here only, so
they refuse the same values with the same words. The contact policy (`Policy`), the report
thresholds and the survey questions are built from the stored settings here.

Bounds the domain fixes: a survey wave is at least 20 answers (the minimum number of respondents is
the point of the per-doctor reports); `report.positive_nps` is any NPS from -100 to 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from followup.entryids import CHANNELS  # a desk's capacity is set per channel: desk.capacity.call 60
from followup.errors import UsageError
from followup.i18n import LANGUAGES, N_, tr
from followup.records import Policy

QUESTIONS_VERSION = "v1"
QUESTIONS = {  # in the chosen language where asked (tr); a clinic's own, set by config, win
    "score": N_("Overall, how satisfied are you with your treatment, from 1 to 10?"),
    "recommend": N_("How likely are you to recommend us to friends or family, from 0 to 10?"),
    "expectations": N_("Did the treatment meet your expectations: yes, partly or no?"),
    "comment": N_("What should we improve?"),
}

MIN_SURVEY_WAVE = 20  # the domain's minimum number of respondents for a per-doctor figure
# what CSV files may be separated by: a comma, or a semicolon for a Russian Excel, or a tab
DELIMITERS = (",", ";", "tab")


def delimiter_char(chosen: str | None) -> str:
    """The character a CSV file is separated by, for the `csv.delimiter` setting's value."""
    return {"tab": "\t", ";": ";"}.get(chosen or ",", ",")


@dataclass(frozen=True)
class Setting:
    key: str
    kind: str                  # days | capacity | whole | number | text | address | choice | hours | timezone |
    #                            language | template | delimiter | version
    default: str               # for text kinds: the English text, shown in the chosen language
    low: float | None = None
    high: float | None = None


def _policy_settings() -> list[Setting]:
    """The contact policy's numbers: whole days or counts, 0-3650 (a wave: at least 20)."""
    high = {"important_amount": 100_000_000}  # roubles
    return [Setting(f.name, "days", str(f.default), MIN_SURVEY_WAVE if f.name == "survey_wave" else 0,
                    high.get(f.name, 3650)) for f in fields(Policy) if f.name not in DERIVED]


def _table() -> dict[str, Setting]:
    from followup.rules import DEFAULT_TEMPLATES

    table = [*_policy_settings(),
             Setting("clinic_name", "text", N_("The clinic")),
             Setting("clinic.letterhead", "text", ""),  # under the name on a letter: address, phone, site
             Setting("language", "language", ""),
             Setting("survey.version", "version", QUESTIONS_VERSION),
             Setting("report.positive_mean", "number", "8.0", 0, 10),
             Setting("report.positive_nps", "number", "30.0", -100, 100),
             Setting("csv.delimiter", "delimiter", ","),
             Setting("discount.steps", "steps", ""),
             *(Setting(f"desk.capacity.{ch}", "capacity", "", 1, 100_000) for ch in CHANNELS),
             Setting("clinic.timezone", "timezone", "Europe/Moscow"),
             Setting("send.hours", "hours", "09:00-20:00"),
             Setting("send.days", "weekdays", "mon,tue,wed,thu,fri,sat,sun"),
             Setting("send.email.host", "address", ""),
             Setting("send.email.port", "whole", "587", 1, 65535),
             Setting("send.email.security", "choice", "starttls"),
             Setting("send.email.from", "address", ""),
             Setting("send.email.user", "address", ""),
             Setting("send.sms.provider", "choice", "smsru"),
             Setting("send.sms.url", "address", ""),
             Setting("send.sms.sender", "address", ""),
             Setting("send.sms.max_parts", "whole", "2", 1, 10),  # the default texts fit 2 in Russian
             *(Setting(f"survey.question.{k}", "text", text) for k, text in QUESTIONS.items()),
             *(Setting(f"template.{code}", "template", text) for code, text in DEFAULT_TEMPLATES.items())]
    return {s.key: s for s in table}


_SETTINGS: dict[str, Setting] | None = None


def table() -> dict[str, Setting]:
    """Every setting, in the order `config list` shows them."""
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = _table()
    return _SETTINGS


# A staff member's name as the survey script says it ("Здравствуйте, это Ольга из …"): user.LOGIN.name
USER_NAME = re.compile(r"^user\.([^.\s]{1,64})\.name$")


def setting(key: str) -> Setting:
    """The setting named ``key``; an unknown key is a usage error."""
    found = table().get(key)
    if found is None and USER_NAME.match(key):
        return Setting(key, "text", "")  # unset: the login itself
    if found is None:
        raise UsageError(N_("unknown setting {key!r} (see followup config list)"), key=key)
    return found


def default(s: Setting) -> str:
    """A setting's default as shown: texts in the chosen language."""
    return tr(s.default) if s.kind in ("text", "template") and s.default else s.default


def get(stored: dict[str, str], key: str) -> str:
    """A setting's value: the stored one, else its default."""
    return stored.get(key) or default(setting(key))


def check(key: str, value: str) -> str:
    """The value to store for ``key``, or a usage error that says what the setting takes."""
    s = setting(key)
    if s.kind in ("days", "capacity", "whole"):
        if not value.strip().isdigit() or not s.low <= int(value) <= s.high:
            raise UsageError(N_("{key} takes a whole number from {low} to {high}"), key=key, low=int(s.low),
                             high=int(s.high))
        return str(int(value))
    if s.kind == "number":
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            number = None
        if number is None or not s.low <= number <= s.high:
            raise UsageError(N_("{key} takes a number from {low} to {high}"), key=key, low=s.low, high=s.high)
        return str(number)
    if s.kind == "choice":
        if value not in CHOICES[key]:
            raise UsageError(N_("{key} takes one of: {allowed}"), key=key, allowed=" ".join(CHOICES[key]))
        return value
    if s.kind == "hours":
        from followup.records import parse_window

        return str(parse_window(value))
    if s.kind == "weekdays":
        from followup.records import format_days, parse_days

        return format_days(parse_days(value))
    if s.kind == "timezone":
        if not timezone_ok(value):
            raise UsageError(N_("{key} takes a time zone such as Europe/Moscow or Asia/Yekaterinburg"), key=key)
        return value
    if s.kind == "address" and (len(value) > 300 or any(ch.isspace() and ch != " " for ch in value)):
        raise UsageError(N_("{key} takes a host, an address or a name on one line"), key=key)
    if s.kind == "delimiter":
        if value not in DELIMITERS:
            raise UsageError(N_("{key} takes one of: {allowed}"), key=key, allowed=" ".join(DELIMITERS))
        return value
    if s.kind == "language":
        if value not in LANGUAGES:
            raise UsageError(N_("language takes one of: {allowed}"), allowed=", ".join(LANGUAGES))
        return value
    if s.kind == "steps":
        return format_steps(parse_steps(value))
    if s.kind == "template":
        from followup.rules import template_problem

        problem = template_problem(value)
        if problem is not None:
            raise UsageError(N_("{key}: {problem}"), key=key, problem=problem)
    return value


def parse_steps(text: str) -> tuple[tuple[int, int], ...]:
    """The clinic's discount steps: '50000:5, 100000:10' -> ((50000, 5), (100000, 10)): from that many
    roubles of visits all told, that discount (%); '' for none. Amounts rise, discounts too."""
    steps = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        amount, _, percent = part.replace(" ", "").replace("\u00a0", "").partition(":")
        if not (amount.isdigit() and percent.isdigit() and 0 < int(percent) <= 100 and int(amount) > 0):
            raise UsageError(N_("discount.steps takes steps like 50000:5, 100000:10 (roubles:percent), not {value!r}"),
                             value=part.strip())
        steps.append((int(amount), int(percent)))
    if any(a >= b or p >= q for (a, p), (b, q) in zip(steps, steps[1:])):
        raise UsageError(N_("discount.steps: each step's amount and discount above the one before"))
    return tuple(steps)


def format_steps(steps) -> str:
    return ", ".join(f"{a}:{p}" for a, p in steps)


# the settings that take one of a few words
CHOICES = {"send.email.security": ("starttls", "ssl", "none"), "send.sms.provider": ("smsru", "smsaero")}


def timezone_ok(name: str) -> bool:
    """Whether ``name`` is a time zone this machine knows (the IANA database; tzdata on Windows)."""
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(name)
    except (ValueError, KeyError, OSError, ImportError):
        return False
    return True


def values(stored: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(key, value, whether it is the default) for every setting, as `config list` shows them."""
    return [*((k, stored[k], False) if k in stored else (k, default(s), True) for k, s in table().items()),
            *((k, v, False) for k, v in sorted(stored.items()) if USER_NAME.match(k))]


# Policy fields that come from the data, not from `followup config`
DERIVED = ("lists_since", "capacity", "holidays", "occasion_texts", "campaigns", "discount_steps")


def policy(stored: dict[str, str], *, lists_since=None, holidays=(), occasion_texts=(), campaigns=()) -> "Policy":
    """The contact policy: stored values (`followup config set cap_days 21`) over the defaults; the
    day followup's lists began (the first import) as the caller read it."""
    capacity = tuple((ch, int(stored[f"desk.capacity.{ch}"])) for ch in CHANNELS
                     if stored.get(f"desk.capacity.{ch}"))
    return Policy(**{f.name: int(stored[f.name]) for f in fields(Policy) if f.name in stored and f.name not in DERIVED},
                  lists_since=lists_since, capacity=capacity, holidays=holidays, occasion_texts=occasion_texts,
                  campaigns=campaigns, discount_steps=_steps(stored.get("discount.steps", "")))


def _steps(text: str) -> tuple:
    try:
        return parse_steps(text)
    except UsageError:  # (one stored before it was checked)
        return ()


def thresholds(stored: dict[str, str]):
    """The per-doctor report's thresholds: the wave size and what counts as positive."""
    from followup.reports import Thresholds

    defaults = Thresholds()
    return Thresholds(respondents=max(policy(stored).survey_wave, MIN_SURVEY_WAVE),
                      positive_mean=float(stored.get("report.positive_mean", defaults.positive_mean)),
                      positive_nps=float(stored.get("report.positive_nps", defaults.positive_nps)))


def clinic_name(stored: dict[str, str], *, capital: bool = True) -> str:
    """The clinic's name, or 'The clinic' / 'the clinic' in the chosen language."""
    return stored.get("clinic_name") or (tr("The clinic") if capital else tr("the clinic"))


def templates(stored: dict[str, str]) -> dict[str, str]:
    """The clinic's own SMS / e-mail templates, by reason code (the defaults are the rules')."""
    return {k.removeprefix("template."): v for k, v in stored.items() if k.startswith("template.")}


def question(stored: dict[str, str], key: str) -> str:
    """A survey question in the chosen language, or the clinic's own wording."""
    return stored.get(f"survey.question.{key}") or tr(QUESTIONS[key])


def questions_version(stored: dict[str, str]) -> str:
    return stored.get("survey.version", QUESTIONS_VERSION)
