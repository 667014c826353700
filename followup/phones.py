"""Phone numbers as people type them: one number, several in a cell, words, extensions.

Every number is stored in E.164 (``+79161234567``); an extension follows it as ``;ext=123``
(the tel: URI's way), so such a number is dialled and never sent an SMS.
"""

from __future__ import annotations

import re

# What a phone number may be written with besides digits (and a leading +); anything else
# goes to the slow path.
_PHONE_PUNCTUATION = str.maketrans("", "", " ()-.")
# Russian mobile numbers that libphonenumber's metadata always accepts (9xx except 93x,
# whose ranges are partly unassigned); a property test pins this against phonenumbers.
_RU_MOBILE_FAST = re.compile(r"^9[0-24-9]\d{8}$")
_RU_MOBILE_WRITTEN = re.compile(r"(?:\+7|8|7)?[ (]*(9[0-24-9]\d)[ )\-]*(\d{3})[ \-]*(\d{2})[ \-]*(\d{2})\Z")


def normalize_phone(raw, region: str = "RU") -> tuple[str, bool]:
    """Return (number, valid): E.164 when valid, else the text as given.

    ``8 (916) 123-45-67`` becomes ``+79161234567``. An invalid or incomplete
    number is kept as given and flagged so that it is never dialled.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    number, valid, _ = _one_number(text, region)
    return number, valid


_SHORT = object()


def _fast(text: str, region: str):
    """A Russian mobile number in E.164 without libphonenumber; _SHORT for digits too few for any
    Russian number; None when libphonenumber must judge."""
    if region != "RU":
        return None
    m = _RU_MOBILE_WRITTEN.match(text)
    if m:  # the usual ways of writing a Russian mobile number, read by one regular expression
        return "+7" + "".join(m.groups())
    plus = text.startswith("+")
    digits = (text[1:] if plus else text).translate(_PHONE_PUNCTUATION)
    if not (digits.isdigit() and digits.isascii()):
        return None
    n = len(digits)
    national = None
    if n == 11 and (digits[0] == "7" or (digits[0] == "8" and not plus)):
        national = digits[1:]
    elif n == 10 and not plus:
        national = digits
    if national is not None:
        if _RU_MOBILE_FAST.match(national):
            return "+7" + national
        if national[0] in "348":  # Russian landlines and 8-800 numbers, by libphonenumber's own patterns
            kind = _ru_kind(national)
            if kind is not None:
                return kind if kind is _INVALID else ("+7" + national, kind)
    if n < 10 and not plus:
        return _SHORT
    return None


_INVALID = object()
_RU_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
             "fixed_line", "mobile")
_ru_patterns: list | None = None


def _ru_kind(national: str):
    """For a ten-digit Russian national number outside the mobile fast path: False (a valid number
    that takes no SMS), True (one that does), _INVALID, or None (libphonenumber must judge). The
    patterns are libphonenumber's metadata for Russia, tried in the order its number_type tries them."""
    global _ru_patterns
    if _ru_patterns is None:
        from phonenumbers import PhoneMetadata

        meta = PhoneMetadata.metadata_for_region("RU")
        _ru_patterns = [re.compile(meta.general_desc.national_number_pattern)] + [
            (name, re.compile(getattr(meta, name).national_number_pattern)) for name in _RU_TYPES
            if getattr(meta, name) is not None and getattr(meta, name).national_number_pattern]
    general, *types = _ru_patterns
    if not general.fullmatch(national):
        return _INVALID
    for name, pattern in types:
        if pattern.fullmatch(national):
            return name == "mobile"
    return _INVALID


def _one_number(text: str, region: str) -> tuple[str, bool, bool]:
    """(E.164, True, can receive SMS) for text that is one valid number, else (text, False, False)."""
    fast = _fast(text, region)
    if fast is _SHORT or fast is _INVALID:
        return text, False, False
    if fast is not None:
        return (fast, True, True) if fast.__class__ is str else (fast[0], True, fast[1])
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text, False, False
    if not phonenumbers.is_valid_number(number):
        return text, False, False
    return (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True,
            phonenumbers.number_type(number) in _SMS_TYPES())


# What a phone cell says when there is no number: no number, not a wrong one (compared folded).
NO_NUMBER = frozenset({"", "-", "--", "---", "—", "–", "0", "нет", "не указан", "не указано", "не указана",
                       "отсутствует", "нет телефона", "нет номера", "n/a", "na", "none", "null", "no", "нету",
                       "не известен", "неизвестен", "неизвестно", "?"})
_FLOAT_NUMBER = re.compile(r"^\+?\d{7,15}\.0+$")   # 79161234567.0, as a spreadsheet writes a number
_EXTENSION = re.compile(r"(?:доб|ext|extension|вн|добавочный)\.?\s*:?\s*(\d{1,7})", re.IGNORECASE)


class PhoneCell(tuple):
    """What a phone cell holds: the numbers found in it, in order, each as
    (number, valid, can receive SMS); a number is E.164 (with ``;ext=`` for an extension) when
    valid, else the text as given."""

    __slots__ = ()


NO_PHONE = PhoneCell()


def read_phone_cell(raw, region: str = "RU") -> PhoneCell:
    """Read a phone cell as people type it: one number or several, with words and extensions.

    Gives every number found, in order (the caller picks the one to use: the first that can receive
    SMS, else the first valid one). A number with an extension, a landline or a toll-free number is
    dialled, never sent an SMS. Words that mean "no number" (``не указан``, ``-``, ``0``) are no
    number, not an invalid one; a number written as a float (``79161234567.0``) is the number. Text
    that holds no valid number is kept as given and flagged invalid (never dialled).
    """
    if raw.__class__ is not str:
        raw = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
        raw = str(raw)
    text = raw.strip()
    fast = _fast(text, region)
    if fast.__class__ is str:
        return PhoneCell(((fast, True, True),))  # the usual cell: one Russian mobile number
    if fold_words(text) in NO_NUMBER:
        return NO_PHONE
    if _FLOAT_NUMBER.match(text):
        text = text.split(".", 1)[0]
    if text.translate(_PHONE_PUNCTUATION).lstrip("+").isdigit():  # one number, digits and punctuation only
        return PhoneCell((_one_number(text, region),))
    found = _matched(text, region)
    if not found:
        return PhoneCell(((text, False, False),))
    return PhoneCell(found)


def fold_words(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").strip(" .,;:()").split())


def _matched(text: str, region: str) -> list[tuple[str, bool, bool]]:
    """(E.164 with any extension, True, can receive SMS) for each valid number in the text, in order."""
    import phonenumbers

    out = []
    try:
        matches = list(phonenumbers.PhoneNumberMatcher(text, region))
    except Exception:  # the matcher on odd text: treat as no number found  # noqa: BLE001
        return out
    for m in matches:
        n = m.number
        if not phonenumbers.is_valid_number(n):
            continue
        ext = n.extension or None
        if ext is None:  # "(доб. 123)" right after the number, which the matcher leaves out
            tail = _EXTENSION.match(text[m.end:].lstrip(" ,;(").strip())
            ext = tail.group(1) if tail else None
        e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        sms = ext is None and phonenumbers.number_type(n) in _SMS_TYPES()
        out.append((e164 + (f";ext={ext}" if ext else ""), True, sms))
    return out


def _SMS_TYPES():
    from phonenumbers import PhoneNumberType as T

    return (T.MOBILE, T.FIXED_LINE_OR_MOBILE)


def can_receive_sms(e164: str | None) -> bool:
    """Whether a stored (E.164) number can receive SMS: a mobile number, without an extension."""
    if not e164 or ";" in e164:
        return False
    return _one_number(e164, "RU")[2]


def shown_phone(number: str | None, ext_word: str = "ext.") -> str:
    """A stored number for people: its extension after a word (``+74951234567 ext. 123``)."""
    if not number:
        return ""
    main, sep, ext = number.partition(";ext=")
    return f"{main} {ext_word} {ext}" if sep else main
