"""One place for every user-facing string: the English text in the code is the message id; its
Russian translation is in the gettext catalogue followup/locale/ru/LC_MESSAGES/followup.po
(compiled to the .mo beside it, which the standard library's gettext reads). A test keeps the
catalogue and the code in step (every string the code shows is in the catalogue, every entry is
used and translated, the .mo is the .po compiled).

    tr("Consent granted for {pid}.", pid=pid)          # translated, then formatted
    trc("appointment", "booked")                        # a word in one of its roles (a message context)
    ntr("{n} patient", "{n} patients", n)               # plural forms, by the catalogue's Plural-Forms rule
    day(d)                                               # 2026-12-03 in English, 03.12.2026 in Russian

The language is chosen once per command (see choose): --lang, else $FOLLOWUP_LANG, else the clinic's
setting `language`, else the locale ($LC_ALL, $LC_MESSAGES, $LANG), else English. The JSON and CSV
contracts (field names, codes) are the same in every language.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os

LANGUAGES = ("en", "ru")
DOMAIN = "followup"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")
# the reader's language: a context variable, so that the web server's threads, each serving another
# desk, never read one another's (a command sets it once)
_language: contextvars.ContextVar[str] = contextvars.ContextVar("followup_language", default="en")
_translations: dict = {}


def set_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(lang)
    _language.set(lang)


def language() -> str:
    return _language.get()


def catalogue(lang: str | None = None):
    """The gettext translations of a language (English: the message ids themselves)."""
    import gettext

    lang = lang or _language.get()
    found = _translations.get(lang)
    if found is None:
        if lang == "en":
            found = gettext.NullTranslations()
        else:
            found = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])
        _translations[lang] = found
    return found


def tr(msgid: str, /, **kw) -> str:
    """The text in the current language, with the {fields} filled in."""
    text = msgid if _language.get() == "en" else catalogue().gettext(msgid)
    return text.format(**kw) if kw else text


def trc(context: str, msgid: str, /, **kw) -> str:
    """The text in one of its roles (a gettext message context): 'booked' as an appointment's status."""
    text = msgid if _language.get() == "en" else catalogue().pgettext(context, msgid)
    return text.format(**kw) if kw else text


GENDERS = ("female", "male")  # the message contexts of a sentence about a person of that gender (trg)


def trg(gender: str | None, msgid: str, /, **kw) -> str:
    """A sentence about a person, agreeing with their grammatical gender where it is known ("отказалась"
    / "отказался"); else the catalogue's neutral wording ("отказ")."""
    text = msgid
    if _language.get() != "en":
        text = catalogue().gettext(msgid)
        if gender in GENDERS:
            gendered = catalogue().pgettext(gender, msgid)
            text = gendered if gendered != msgid else text
    return text.format(**kw) if kw else text


def N_(msgid: str, /) -> str:
    """Marks a string for the catalogue where it is defined; translated where it is shown (tr)."""
    return msgid


def NC_(context: str, msgid: str, /) -> str:
    """Marks a word in one of its roles for the catalogue (shown with trc)."""
    return msgid


def ntr(singular: str, plural: str, n: int, /, **kw) -> str:
    """The plural form for n ({n} is filled in): Russian has three (1 / 2-4 / 5-20, 11-14), by the rule
    in the catalogue's Plural-Forms header."""
    text = (singular if n == 1 else plural) if _language.get() == "en" else catalogue().ngettext(singular, plural, n)
    return text.format(n=n, **kw)


class Msg:
    """A message as data: its id (the English text) and parameters, never a sentence of the moment.

    Stored as JSON (``data()``), shown in the reader's language (``str()``) or in English, the same in
    every language (``english()``), for JSON outputs. A tuple id is a plural (singular, plural) with
    ``n`` among the parameters. A parameter may be a message itself, a date (shown as the language
    writes dates), or a list of those (shown joined by commas)."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid, /, **params):
        self.msgid, self.params = msgid, params

    def __str__(self) -> str:
        params = {k: _shown(v) for k, v in self.params.items()}
        if isinstance(self.msgid, tuple):
            return ntr(*self.msgid, params.pop("n"), **params)
        return tr(self.msgid, **params)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other) -> bool:
        return isinstance(other, Msg) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{self.params!r})"

    def __contains__(self, text: str) -> bool:  # `"closed" in finding.text`, as of a sentence
        return text in str(self)

    def english(self) -> str:
        with using("en"):
            return str(self)

    def data(self) -> dict:
        return {"msgid": list(self.msgid) if isinstance(self.msgid, tuple) else self.msgid,
                "params": {k: _data(v) for k, v in self.params.items()}}

    @classmethod
    def from_data(cls, data) -> "Msg | str":
        """A stored message (a plain string, from before messages were stored as data, stays one)."""
        if not isinstance(data, dict):
            return data
        msgid = data["msgid"]
        return cls(tuple(msgid) if isinstance(msgid, list) else msgid,
                   **{k: _from_data(v) for k, v in data["params"].items()})


def _shown(value):
    if isinstance(value, Msg):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"{day(value.date())} {value:%H:%M}"
    if isinstance(value, dt.date):
        return day(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, map(_shown, value)))
    return value


def _data(value):
    if isinstance(value, Msg):
        return value.data()
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat(sep=" ", timespec="minutes")}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _from_data(value):
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        return dt.date.fromisoformat(value["date"]) if "date" in value else Msg.from_data(value)
    if isinstance(value, list):
        return [_from_data(v) for v in value]
    return value


def render(value):
    """A value that may hold messages as data (a dict from ``Msg.data()``, a list of them), as text in
    the reader's language; anything else as it is."""
    if isinstance(value, dict) and "msgid" in value:
        return str(Msg.from_data(value))
    if isinstance(value, Msg):
        return str(value)
    return value


class using:
    """``with using("en"):`` — the messages inside in that language (then the language before)."""

    def __init__(self, lang: str):
        self.lang = lang

    def __enter__(self):
        self.token = _language.set(self.lang)

    def __exit__(self, *exc):
        _language.reset(self.token)


def msg(msgid: str, /, **params) -> Msg:
    """A message to store or pass on, shown later in the reader's language."""
    return Msg(msgid, **params)


def nmsg(singular: str, plural: str, n: int, /, **params) -> Msg:
    """A plural message to store or pass on ({n} is filled in when shown)."""
    return Msg((singular, plural), n=n, **params)


def day(d: dt.date | None) -> str:
    """A date as people read it: 2026-12-03 in English, 03.12.2026 in Russian."""
    if d is None:
        return ""
    return d.strftime("%d.%m.%Y") if _language.get() == "ru" else d.isoformat()


def from_locale(environ=os.environ) -> str | None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var)
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in LANGUAGES else None
    return None


def choose(given: str | None, setting: str | None, environ=os.environ) -> str:
    """--lang, else $FOLLOWUP_LANG, else the clinic's setting, else the locale, else English."""
    for candidate in (given, environ.get("FOLLOWUP_LANG"), setting):
        if candidate:
            code = candidate.strip().lower()
            if code in LANGUAGES:
                return code
    return from_locale(environ) or "en"
