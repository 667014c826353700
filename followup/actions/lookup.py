"""Finding what a person named: a patient by card number, a doctor by (part of) a name."""

from __future__ import annotations

from typing import Optional

from followup.errors import NotFound, UsageError
from followup.i18n import N_


def known_patient(conn, patient_id: str) -> str:
    """The card number as stored, or NotFound."""
    from followup import db

    patient_id = patient_id.strip()
    if not db.patient_exists(conn, patient_id):
        raise NotFound(N_("no patient with card number {id!r}"), id=patient_id)
    return patient_id


def known_doctor(conn, name: Optional[str]) -> Optional[str]:
    """A doctor as named in the imports (a unique part of the name will do); a name that is not there
    is an error that suggests the closest ones."""
    if not name:
        return None
    import difflib

    from followup import db
    from followup.i18n import tr

    names = db.doctor_names(conn)
    wanted = " ".join(name.split())
    exact = [n for n in names if n.casefold() == wanted.casefold()]
    if exact:
        return exact[0]
    partial = [n for n in names if wanted.casefold() in n.casefold()]
    if len(partial) == 1:
        return partial[0]
    surnames = {n.split()[0]: n for n in names if n.split()}
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5) or partial[:3] or \
        [surnames[m] for m in difflib.get_close_matches(wanted.split()[0], list(surnames), n=3, cutoff=0.6)]
    if close:
        raise UsageError(N_("unknown doctor {name!r}; did you mean {names}?"), name=name,
                         names=tr(" or ").join(repr(c) for c in close))
    raise UsageError(N_("unknown doctor {name!r}"), name=name)
