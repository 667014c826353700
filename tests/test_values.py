"""Reading single values: dates never swap day and month; phones become E.164."""

import datetime as dt

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followup.importing.values import BadValue, parse_date, parse_datetime
from followup.phones import normalize_phone
from followup.text import fold


@pytest.mark.parametrize("text, expected", [
    ("01.02.2024", dt.date(2024, 2, 1)),
    ("1.2.2024", dt.date(2024, 2, 1)),
    ("29.02.2024", dt.date(2024, 2, 29)),
    ("2024-02-01", dt.date(2024, 2, 1)),
    ("01.02.24", dt.date(2024, 2, 1)),
    ("01.02.75", dt.date(1975, 2, 1)),
    ("01.02.2024 14:30", dt.date(2024, 2, 1)),
    ("2024-02-01T14:30:00", dt.date(2024, 2, 1)),
    (" 01.02.2024 ", dt.date(2024, 2, 1)),
    (dt.datetime(2024, 2, 1, 9, 0), dt.date(2024, 2, 1)),
])
def test_dates_in_the_usual_forms(text, expected):
    assert parse_date(text, pivot_year=2027) == expected


@pytest.mark.parametrize("text, reason", [
    ("31.02.2024", "impossible date"),
    ("29.02.2023", "impossible date"),
    ("13.13.2024", "impossible date"),
    ("2024-13-01", "impossible date"),
    ("2024-00-10", "impossible date"),
    ("3１.01.2024", "unrecognised date"),
    ("02/01/2024", "unrecognised date"),
    ("вчера", "unrecognised date"),
    ("01.02.2024 25:00", "unrecognised time of day"),
])
def test_bad_dates_are_errors_never_swapped(text, reason):
    with pytest.raises(BadValue, match=reason):
        parse_date(text)


def test_datetime_keeps_the_time():
    assert parse_datetime("03.12.2026 18:30") == dt.datetime(2026, 12, 3, 18, 30)


def test_explicit_date_format():
    assert parse_date("2024/02/01", date_format="%Y/%m/%d") == dt.date(2024, 2, 1)
    with pytest.raises(BadValue):
        parse_date("01.02.2024", date_format="%Y/%m/%d")


@pytest.mark.parametrize("raw, expected, valid", [
    ("8 (916) 123-45-67", "+79161234567", True),
    ("+7 916 123 45 67", "+79161234567", True),
    ("89161234567", "+79161234567", True),
    ("9161234567", "+79161234567", True),
    ("8 (495) 123-45-67", "+74951234567", True),
    (79161234567.0, "+79161234567", True),
    ("+44 20 7946 0958", "+442079460958", True),
    ("12-34", "12-34", False),
    ("8 (916) 123-45", "8 (916) 123-45", False),
    ("звонить жене", "звонить жене", False),
])
def test_phones(raw, expected, valid):
    assert normalize_phone(raw) == (expected, valid)


def reference(raw: str) -> tuple[str, bool]:
    """What libphonenumber itself says."""
    try:
        number = phonenumbers.parse(raw.strip(), "RU")
    except phonenumbers.NumberParseException:
        return raw.strip(), False
    if not phonenumbers.is_valid_number(number):
        return raw.strip(), False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 ()-+.\t", min_size=1, max_size=18))
def test_phone_fast_path_agrees_with_phonenumbers(raw):
    """The fast path for Russian mobiles must give exactly what libphonenumber gives."""
    assert normalize_phone(raw) == reference(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["8", "+7", "7", "", "+8", "8 ("]), st.integers(0, 9_999_999_999))
def test_phone_fast_path_on_ten_digit_numbers(prefix, national):
    raw = f"{prefix}{national:010d}"
    assert normalize_phone(raw) == reference(raw)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["8", "+7", "7", "", "8 ("]), st.sampled_from("3489"), st.integers(0, 999_999_999))
def test_landline_fast_path_agrees_with_phonenumbers(prefix, first, rest):
    """Russian landlines and 8-800 numbers are judged from libphonenumber's own patterns without
    parsing: the same number, validity and SMS capability as libphonenumber gives."""
    from followup.phones import read_phone_cell

    raw = f"{prefix}{first}{rest:09d}"
    number, valid = reference(raw)
    sms = valid and phonenumbers.number_type(phonenumbers.parse(raw, "RU")) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    assert tuple(read_phone_cell(raw)) == ((number, valid, sms),)


def test_fold_is_case_and_yo_insensitive_for_cyrillic():
    assert fold("ФЁДОРОВ  Пётр") == fold("федоров петр") == "федоров петр"
