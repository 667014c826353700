"""Entry ids: stable for a day, shown as their shortest unique prefix.

Kept apart from the rules so that `followup today`, served from the stored day plan, needs
neither the rules nor their dataclasses to show the ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

ENTRY_ID_LENGTH = 6
CHANNELS = ("call", "sms", "email", "messenger", "post")  # an entry is one patient's contact on one channel


def entry_id(day: dt.date, patient_id: str, channel: str) -> str:
    """The entry's full id, stable for the day; lists show its shortest unique prefix (6+ characters)."""
    return hashlib.sha1(f"{day}|{patient_id}|{channel}".encode()).hexdigest()


def shortest_prefixes(full_ids: Iterable[str]) -> dict[str, str]:
    """Full id -> the prefix shown: 6 characters, longer only where two of the day's ids share them.

    `followup done` accepts any prefix that names one entry, so an id once shown stays valid.
    """
    ids = sorted(full_ids)
    return {full: prefix_between(ids[i - 1] if i else "", ids[i + 1] if i + 1 < len(ids) else "", full)
            for i, full in enumerate(ids)}


def prefix_between(before: str, after: str, full: str) -> str:
    """The prefix shown for ``full`` between its neighbours in id order ("" for none)."""
    n = ENTRY_ID_LENGTH
    for other in (before, after):
        while n < len(full) and other[:n] == full[:n]:
            n += 1
    return full[:n]
