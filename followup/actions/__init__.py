"""Use cases: one function per thing a person does, shared by every face (the commands, and the
coming web pages and sender).

Each takes the connection, its inputs and ``today`` / ``now`` / ``by`` explicitly, and returns a
result value or raises a typed error from ``followup.errors`` carrying a message id and its
parameters. A use case never prints, never reads the clock, and imports neither Typer nor Rich:
the face parses, calls, and renders in the reader's language.

    day         the day's list: plan it, read it as stored, find an entry in it
    contacts    consents, next contacts, outcomes, why, the manager's flagged list, the contact log
    surveys     the post-treatment survey, themes of comments
    complaints  open, resolve, inform, list
    reporting   a doctor's survey report, the clinic report
    config      the clinic's settings
    patients    a patient's card, search, and data rights (export, forget)
    clinic      the demo clinic, an import run
"""
