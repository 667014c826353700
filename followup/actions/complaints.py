"""Use cases of complaints: record, resolve, tell the patient what was done, list."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from followup.actions.lookup import known_doctor, known_patient
from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import N_
from followup.actions.day import policy_of


STATES = (N_("open"), N_("resolved"), N_("informed"))  # a complaint's states, shown as words


def _at(now: dt.datetime) -> str:
    return now.isoformat(sep=" ", timespec="seconds")


def _complaint(conn, complaint_id: int) -> dict:
    from followup import db

    found = db.get_complaint(conn, complaint_id)
    if found is None:
        raise NotFound(N_("no complaint #{id}"), id=complaint_id)
    return found


def open_complaint(conn, patient: str, text: str, *, doctor: Optional[str] = None, by: str,
                   now: dt.datetime) -> tuple[int, str]:
    """A new complaint: (its number, the card number). It shows on the call list until resolved."""
    from followup import db

    if not text.strip():
        raise UsageError(N_("--text must say what the complaint is"))
    pid = known_patient(conn, patient)
    cid = db.add_complaint(conn, {"patient_id": pid, "doctor": known_doctor(conn, doctor), "text": text.strip(),
                                  "opened_by": by, "opened_at": _at(now)})
    return cid, pid


def resolve_complaint(conn, complaint_id: int, action: str, *, by: str, now: dt.datetime) -> None:
    from followup import db

    if not action.strip():
        raise UsageError(N_("--action must say what was done"))
    _complaint(conn, complaint_id)
    if not db.update_complaint(conn, complaint_id, expect="open", changes={
            "action": action.strip(), "resolved_by": by, "resolved_at": _at(now)}):
        raise Conflict(N_("complaint #{id} is already resolved"), id=complaint_id)


def complaint_informed(conn, complaint_id: int, *, by: str, now: dt.datetime) -> None:
    from followup import db

    c = _complaint(conn, complaint_id)
    if not c["resolved_at"]:
        raise Conflict(N_("complaint #{id} is not resolved yet: resolve it first"), id=complaint_id)
    if not db.update_complaint(conn, complaint_id, expect="resolved",
                               changes={"informed_by": by, "informed_at": _at(now)}):
        raise Conflict(N_("complaint #{id}: the patient was already informed"), id=complaint_id)


def as_record(c: dict):
    """A stored complaint as the rules read it (with its resolution, if any)."""
    from followup.records import Complaint

    return Complaint(id=c["id"], patient_id=c["patient_id"], doctor=c["doctor"],
                     opened=dt.date.fromisoformat(c["opened_at"][:10]),
                     resolved=dt.date.fromisoformat(c["resolved_at"][:10]) if c["resolved_at"] else None)


def list_complaints(conn, *, open_only: bool = False, day: dt.date) -> list[dict]:
    """Complaints, oldest first, each with its state (open, resolved, informed) and whether it is
    overdue on ``day``."""
    from followup import db, rules

    policy = policy_of(conn, db.get_settings(conn))
    rows = []
    for c in db.list_complaints(conn, open_only=open_only):
        state = "informed" if c["informed_at"] else "resolved" if c["resolved_at"] else "open"
        rows.append(dict(c, state=state, overdue=rules.complaint_overdue(as_record(c), day, policy)))
    return rows
