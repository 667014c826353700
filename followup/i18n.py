"""One place for every user-facing string: the English text in the code is the key, its Russian
translation is in followup/locale_ru.py. A test keeps the two in step (every string the code
shows is in the catalogue, every catalogue entry is used and translated).

    tr("Consent granted for {pid}.", pid=pid)          # translated, then formatted
    ntr("{n} patient", "{n} patients", n)               # plural forms: 1 пациент, 2 пациента, 5 пациентов
    day(d)                                               # 2026-12-03 in English, 03.12.2026 in Russian

The language is chosen once per command (see choose): --lang, else $FOLLOWUP_LANG, else the clinic's
setting `language`, else the locale ($LC_ALL, $LC_MESSAGES, $LANG), else English. The JSON and CSV
contracts (field names, codes) are the same in every language.
"""

from __future__ import annotations

import datetime as dt
import os

LANGUAGES = ("en", "ru")
_current = "en"
_catalogue: dict | None = None


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGUAGES:
        raise ValueError(lang)
    _current = lang


def language() -> str:
    return _current


def _ru() -> dict:
    global _catalogue
    if _catalogue is None:
        from followup.locale_ru import MESSAGES

        _catalogue = MESSAGES
    return _catalogue


def tr(msgid: str, /, **kw) -> str:
    """The text in the current language, with the {fields} filled in."""
    text = msgid if _current == "en" else _ru().get(msgid, msgid)
    return text.format(**kw) if kw else text


def N_(msgid: str, /) -> str:
    """Marks a string for the catalogue where it is defined; translated where it is shown (tr)."""
    return msgid


def ntr(singular: str, plural: str, n: int, /, **kw) -> str:
    """The plural form for n ({n} is filled in): Russian has three (1 / 2-4 / 5-20, 11-14)."""
    if _current == "en":
        text = singular if n == 1 else plural
    else:
        forms = _ru().get((singular, plural)) or (singular, plural, plural)
        text = forms[russian_plural(n)]
    return text.format(n=n, **kw)


def russian_plural(n: int) -> int:
    """0 for 1, 21, 101 …; 1 for 2-4, 22-24 …; 2 for 0, 5-20, 25-30, 111-114 …"""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


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
