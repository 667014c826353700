"""Use cases of one patient: the card, search, and the patient's rights (export, forget)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from followup.errors import Busy, Conflict, NotFound, UsageError
from followup.i18n import N_


def patient_card(conn, patient_id: str) -> dict:
    """Everything imported about one patient: details, visits, appointments, plan stages."""
    from followup import db

    patient = db.get_patient(conn, patient_id.strip())
    if patient is None:
        raise NotFound(N_("no patient with card number {id!r}"), id=patient_id)
    return patient


@dataclass(frozen=True)
class Found:
    patients: list[dict]     # at most the limit, by name
    total: int               # how many matched in all


def find_patients(conn, text: str, *, limit: int = 50) -> Found:
    """Patients by a part of the name (any case, ё = е), or by a phone number in any format (then by
    its digits, without the country's 7 or 8, when no number matches exactly); the first ``limit``
    by name, and how many matched in all."""
    from followup import db
    from followup.phones import normalize_phone
    from followup.text import fold

    text = text.strip()
    if not text:
        raise UsageError(N_("give a part of a name or a phone number"))
    if limit < 1:
        raise UsageError(N_("--limit must be at least 1"))
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 5 and len(digits) >= len(text.replace(" ", "")) // 2:
        number, valid = normalize_phone(text)
        found = db.find_patients(conn, phone=number, limit=-1) if valid else []
        if not found:
            tail = digits[1:] if len(digits) == 11 and digits[0] in "78" else digits
            found = db.find_patients(conn, digits=tail, limit=-1)
    else:
        found = db.find_patients(conn, name_fold=fold(text), limit=-1)
    return Found(found[:limit], len(found))


def patient_data(conn, patient_id: str) -> dict:
    """Everything stored about one patient (the right of access)."""
    from followup import db

    data = db.patient_data(conn, patient_id.strip())
    if data is None:
        raise NotFound(N_("no patient with card number {id!r}"), id=patient_id)
    return data


def erased_before(conn, patient_id: str) -> int | None:
    """The erasure of this card number when the patient was erased already (and is not back)."""
    from followup import db

    pid = patient_id.strip()
    return None if db.patient_exists(conn, pid) else db.erasure_of(conn, pid)


def forget_patient(conn, patient_id: str, *, by: str, now: dt.datetime, wait_s: float = 30,
                   on_wait=None) -> dict:
    """Erase a patient's personal data everywhere (the right to erasure); survey scores stay, anonymous.
    Returns the erasure's record: its number, the records erased, the scores kept.

    Done only once the file no longer holds the data: while another program has the database open
    the old pages stay, so this waits for it (``wait_s``; ``on_wait`` says so), then fails with a
    line that says what to do. Run again for a card erased but not yet compacted, it finishes."""
    from followup import db

    pid = patient_id.strip()
    if (erasure := erased_before(conn, pid)) is not None:
        done = {"erasure": erasure, "rows_erased": 0, "surveys_kept": 0, "finished": True}
    else:
        patient_data(conn, pid)
        done = db.forget_patient(conn, pid, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
    if not db.compact(conn, wait_s, on_wait):
        raise Busy(N_("{pid}'s records are erased, but another program has the database open, so the file still "
                      "holds them: close it (another followup, a database browser), then run followup patient "
                      "forget {pid} again to finish"), pid=pid)
    return done


# ---------------------------------------------------------------------------
# What brought the patient ("what brought you", asked at the desk of every new or returning patient)

SOURCE_MAX = 40      # a source's word
DETAIL_MAX = 200     # who recommended, or what the patient said


def source_vocabulary(conn) -> tuple[str, ...]:
    """The sources a desk may record: the vocabulary's, then the clinic's own words."""
    from followup import db
    from followup.records import SOURCES

    return SOURCES + tuple(w for w in db.source_words(conn) if w not in SOURCES)


def _source(conn, value: str) -> str:
    from followup.importing.values import source_code
    from followup.records import understood

    words = source_vocabulary(conn)
    value = " ".join((value or "").split())
    code = understood(value, words, "source") or source_code(value) if value else None
    if code is None:
        raise UsageError(N_("unknown source {value!r} (one of {allowed}; followup source add WORD for the "
                            "clinic's own)"), value=value, allowed=", ".join(words))
    return code


@dataclass(frozen=True)
class SourceRecorded:
    patient_id: str
    source: str
    detail: str | None


def record_source(conn, patient_id: str, value: str, *, detail: str | None = None, by: str,
                  now: dt.datetime) -> SourceRecorded:
    """What brought the patient, as the desk asked: a source of the vocabulary (or the clinic's own), and
    who recommended the clinic. A new record each time (the latest counts); no import overwrites it."""
    from followup import db

    source = _source(conn, value)
    detail = " ".join((detail or "").split()) or None
    if detail and len(detail) > DETAIL_MAX:
        raise UsageError(N_("--detail is at most {n} characters"), n=DETAIL_MAX)
    with db.write_transaction(conn):
        if not db.patient_exists(conn, patient_id.strip()):
            raise NotFound(N_("no patient with card number {id!r}"), id=patient_id)
        db.insert_patient_source(conn, patient_id.strip(), source, detail, by=by,
                                 at=now.isoformat(sep=" ", timespec="seconds"))
    return SourceRecorded(patient_id.strip(), source, detail)


def add_source_word(conn, word: str, *, by: str, now: dt.datetime) -> str:
    """A source of the clinic's own (a local newspaper, a partner's clinic): lower case, as typed."""
    from followup import db

    code = " ".join((word or "").split()).casefold()
    if not code or len(code) > SOURCE_MAX or not any(ch.isalnum() for ch in code):
        raise UsageError(N_("a source is 1-{n} characters, with a letter or a digit"), n=SOURCE_MAX)
    from followup.records import understood

    known = source_vocabulary(conn)
    if code in known or understood(code, known, "source"):  # a word of a known one ("карта": map)
        raise Conflict(N_("source {value!r} is already known"), value=code)
    with db.write_transaction(conn):
        db.insert_source_word(conn, code, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
    return code
