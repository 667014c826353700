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

import datetime as dt
import os

LANGUAGES = ("en", "ru")
DOMAIN = "followup"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")
_current = "en"
_translations: dict = {}


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGUAGES:
        raise ValueError(lang)
    _current = lang


def language() -> str:
    return _current


def catalogue(lang: str | None = None):
    """The gettext translations of a language (English: the message ids themselves)."""
    import gettext

    lang = lang or _current
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
    text = msgid if _current == "en" else catalogue().gettext(msgid)
    return text.format(**kw) if kw else text


def trc(context: str, msgid: str, /, **kw) -> str:
    """The text in one of its roles (a gettext message context): 'booked' as an appointment's status."""
    text = msgid if _current == "en" else catalogue().pgettext(context, msgid)
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
    text = (singular if n == 1 else plural) if _current == "en" else catalogue().ngettext(singular, plural, n)
    return text.format(n=n, **kw)


def day(d: dt.date | None) -> str:
    """A date as people read it: 2026-12-03 in English, 03.12.2026 in Russian."""
    if d is None:
        return ""
    return d.strftime("%d.%m.%Y") if _current == "ru" else d.isoformat()


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
