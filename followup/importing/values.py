"""Parsing single values from exports: dates, phones, names, enumerations.

Every parser returns the normalised value or raises ``BadValue`` with a short
reason that never repeats the value itself (it may be personal data).
Fast paths come first: an export of 500,000 visits is parsed value by value.
"""

from __future__ import annotations

import datetime as dt
import re

from followup.i18n import Msg, N_, tr

# What a phone number may be written with besides digits (and a leading +); anything else
# goes to the slow path.
_PHONE_PUNCTUATION = str.maketrans("", "", " ()-.")
# Russian mobile numbers that libphonenumber's metadata always accepts (9xx except 93x,
# whose ranges are partly unassigned); a property test pins this against phonenumbers.
_RU_MOBILE_FAST = re.compile(r"^9[0-24-9]\d{8}$")


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
    """Like ``parse_date`` but keeps the time of day (midnight when there is none)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    s = str(value).strip()
    if not s.isascii():
        raise BadValue(N_("unrecognised date"))
    if date_format:
        try:
            return dt.datetime.strptime(s, date_format)
        except ValueError:
            raise BadValue(N_("date does not match the format {format}"), format=date_format) from None
    date_part, _, time_part = s.replace("T", " ", 1).partition(" ")
    try:
        if len(date_part) == 10 and date_part[2] == "." and date_part[5] == ".":
            day = _ymd(int(date_part[6:]), int(date_part[3:5]), int(date_part[:2]))
        elif len(date_part) == 10 and date_part[4] == "-" and date_part[7] == "-":
            day = _ymd(int(date_part[:4]), int(date_part[5:7]), int(date_part[8:]))
        else:
            parts = date_part.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) > 2 or len(parts[1]) > 2:
                raise BadValue(tr("unrecognised date") if s else tr("empty date"))
            day = _ymd(_year(parts[2], pivot_year), int(parts[1]), int(parts[0]))
    except ValueError as exc:
        if isinstance(exc, BadValue):
            raise
        raise BadValue(N_("unrecognised date")) from None
    if not time_part:
        return dt.datetime(day.year, day.month, day.day)
    bits = time_part.strip().split(":")
    try:
        if not 2 <= len(bits) <= 3:
            raise ValueError
        hh, mm = int(bits[0]), int(bits[1])
        ss = int(float(bits[2])) if len(bits) == 3 else 0
        return dt.datetime(day.year, day.month, day.day, hh, mm, ss)
    except ValueError:
        raise BadValue(N_("unrecognised time of day")) from None


def normalize_phone(raw, region: str = "RU") -> tuple[str, bool]:
    """Return (number, valid): E.164 when valid, else the text as given.

    ``8 (916) 123-45-67`` becomes ``+79161234567``. An invalid or incomplete
    number is kept as given and flagged so that it is never dialled.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if region == "RU":
        plus = text.startswith("+")
        digits = (text[1:] if plus else text).translate(_PHONE_PUNCTUATION)
        if digits.isdigit() and digits.isascii():
            n = len(digits)
            national = None
            if n == 11 and (digits[0] == "7" or (digits[0] == "8" and not plus)):
                national = digits[1:]
            elif n == 10 and not plus:
                national = digits
            if national is not None and _RU_MOBILE_FAST.match(national):
                return "+7" + national, True
            if n < 10 and not plus:
                return text, False  # too short for any Russian number
    return _normalize_phone_slow(text, region)


def _normalize_phone_slow(text: str, region: str) -> tuple[str, bool]:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text, False
    if not phonenumbers.is_valid_number(number):
        return text, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


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
