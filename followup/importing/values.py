"""Parsing single values from exports: dates, phones, names, enumerations.

Every parser returns the normalised value or raises ``BadValue`` with a short
reason that never repeats the value itself (it may be personal data).
Fast paths come first: an export of 500,000 visits is parsed value by value.
"""

from __future__ import annotations

import datetime as dt
import re

from followup.i18n import Msg, N_

class BadValue(ValueError):
    """A value that cannot be read; the message is the reason, without the value: a message id and its
    parameters (i18n.Msg), stored with the rejected row and shown in the reader's language."""

    def __init__(self, msgid: str = "", /, **params):
        super().__init__(msgid)
        self.message = Msg(msgid, **params)

    def __str__(self) -> str:
        return str(self.message)


def _ymd(y: int, m: int, d: int) -> dt.date:
    try:
        return dt.date(y, m, d)
    except ValueError:
        raise BadValue(N_("impossible date")) from None


def _year(text: str, pivot: int) -> int:
    if len(text) == 4:
        return int(text)
    if len(text) == 2:
        y = 2000 + int(text)
        return y - 100 if y > pivot else y
    raise BadValue(N_("unrecognised date"))


def parse_date(value, *, date_format: str | None = None, pivot_year: int = 2069) -> dt.date:
    """Read a date: dd.mm.yyyy, dd.mm.yy, yyyy-mm-dd, each optionally with a time.

    Two-digit years above ``pivot_year`` fall into the previous century. A date
    that does not exist (31.02.2024) is an error, never a swapped day and month.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not date_format and len(value) == 10:  # the usual dd.mm.yyyy or yyyy-mm-dd, fast
        if value[2] == "." and value[5] == ".":
            y, m, d = value[6:], value[3:5], value[:2]
        elif value[4] == "-" and value[7] == "-":
            y, m, d = value[:4], value[5:7], value[8:]
        else:
            y = m = d = ""
        if y.isdigit() and m.isdigit() and d.isdigit() and (y + m + d).isascii():
            return _ymd(int(y), int(m), int(d))
    return parse_datetime(value, date_format=date_format, pivot_year=pivot_year).date()


def parse_datetime(value, *, date_format: str | None = None, pivot_year: int = 2069) -> dt.datetime:
    """Like ``parse_date`` but keeps the time of day (midnight when there is none).

    A ``date_format`` describes the date; a time after it (``H:MM``, ``HH:MM``, with or without
    seconds) is read too, and a format with a time also reads a date alone. A value written as a
    spreadsheet writes a date cell (ISO, ``2026-06-16 10:30:00``) never needs a format.
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    s = str(value).strip()
    if not s.isascii():
        raise BadValue(N_("unrecognised date"))
    if date_format:
        return _formatted(s, date_format)
    date_part, _, time_part = s.replace("T", " ", 1).partition(" ")
    try:
        if len(date_part) == 10 and date_part[2] == "." and date_part[5] == ".":
            day = _ymd(int(date_part[6:]), int(date_part[3:5]), int(date_part[:2]))
        elif len(date_part) == 10 and date_part[4] == "-" and date_part[7] == "-":
            day = _ymd(int(date_part[:4]), int(date_part[5:7]), int(date_part[8:]))
        else:
            parts = date_part.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) > 2 or len(parts[1]) > 2:
                raise BadValue(N_("unrecognised date") if s else N_("empty date"))
            day = _ymd(_year(parts[2], pivot_year), int(parts[1]), int(parts[0]))
    except ValueError as exc:
        if isinstance(exc, BadValue):
            raise
        raise BadValue(N_("unrecognised date")) from None
    return _at(day, time_part)


def _at(day: dt.date, time_part: str) -> dt.datetime:
    """The day at a time of day written H:MM, HH:MM or HH:MM:SS (midnight when there is none)."""
    time_part = time_part.strip()
    if not time_part:
        return dt.datetime(day.year, day.month, day.day)
    bits = time_part.split(":")
    try:
        if not 2 <= len(bits) <= 3 or not all(b.strip().replace(".", "", 1).isdigit() for b in bits):
            raise ValueError
        hh, mm = int(bits[0]), int(bits[1])
        ss = int(float(bits[2])) if len(bits) == 3 else 0
        return dt.datetime(day.year, day.month, day.day, hh, mm, ss)
    except ValueError:
        raise BadValue(N_("unrecognised time of day")) from None


_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%X", "%c")


def _formatted(s: str, date_format: str) -> dt.datetime:
    """A value read by a mapping's format: the whole value, else its date part by the format's date
    part and a time after it, else the spreadsheet's ISO form."""
    try:
        return dt.datetime.strptime(s, date_format)
    except ValueError:
        pass
    date_only = date_format
    cut = min((date_format.find(d) for d in _TIME_DIRECTIVES if d in date_format), default=-1)
    if cut >= 0:
        date_only = date_format[:cut].rstrip(" T,")
    date_part, sep, time_part = s.partition(" ")
    if not sep and "T" in s and "%Y-%m-%d" not in date_only:
        date_part, _, time_part = s.partition("T")
    try:
        day = dt.datetime.strptime(date_part, date_only).date() if date_only else None
    except ValueError:
        day = None
    if day is None:
        if len(date_part) == 10 and date_part[4] == "-" and date_part[7] == "-":  # a spreadsheet's date cell
            return parse_datetime(s)
        raise BadValue(N_("date does not match the format {format}"), format=date_format)
    return _at(day, time_part)


# What exports write for "no date": 1C's 01.01.0001 0:00:00, Open Dental's 0001-01-01, zeros, and a
# spreadsheet's zero date (1899-12-30 / 1899-12-31 / 1900-01-00 depending on the program).
_NO_DATE_PREFIXES = ("01.01.0001", "1.1.0001", "0001-01-01", "00.00.0000", "0000-00-00", "00.00.00",
                     "1899-12-30", "1899-12-31", "1900-01-00", "30.12.1899", "31.12.1899")


def is_no_date(text: str) -> bool:
    """True for a value that an export writes where there is no date."""
    return text.lstrip().startswith(_NO_DATE_PREFIXES)


def cell_text(value) -> str:
    """An Excel cell as text: numbers lose their '.0', dates become ISO, text is stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


_MONEY_JUNK = re.compile(r"(?i)(₽|руб\.?|р\.|rub\.?|rur)")


def parse_amount(text: str) -> float | None:
    """'12 345,50', '12345.5', '12 345 ₽', '1.234,50' -> the amount; None when it is not one."""
    t = _MONEY_JUNK.sub("", text)
    t = "".join(ch for ch in t if not ch.isspace() and ch not in "'’")
    if not t:
        return None
    if "," in t and "." in t:  # the last of them is the decimal point
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    elif t.count(",") == 1:
        t = t.replace(",", ".")
    if not re.fullmatch(r"-?\d+(\.\d{1,2})?", t):
        return None
    return float(t)


def source_code(text: str) -> str | None:
    """The vocabulary's source for what a patient said ("Проходила мимо", "По рекомендации Ивановой"),
    or None for words it does not know."""
    from followup.records import SOURCES, SYNONYMS, understood

    code = understood(text, SOURCES, "source")
    if code:
        return code
    folded = " ".join(text.replace("ё", "е").casefold().split())
    for words, found in SYNONYMS["source"].items():  # "по рекомендации Ивановой": the words, then more
        if len(words) >= 4 and folded.startswith(words) and not folded[len(words)].isalnum():
            return found
    return None
